"""Debian's Prometheus scrapes snipd: /usr/bin/prometheus on loopback, with a
temporary configuration (snipd's /metrics every second) and storage,
answers a query for snipd_rpc_calls_total through its HTTP API with the
calls this test made, by method and status code."""

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request

import grpc
import pytest
from snipwise.v1 import team_pb2

from e2e_lib import expect_error, scratch_dir
from metrics_lib import start_with_metrics, wait_for

PROMETHEUS = "/usr/bin/prometheus"
MY_TEAM = "/snipwise.v1.TeamService/GetMyTeam"
WAIT = 90.0  # Prometheus starts, scrapes every 1 s; ASan slows snipd down


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A prometheus process on 127.0.0.1 scraping one target."""

    def __init__(self, target):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail(PROMETHEUS + " is missing: bazel/install_deps.sh "
                        "installs Debian's prometheus package")
        self.dir = scratch_dir("prometheus-")
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: snipd\n"
                    "    metrics_path: /metrics\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.proc = None
        self.log = os.path.join(self.dir, "prometheus.log")

    def start(self):
        # A port picked free a moment ago may be taken meanwhile: retry.
        for _ in range(5):
            self.port = _free_port()
            env = {
                # Bazel's sandbox gives no HOME; Go and Prometheus want a
                # writable one and a writable TMPDIR.
                "HOME": self.dir,
                "TMPDIR": self.dir,
                "PATH": "/usr/bin:/bin",
            }
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [PROMETHEUS, "--config.file=" + self.config,
                     "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                     "--web.listen-address=127.0.0.1:%d" % self.port,
                     "--log.level=info"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    env=env, cwd=self.dir)
            try:
                wait_for("prometheus to be ready", self._ready, timeout=30)
                return self
            except BaseException:
                if self.proc.poll() is None:
                    raise
                self.proc = None  # exited (port taken?): try another
        pytest.fail("prometheus did not start:\n" + self.output())

    def output(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("prometheus exited with %d" %
                               self.proc.returncode)
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read().decode())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None
        if not os.environ.get("TEST_TMPDIR"):
            shutil.rmtree(self.dir, ignore_errors=True)


def test_prometheus_scrapes_snipd(snipd_factory):
    s, base = start_with_metrics(snipd_factory)
    team = s.client(s.demo_key)
    for _ in range(2):
        assert team.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id
    expect_error(grpc.StatusCode.UNAUTHENTICATED, team.team.GetMyTeam,
                 team_pb2.GetMyTeamRequest(),
                 metadata=(("authorization", "Bearer sk_" + "1" * 64),))
    prom = Prometheus(base[len("http://"):]).start()
    try:
        def counters():
            res = prom.query("snipd_rpc_calls_total")
            got = {(r["metric"].get("method"), r["metric"].get("code")):
                   float(r["value"][1]) for r in res}
            ok = got.get((MY_TEAM, "OK"))
            return got if ok == 2 else None

        try:
            got = wait_for("Prometheus to return snipd's request counter",
                           counters, timeout=WAIT, step=0.5)
        except BaseException:
            print(prom.output())
            raise
        assert got[(MY_TEAM, "UNAUTHENTICATED")] == 1
        # Prometheus's own view of the target: up, labelled with its job.
        up = prom.query('up{job="snipd"}')
        assert up and up[0]["value"][1] == "1", up
        res = prom.query('snipd_rpc_calls_total{code="OK"}')
        assert all(r["metric"]["job"] == "snipd" for r in res)
    finally:
        prom.stop()
