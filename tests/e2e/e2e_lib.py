"""Shared helpers of the end-to-end tests: where the binaries and the Python
stubs are, a real snipd process (start, wait until it serves, stop with
SIGTERM and check that it exited 0), and thin RPC wrappers with bounded
deadlines.

Under Bazel (tests/e2e/BUILD) the environment says where everything is:
SNIPD, SNIPCTL and PYTHONPATH (the stubs). Run by hand from the repository
root after `bazel build //service:snipd //clients/snipctl:snipctl
//proto:python_stubs`, the bazel-bin/ paths are used instead:

    /usr/bin/python3 -B -m pytest -q -p no:cacheprovider tests/e2e
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))

try:
    import snipwise.v1  # noqa: F401  (found through PYTHONPATH)
except ImportError:
    sys.path.insert(0, os.path.join(_REPO, "bazel-bin", "proto"))

import grpc  # noqa: E402
import pytest  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from snipwise.v1 import admin_pb2, admin_pb2_grpc  # noqa: E402
from snipwise.v1 import team_pb2, team_pb2_grpc  # noqa: E402

# Every RPC in these tests has a deadline; none may wait forever.
RPC_TIMEOUT = 15.0
# snipd under ASan starts and stops more slowly; these bounds fit both.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# How long snipd gets to drain on SIGTERM unless a test says otherwise.
DEFAULT_GRACE_MS = 5000

OPENSSL = "/usr/bin/openssl"

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

SNIPWISE_SERVICES = [
    "snipwise.v1.AdminService",
    "snipwise.v1.TeamService",
    "snipwise.v1.IngestService",
    "snipwise.v1.OutcomeService",
    "snipwise.v1.SuggestService",
    "snipwise.v1.SnippetService",
    "snipwise.v1.RankingService",
    "snipwise.v1.LlmService",
]

# Lines that mean a sanitizer found something, even if the exit code hid it.
_SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)"
)


def _runfile(*parts):
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        p = os.path.join(srcdir, "snipwise", *parts)
        if os.path.exists(p):
            return p
    return None


def binary(env_name, *parts):
    """Path of a built binary: $env_name, else runfiles, else bazel-bin."""
    p = os.environ.get(env_name) or _runfile(*parts)
    if not p:
        p = os.path.join(_REPO, "bazel-bin", *parts)
    if not os.access(p, os.X_OK):
        pytest.fail("%s not found or not executable: %s (build it first)" %
                    (env_name, p))
    return p


def snipd_path():
    return binary("SNIPD", "service", "snipd")


def snipctl_path():
    return binary("SNIPCTL", "clients", "snipctl", "snipctl")


def scratch_dir(prefix):
    """A fresh directory under $TEST_TMPDIR (Bazel) or the system temp."""
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TEST_TMPDIR"))


def auth_md(key):
    return (("authorization", "Bearer " + key),) if key is not None else None


class _Bound:
    """A stub whose methods carry the client's metadata and deadline."""

    def __init__(self, stub, client):
        self._stub = stub
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(request, timeout=None, metadata=None):
            return method(
                request,
                metadata=metadata if metadata is not None else self._client.md,
                timeout=timeout if timeout is not None else RPC_TIMEOUT)

        return call


class Client:
    """The three stubs the tests use, bound to one key (or none)."""

    def __init__(self, channel, key=None):
        self.channel = channel
        self.key = key
        self.md = auth_md(key)
        self.admin = _Bound(admin_pb2_grpc.AdminServiceStub(channel), self)
        self.team = _Bound(team_pb2_grpc.TeamServiceStub(channel), self)
        self.health = _Bound(health_pb2_grpc.HealthStub(channel), self)

    def raw(self, path, payload, timeout=RPC_TIMEOUT, metadata=None):
        """Sends raw bytes to a method path and returns the raw reply."""
        fn = self.channel.unary_unary(path, request_serializer=None,
                                      response_deserializer=None)
        return fn(payload, metadata=metadata if metadata is not None else
                  self.md, timeout=timeout)


def error_details(err):
    """The google.rpc.Status of an RpcError (grpc-status-details-bin),
    checked: its code and message are the call's, and it holds exactly one
    ErrorInfo of domain snipwise.v1 with an UPPER_SNAKE reason. Returns
    (ErrorInfo, BadRequest or None)."""
    from google_rpc import error_details_pb2, status_pb2
    raw = [v for k, v in (err.trailing_metadata() or ())
           if k == "grpc-status-details-bin"]
    assert len(raw) == 1, "no grpc-status-details-bin on %s: %s" % (
        err.code(), err.details())
    st = status_pb2.Status.FromString(raw[0])
    assert st.code == err.code().value[0], (st.code, err.code())
    assert st.message == err.details(), (st.message, err.details())
    infos, bad = [], None
    for d in st.details:
        if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            d.Unpack(info)
            infos.append(info)
        elif d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            assert bad is None, "two BadRequest details"
            bad = error_details_pb2.BadRequest()
            d.Unpack(bad)
    assert len(infos) == 1, "expected one ErrorInfo, got %d" % len(infos)
    info = infos[0]
    assert info.domain == "snipwise.v1", info.domain
    assert info.reason and all(ch.isupper() or ch == "_"
                               for ch in info.reason), info.reason
    if bad is not None:
        fields = [v.field for v in bad.field_violations]
        assert len(fields) == len(set(fields)), "a field named twice"
    return info, bad


def expect_error(code, fn, *args, details=True, **kwargs):
    """Calls fn, which must fail with status code; returns the RpcError.
    Every error the server sends must explain itself: a message, and
    (details, unless gRPC core itself answered) its google.rpc.Status."""
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.code() == code, "expected %s, got %s: %s" % (
        code, err.code(), err.details())
    assert err.details(), "status %s has no message" % code
    if details:
        error_details(err)
    return err


def expect_reason(code, reason, fn, *args, **kwargs):
    """expect_error that also checks the ErrorInfo reason; returns
    (RpcError, ErrorInfo, BadRequest or None)."""
    err = expect_error(code, fn, *args, **kwargs)
    info, bad = error_details(err)
    assert info.reason == reason, "expected reason %s, got %s (%s)" % (
        reason, info.reason, err.details())
    return err, info, bad


def create_team(admin, name):
    """Creates a team with the admin client; returns (team_id, api_key)."""
    r = admin.admin.CreateTeam(admin_pb2.CreateTeamRequest(display_name=name))
    assert r.team.team_id and r.api_key
    assert r.team.display_name == name
    return r.team.team_id, r.api_key


def list_all(fn, make_request, field, page_size, max_pages=1000):
    """Follows next_page_token from the first page to the last and returns
    every item (and the number of pages) of the repeated field."""
    items, token, pages = [], "", 0
    while True:
        pages += 1
        assert pages <= max_pages, "pagination does not end"
        resp = fn(make_request(page_size=page_size, page_token=token))
        page = list(getattr(resp, field))
        assert len(page) <= page_size or page_size == 0
        items.extend(page)
        token = resp.next_page_token
        if not token:
            return items, pages
        assert page, "an empty page with a next_page_token"


def all_team_ids(admin):
    teams, _ = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                        "teams", 100)
    return [t.team_id for t in teams]


def member_emails(client):
    items, _ = list_all(client.team.ListTeamMembers,
                        team_pb2.ListTeamMembersRequest, "members", 100)
    return [m.email for m in items]


def domain_names(client):
    items, _ = list_all(client.team.ListTeamDomains,
                        team_pb2.ListTeamDomainsRequest, "domains", 100)
    return [d.domain for d in items]


def read_key(path):
    with open(path, encoding="ascii") as f:
        return f.read().strip()


class Snipd:
    """One snipd data directory and the process currently serving it.

    start() runs `snipd serve` on 127.0.0.1:0 and returns once the server
    logged event=server.listening (and, on a first start, created its
    keys). stop() sends SIGTERM and fails the test unless snipd exits 0
    within STOP_TIMEOUT; restart() is stop() then start() on the same
    directory. stderr is kept (self.stderr) and shown on every failure.

    demo=True (the default) makes the demo team on a first start, empty
    unless sample=True (--demo-sample 1: snipd loads the bundled sample
    into it in the background, tests/e2e/test_demo.py): the other tests
    use the demo team as a team of their own."""

    def __init__(self, workdir, args=(), demo=True, grace_ms=DEFAULT_GRACE_MS,
                 sample=False):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.args = list(args)
        self.demo = demo
        self.sample = sample
        self.grace_ms = grace_ms
        self.proc = None
        self.port = None
        self.starts = 0
        self.lines = []  # stderr lines of the current process
        self.history = []  # stderr of the earlier processes
        self._cv = threading.Condition()
        self._eof = False
        self._reader = None
        self._channels = []

    # --- process ---------------------------------------------------------

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def stderr(self):
        with self._cv:
            return "".join(self.lines)

    def _describe(self):
        out = []
        for i, text in enumerate(self.history):
            out.append("--- snipd stderr (run %d) ---\n%s" % (i + 1, text))
        out.append("--- snipd stderr (run %d) ---\n%s" %
                   (len(self.history) + 1, self.stderr))
        return "\n".join(out)

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def wait_for_line(self, pattern, timeout=START_TIMEOUT):
        """Waits for a stderr line matching pattern; returns the match.
        Fails if snipd closes stderr (exits) first or time runs out."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                if self._eof:
                    break
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
        why = "snipd exited" if self._eof else "timed out"
        if self._eof and self.proc is not None:
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            why += " with code %s" % self.proc.returncode
        pytest.fail("%s before logging /%s/\n%s" % (why, pattern,
                                                     self._describe()))

    def stdout_path(self):
        return os.path.join(self.workdir, "stdout.%d" % self.starts)

    def wait_for_stdout(self, text, timeout=START_TIMEOUT):
        """Polls snipd's stdout (the first-start banner goes there) until it
        contains text; bounded by timeout."""
        end = time.monotonic() + timeout
        while True:
            with open(self.stdout_path(), encoding="utf-8",
                      errors="replace") as f:
                if text in f.read():
                    return
            if time.monotonic() > end or self.proc.poll() is not None:
                pytest.fail("snipd's stdout never showed %r\n%s" %
                            (text, self._describe()))
            time.sleep(0.05)

    def command(self):
        return [
            snipd_path(), "serve", "--listen", "127.0.0.1:0", "--data-dir",
            self.data_dir, "--grace-ms", str(self.grace_ms), "--demo",
            "1" if self.demo else "0", "--demo-sample",
            "1" if self.sample else "0"
        ] + self.args

    def start(self):
        assert self.proc is None, "snipd is already running"
        first = not os.path.exists(os.path.join(self.data_dir, "admin.key"))
        self.lines, self._eof = [], False
        self.starts += 1
        out = open(self.stdout_path(), "wb")
        # The whole environment goes through: under --config=asan it carries
        # ASAN_OPTIONS/UBSAN_OPTIONS from .bazelrc's --test_env.
        self.proc = subprocess.Popen(self.command(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=out,
                                     stderr=subprocess.PIPE,
                                     env=dict(os.environ),
                                     cwd=self.workdir)
        out.close()
        self._reader = threading.Thread(target=self._read,
                                        args=(self.proc.stderr,),
                                        daemon=True)
        self._reader.start()
        m = self.wait_for_line(r"event=server\.listening addr=127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))
        assert self.port > 0
        if first:
            # The keys are written after the listener is up; the log line
            # follows the rename of the file, so the file is complete.
            self.wait_for_line(r"event=snipd\.demo_team_created" if self.demo
                               else r"event=snipd\.admin_key_created")
        return self

    def _close_channels(self):
        for ch in self._channels:
            ch.close()
        self._channels = []

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stops snipd with sig and checks it exited 0 and cleanly."""
        assert self.proc is not None, "snipd is not running"
        self._close_channels()
        proc = self.proc
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
            self._finish()
            pytest.fail("snipd did not exit within %.0f s of signal %d; "
                        "killed\n%s" % (timeout, sig, self._describe()))
        self._finish()
        text = self.history[-1]
        if code != 0:
            pytest.fail("snipd exited with code %d after signal %d\n%s" %
                        (code, sig, self._describe()))
        if _SANITIZER_RE.search(text):
            pytest.fail("sanitizer report in snipd's stderr\n" +
                        self._describe())
        assert "event=server.stopped" in text, self._describe()
        assert "event=server.calls_leaked" not in text, self._describe()
        return text

    def _finish(self):
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT)
        self.proc.stderr.close()
        self.history.append(self.stderr)
        self.proc = None
        self._reader = None

    def kill(self):
        """Teardown of last resort: kill -9 without checks."""
        if self.proc is not None:
            self._close_channels()
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            self._finish()

    def restart(self):
        self.stop()
        return self.start()

    @property
    def running(self):
        return self.proc is not None

    # --- clients -----------------------------------------------------------

    @property
    def admin_key(self):
        return read_key(os.path.join(self.data_dir, "admin.key"))

    @property
    def demo_key(self):
        return read_key(os.path.join(self.data_dir, "demo.key"))

    def channel(self):
        """A new plaintext channel to the running snipd, closed by stop()."""
        ch = grpc.insecure_channel(self.addr)
        self._channels.append(ch)
        return ch

    def track(self, channel):
        """Lets stop() close a channel the test made itself."""
        self._channels.append(channel)
        return channel

    def client(self, key=None):
        return Client(self.channel(), key)

    def admin(self):
        return self.client(self.admin_key)
