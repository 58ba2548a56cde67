"""MLPerf submission trees: system descriptions, the tree writer and our own checker."""
