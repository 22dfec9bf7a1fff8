"""snipd serving TLS with a self-signed certificate."""

import subprocess

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from snipwise.v1 import team_pb2, team_pb2_grpc

from e2e_lib import OPENSSL, SERVING, auth_md, snipctl_path

CLI_TIMEOUT = 60


def _tls_server(snipd_factory, tls_files):
    cert, key = tls_files
    s = snipd_factory(args=["--tls-cert", cert, "--tls-key", key])
    assert "tls=1" in s.stderr
    return s


def _secure(s, cert, host="127.0.0.1"):
    with open(cert, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return s.track(grpc.secure_channel("%s:%d" % (host, s.port), creds))


def test_tls_health_and_team_call(snipd_factory, tls_files):
    s = _tls_server(snipd_factory, tls_files)
    for host in ["127.0.0.1", "localhost"]:
        ch = _secure(s, tls_files[0], host)
        r = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), timeout=15)
        assert r.status == SERVING
    team = team_pb2_grpc.TeamServiceStub(ch).GetMyTeam(
        team_pb2.GetMyTeamRequest(), metadata=auth_md(s.demo_key), timeout=15)
    assert team.display_name == "Demo team"


def test_plaintext_client_is_refused(snipd_factory, tls_files):
    s = _tls_server(snipd_factory, tls_files)
    ch = s.channel()
    try:
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                             timeout=5)
        raise AssertionError("a plaintext call to a TLS server succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
    # The server is unharmed by the bad handshake.
    r = health_pb2_grpc.HealthStub(_secure(s, tls_files[0])).Check(
        health_pb2.HealthCheckRequest(), timeout=15)
    assert r.status == SERVING


def test_untrusted_certificate_is_refused(snipd_factory, tls_files, tmp_path):
    s = _tls_server(snipd_factory, tls_files)
    # A client that trusts some other certificate does not connect.
    other = tmp_path / "other.pem"
    r = subprocess.run([
        OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
        "/CN=localhost", "-days", "1", "-keyout", str(tmp_path / "other.key"),
        "-out", str(other)
    ], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ch = _secure(s, str(other))
    try:
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                             timeout=5)
        raise AssertionError("a call with an untrusted certificate succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())


def test_snipctl_over_tls(snipd_factory, tls_files):
    s = _tls_server(snipd_factory, tls_files)
    r = subprocess.run([
        snipctl_path(), "--addr", s.addr, "--tls-ca", tls_files[0], "health"
    ], capture_output=True, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT,
                       text=True)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "SERVING" in r.stdout
    # Without --tls-ca snipctl speaks plaintext and cannot get through.
    r = subprocess.run([
        snipctl_path(), "--addr", s.addr, "--timeout-ms", "5000", "health"
    ], capture_output=True, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT,
                       text=True)
    assert r.returncode == 3, (r.stdout, r.stderr)
