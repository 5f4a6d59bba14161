"""Benchmarks, run by hand: `python -m bench` (full) or `python -m bench --quick` (CI)."""
