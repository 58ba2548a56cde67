"""Datasets: ImageNet 2012 validation layout, real or generated."""
