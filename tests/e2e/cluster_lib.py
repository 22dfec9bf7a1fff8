"""Several snipd nodes behind a real HAProxy on loopback (issue 22).

Cluster(snipd_factory, n) starts n snipd nodes on fixed free ports, writes
the cluster file snipctl reads (docs/SCALING.md), asks `snipctl cluster
haproxy-config` for HAProxy's configuration and runs Debian's haproxy on
it in the foreground, in a temporary directory, until stop(). Everything
listens on 127.0.0.1 only; every wait is bounded."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import grpc
import pytest

from e2e_lib import STOP_TIMEOUT, snipctl_path

HAPROXY = "/usr/sbin/haproxy"
UP_TIMEOUT = 30.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Haproxy:
    """haproxy -db -f CFG; its runtime API on a unix socket."""

    def __init__(self, workdir, cfg_text, sock):
        self.workdir = workdir
        self.cfg = os.path.join(workdir, "haproxy.cfg")
        self.sock = sock
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(cfg_text)
        self.proc = None
        self.log = os.path.join(workdir, "haproxy.log")

    def start(self):
        check = subprocess.run([HAPROXY, "-c", "-f", self.cfg],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr + check.stdout
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg],
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        end = time.monotonic() + UP_TIMEOUT
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > end:
                pytest.fail("haproxy did not start:\n" + self.output())
            time.sleep(0.05)
        return self

    def output(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def cmd(self, line):
        """One runtime API command; returns the reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                got = s.recv(65536)
                if not got:
                    return out.decode()
                out += got

    def servers(self):
        """{server name: True when UP} from `show servers state`: running
        (srv_op_state 2) with its last health check passed
        (srv_check_result 3). HAProxy starts a server UP before any check,
        so the check's result must be read too."""
        res = {}
        for line in self.cmd("show servers state").splitlines():
            f = line.split()
            if len(f) > 11 and f[0].isdigit():
                res[f[3]] = f[5] == "2" and f[11] == "3"
        return res

    def wait_servers(self, want, timeout=UP_TIMEOUT):
        """Waits until each named server is UP (True) or DOWN (False)."""
        end = time.monotonic() + timeout
        while True:
            seen = self.servers()
            if all(seen.get(k) == v for k, v in want.items()):
                return
            if time.monotonic() > end:
                pytest.fail("haproxy servers %s, wanted %s\n%s" %
                            (seen, want, self.output()))
            time.sleep(0.1)

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None


class Cluster:
    """n snipd nodes (node1..noden) and HAProxy in front of them."""

    def __init__(self, snipd_factory, n=3, args=(), shared_mailbox_key=False):
        """shared_mailbox_key: every node gets node1's DATA_DIR/mailbox.key
        before its first start, as docs/SCALING.md asks, so that a moved
        team's mailbox credentials open on its new node."""
        if not os.path.exists(HAPROXY):
            pytest.fail("haproxy is not installed: run bazel/install_deps.sh")
        # A short directory: a unix socket path holds 107 bytes at most.
        self.dir = tempfile.mkdtemp(prefix="swc-", dir="/tmp")
        self.nodes = {}
        for i in range(n):
            name = "node%d" % (i + 1)
            port = free_port()
            s = snipd_factory(args=["--listen", "127.0.0.1:%d" % port] +
                              list(args), demo=False, start=False)
            if shared_mailbox_key and i > 0:
                key = os.path.join(self.nodes["node1"].data_dir,
                                   "mailbox.key")
                os.makedirs(s.data_dir, mode=0o700, exist_ok=True)
                dst = os.path.join(s.data_dir, "mailbox.key")
                with open(key, "rb") as f, open(dst, "wb") as g:
                    g.write(f.read())
                os.chmod(dst, 0o600)
            s.start()
            assert s.port == port, (s.port, port)
            self.nodes[name] = s
        self.port = free_port()
        self.sock = os.path.join(self.dir, "hp.sock")
        self.map = os.path.join(self.dir, "teams.map")
        self.file = os.path.join(self.dir, "cluster.json")
        with open(self.file, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "listen": "127.0.0.1:%d" % self.port,
                    "haproxy": {
                        "socket": self.sock,
                        "map": self.map
                    },
                    "nodes": [{
                        "name": k,
                        "addr": s.addr,
                        "admin_key_file": os.path.join(s.data_dir, "admin.key")
                    } for k, s in self.nodes.items()]
                }, f)
        open(self.map, "w").close()
        cfg = self.snipctl("haproxy-config").stdout
        self.haproxy = Haproxy(self.dir, cfg, self.sock).start()
        self.haproxy.wait_servers({k: True for k in self.nodes})
        self._channels = []

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def snipctl(self, *args, check=True):
        r = subprocess.run([snipctl_path(), "cluster", "--cluster", self.file] +
                           list(args),
                           capture_output=True,
                           text=True,
                           timeout=120,
                           env=dict(os.environ))
        if check:
            assert r.returncode == 0, "snipctl cluster %s: %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def channel(self):
        """A channel to HAProxy's frontend."""
        ch = grpc.insecure_channel(self.addr)
        self._channels.append(ch)
        return ch

    def routes(self):
        """The map file: {team_id: node}."""
        with open(self.map, encoding="utf-8") as f:
            return dict(line.split() for line in f if line.strip())

    def stop(self):
        for ch in self._channels:
            ch.close()
        self._channels = []
        self.haproxy.stop()
