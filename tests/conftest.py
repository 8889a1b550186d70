"""Shared fixtures for the test suite."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def caplog_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="prefactor_core")
    return caplog
