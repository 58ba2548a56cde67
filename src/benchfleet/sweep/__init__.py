"""Sweeps: a sweep file expanded into cells, run across a fleet, aggregated into one tree."""
