"""Fixtures of the end-to-end tests: real snipd processes on 127.0.0.1:0,
each with a fresh data directory, always stopped with SIGTERM at teardown
(which fails the test unless snipd exits 0: under ASan a leak or an error
makes it exit non-zero)."""

import os
import shutil
import subprocess

import pytest

from e2e_lib import OPENSSL, Snipd, scratch_dir


def _discard(path):
    # Bazel wipes $TEST_TMPDIR itself; by hand, E2E_KEEP_TMP=1 keeps the
    # data directories for a look after the run.
    if not os.environ.get("TEST_TMPDIR") and not os.environ.get("E2E_KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def snipd_factory():
    """make(args=(), demo=True, grace_ms=..., start=True, sample=False)
    -> Snipd (sample: load the bundled sample into the demo team).

    Every server made is stopped and checked at teardown, in reverse
    order; one that is already stopped is left alone."""
    made = []

    def make(args=(), demo=True, grace_ms=None, start=True, sample=False):
        kw = {} if grace_ms is None else {"grace_ms": grace_ms}
        s = Snipd(scratch_dir("snipd-"), args=args, demo=demo, sample=sample,
                  **kw)
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    errors = []
    for s in reversed(made):
        if not s.running:
            continue
        try:
            s.stop()
        except BaseException as e:  # pytest.fail raises a BaseException
            errors.append(str(e))
            s.kill()
    for s in made:
        _discard(s.workdir)
    if errors:
        pytest.fail("\n\n".join(errors))


@pytest.fixture
def snipd(snipd_factory):
    """A running snipd with the demo team, fresh for each test."""
    return snipd_factory()


@pytest.fixture
def admin(snipd):
    """A client holding the server admin key."""
    return snipd.admin()


@pytest.fixture(scope="session")
def tls_files():
    """A self-signed certificate and key for 127.0.0.1 and localhost."""
    d = scratch_dir("tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run([
        OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
        "/CN=localhost", "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1", "-keyout",
        key, "-out", cert
    ],
                       stdin=subprocess.DEVNULL,
                       capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    yield cert, key
    _discard(d)
