"""Call graph: callers and callees over the facts of every parsed file, and the
hotspots ranked on it."""
