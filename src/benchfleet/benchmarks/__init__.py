"""Benchmarks: one folder per task (``imagenet``, ``squad``, ``cnndm``), each with the same parts (see
``base.py`` and docs/adding-a-benchmark.md); ``registry`` lists the models and finds a benchmark's task."""
