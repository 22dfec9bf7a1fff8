"""Which snipd commands may create a store: `serve` creates the data
directory (its last component only) and says so in its first log line;
every other command refuses a path that is not an existing Snipwise store
with exit 2, a message naming the path, and nothing created."""

import os
import subprocess

import pytest

from e2e_lib import START_TIMEOUT, scratch_dir, snipd_path

CLI_TIMEOUT = 60

# Every command but serve, with the arguments it needs besides --data-dir.
OTHER_COMMANDS = [
    ("check", []),
    ("rerank", []),
    ("reextract", []),
    ("backup", ["--to", "backup.mdb"]),
]


def run(args, cwd, timeout=CLI_TIMEOUT):
    return subprocess.run([snipd_path()] + args, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


def explain(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout,
                                                   r.stderr)


def tree(root):
    """Every path under root, relative to it."""
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


@pytest.mark.parametrize("cmd,extra", OTHER_COMMANDS,
                         ids=[c for c, _ in OTHER_COMMANDS])
def test_mistyped_dir_is_refused_and_nothing_created(cmd, extra):
    cwd = scratch_dir("typo-")
    r = run([cmd, "--data-dir", "./typo"] + extra, cwd)
    assert r.returncode == 2, explain(r)
    assert "./typo is not a Snipwise store" in r.stderr, explain(r)
    assert tree(cwd) == [], explain(r)


@pytest.mark.parametrize("cmd,extra", OTHER_COMMANDS,
                         ids=[c for c, _ in OTHER_COMMANDS])
def test_empty_or_foreign_dir_is_refused_and_left_alone(cmd, extra):
    cwd = scratch_dir("empty-")
    os.mkdir(os.path.join(cwd, "empty"))
    r = run([cmd, "--data-dir", "empty"] + extra, cwd)
    assert r.returncode == 2, explain(r)
    assert "empty is not a Snipwise store" in r.stderr, explain(r)
    assert tree(cwd) == ["empty"], explain(r)
    # A directory with other files (say, a home directory) but no store.
    other = os.path.join(cwd, "other")
    os.mkdir(other)
    with open(os.path.join(other, "notes.txt"), "w") as f:
        f.write("not a store\n")
    r = run([cmd, "--data-dir", other] + extra, cwd)
    assert r.returncode == 2, explain(r)
    assert other in r.stderr, explain(r)
    assert tree(other) == ["notes.txt"], explain(r)


def test_serve_refuses_a_missing_parent_and_creates_nothing():
    w = scratch_dir("parent-")
    data = os.path.join(w, "missing-parent", "data")
    r = run(["serve", "--listen", "127.0.0.1:0", "--data-dir", data], w,
            timeout=START_TIMEOUT)
    assert r.returncode == 2, explain(r)
    assert data in r.stderr and "parent directory does not exist" in r.stderr, \
        explain(r)
    assert tree(w) == [], explain(r)


def test_serve_creates_the_dir_and_says_so_first(snipd):
    # The fixture's data dir did not exist: serve made it, mode 0700, and
    # its first log line says so; a restart does not say it again.
    assert (os.stat(snipd.data_dir).st_mode & 0o777) == 0o700
    first = snipd.lines[0]
    assert "event=store.created" in first, snipd.stderr
    assert 'dir="%s"' % snipd.data_dir in first, snipd.stderr
    snipd.restart()
    assert "event=store.created" not in snipd.stderr
    # The store that serve made is accepted by the other commands.
    snipd.stop()
    r = run(["check", "--data-dir", snipd.data_dir], snipd.workdir)
    assert r.returncode == 0, explain(r)
