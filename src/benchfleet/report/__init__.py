"""The HTML report of runs and trees: one self-contained page with plots (``benchfleet report``)."""
