"""Review: living with findings.  A patch series or a commit range judged patch by
patch as it arrives (mail, mbox, maildir, format-patch files, git ranges), inline
suppressions and baselines, and the tree's .kscan.toml (which rules, which
severities, when to fail)."""
