"""Tokenizers the language benchmarks use (our implementations of the published algorithms)."""
