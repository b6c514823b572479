"""Facts: the compact, picklable records rules read, extracted from each parsed file in
worker processes, and the per-file cache that keeps them."""
