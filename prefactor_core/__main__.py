"""Entry point of `python -m prefactor_core`, the same as `prefactor-core`."""

from prefactor_core.cli import main

if __name__ == "__main__":
    main()
