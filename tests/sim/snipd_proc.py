"""Starting and stopping a real snipd for one simulator arm (127.0.0.1:0,
its own data directory, --demo 0), and finding the generated Python stubs.
Mirrors tests/e2e/e2e_lib.py without depending on pytest."""

import os
import re
import subprocess
import sys
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0

_SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)")


class SnipdError(RuntimeError):
    pass


def _stubs_importable():
    try:
        import snipwise.v1.ingest_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def import_stubs(stubs_dir=None):
    """Makes `snipwise.v1` importable: stubs_dir, $PYTHONPATH (as set by
    Bazel), or the checkout's bazel-bin/proto. Returns True on success."""
    for d in (stubs_dir, os.path.join(_REPO, "bazel-bin", "proto")):
        if _stubs_importable():
            return True
        if d and os.path.isdir(d) and d not in sys.path:
            sys.path.insert(0, d)
            for m in [m for m in sys.modules if m.startswith("snipwise")]:
                del sys.modules[m]
    return _stubs_importable()


def find_snipd(explicit=None):
    for p in (explicit, os.environ.get("SNIPD"),
              os.path.join(_REPO, "bazel-bin", "service", "snipd")):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Snipd:
    """One snipd process serving a fresh data directory under workdir."""

    def __init__(self, binary, workdir, env=None):
        self.binary = binary
        # Extra environment for snipd (its SNIPD_* options), over ours.
        self.env = dict(env or {})
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.proc = None
        self.port = None
        self.lines = []
        self._cv = threading.Condition()
        self._eof = False

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self._cv:
                self.lines.append(raw.decode("utf-8", "replace"))
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def _wait(self, pattern, timeout=START_TIMEOUT):
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                for ln in self.lines[seen:]:
                    m = rx.search(ln)
                    if m:
                        return m
                seen = len(self.lines)
                left = end - time.monotonic()
                if self._eof or left <= 0:
                    raise SnipdError("snipd %s before logging /%s/:\n%s" % (
                        "exited" if self._eof else "timed out", pattern,
                        "".join(self.lines[-40:])))
                self._cv.wait(left)

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
               self.data_dir, "--demo", "0", "--grace-ms", "5000"]
        out = open(os.path.join(self.workdir, "stdout"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.PIPE,
                                     env=dict(os.environ, **self.env),
                                     cwd=self.workdir)
        out.close()
        t = threading.Thread(target=self._read, args=(self.proc.stderr,),
                             daemon=True)
        t.start()
        self._reader = t
        m = self._wait(r"event=server\.listening addr=127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))
        self._wait(r"event=snipd\.admin_key_created")
        return self

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def admin_key(self):
        with open(os.path.join(self.data_dir, "admin.key"),
                  encoding="ascii") as f:
            return f.read().strip()

    def stop(self):
        """SIGTERM; returns (exit code, sanitizer report found, stderr
        tail). Kills after STOP_TIMEOUT."""
        if self.proc is None:
            return 0, False, ""
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        self._reader.join(timeout=STOP_TIMEOUT)
        self.proc.stderr.close()
        self.proc = None
        text = "".join(self.lines)
        return code, bool(_SANITIZER_RE.search(text)), "".join(
            self.lines[-30:])
