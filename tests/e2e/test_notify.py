"""snipd under systemd's Type=notify protocol: with NOTIFY_SOCKET set (here
an abstract unix datagram socket the test owns, as systemd would) snipd
sends READY=1 once it serves and STOPPING=1 when SIGTERM starts the drain
(service/svc_notify.c); a socket nobody listens on does not stop it."""

import os
import socket

import pytest
from grpc_health.v1 import health_pb2

from e2e_lib import SERVING, START_TIMEOUT


def notify_socket():
    """A bound abstract AF_UNIX datagram socket and its NOTIFY_SOCKET."""
    name = "snipwise-test-%d-%s" % (os.getpid(), os.urandom(6).hex())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(START_TIMEOUT)
    return s, "@" + name


def recv(s):
    try:
        return s.recv(4096).decode()
    except socket.timeout:
        pytest.fail("no sd_notify message within %.0f s" % START_TIMEOUT)


def fields(msg):
    return dict(line.split("=", 1) for line in msg.split("\n") if line)


def test_ready_then_stopping(snipd_factory, monkeypatch):
    s, env = notify_socket()
    with s:
        monkeypatch.setenv("NOTIFY_SOCKET", env)
        srv = snipd_factory(start=False)
        srv.start()
        ready = fields(recv(s))
        assert ready.get("READY") == "1", ready
        assert ready.get("STATUS") == "serving on %s" % srv.addr, ready
        # READY=1 means serving: a call answers at once.
        c = srv.client()
        r = c.health.Check(health_pb2.HealthCheckRequest(service=""))
        assert r.status == SERVING
        srv.stop()  # SIGTERM; checks exit 0
        stopping = fields(recv(s))
        assert stopping.get("STOPPING") == "1", stopping
        assert "READY" not in stopping
        # Nothing else was sent.
        s.settimeout(0.2)
        with pytest.raises(socket.timeout):
            s.recv(4096)
        assert "event=server.notified state=ready" in srv.history[-1]


def test_no_listener_is_harmless(snipd_factory, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock")
    srv = snipd_factory()
    srv.stop()
    assert "event=server.notify_failed state=ready" in srv.history[-1]


def test_without_notify_socket_nothing_is_sent(snipd_factory, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    srv = snipd_factory()
    text = srv.stop()
    assert "server.notif" not in text
