"""A queue module whose driver is not installed, for the queue URL tests."""

import prefactor_core_no_such_driver  # noqa: F401
