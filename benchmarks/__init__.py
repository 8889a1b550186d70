"""Benchmarks of prefactor-core against the programs users would pick instead.

Run `python -m benchmarks` from the repository root; see benchmarks/README.md.
"""
