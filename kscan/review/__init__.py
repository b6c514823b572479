"""Review: a patch series or a commit range judged patch by patch, as it arrives."""
