"""Discover: the files below the paths, the tree they belong to (version, MAX_ORDER
meaning) and, from bytes alone, which of them any rule can use."""
