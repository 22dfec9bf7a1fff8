"""Fixtures of the Chromium extension tests: a real snipd
(tests/e2e/e2e_lib.py) per test, stopped with SIGTERM at teardown."""

import pytest

from e2e_lib import Snipd, scratch_dir


@pytest.fixture
def snipd():
    s = Snipd(scratch_dir("snipd-")).start()
    yield s
    if s.running:
        s.stop()


@pytest.fixture
def admin(snipd):
    return snipd.admin()
