"""Models: the official registry, checked downloads and generated stand-ins."""
