"""Run the command line with the `listqueue://` scheme of the tests registered.

Usage: python -m tests.cli_with_list_queue worker --queue listqueue:///DIR ...
"""

from prefactor_core.cli import main
from prefactor_core.cli.queue_url import register_queue_scheme

register_queue_scheme("listqueue", "tests.cli_fake_queue:ListQueue")

if __name__ == "__main__":
    main()
