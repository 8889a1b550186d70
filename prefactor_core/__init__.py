"""prefactor-core: move work between threads, coroutines and processes.

The queues and the executor live in `prefactor_core.queue`; the command line
in `prefactor_core.cli`.
"""

__version__ = "0.6.0"
