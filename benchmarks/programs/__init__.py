"""Timed programs, each run in a fresh child process by `benchmarks.harness`.

These modules import only the standard library, the library under test and
the peer packages, because the same file also runs in the virtual environment
of prefactor-core 0.5.3, where the `benchmarks` package is not importable.
`run.py` loads a module from this folder by its top-level name, calls one of
its functions and prints the figures that the function returns as JSON.
"""
