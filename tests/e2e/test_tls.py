"""snipd serving TLS: a self-signed certificate, the banner's --tls-ca, hints
for a client that speaks the wrong protocol, mutual TLS, and reloading the
certificates on SIGHUP."""

import os
import shutil
import signal
import subprocess

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from snipwise.v1 import team_pb2, team_pb2_grpc

from e2e_lib import OPENSSL, SERVING, auth_md, snipctl_path, snipd_path

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


# --- TLS as people use it: the banner, hints, mutual TLS, SIGHUP reload ---


def _openssl(*args):
    r = subprocess.run([OPENSSL] + list(args),
                       capture_output=True,
                       stdin=subprocess.DEVNULL,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")


def _make_ca(d, name):
    """A CA certificate and key in d: (pem, key)."""
    pem, key = str(d / (name + ".pem")), str(d / (name + ".key"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
             "/CN=" + name, "-days", "1", "-keyout", key, "-out", pem)
    return pem, key


def _make_cert(d, ca, name):
    """A certificate for 127.0.0.1 and localhost signed by ca: (pem, key)."""
    pem, key = str(d / (name + ".pem")), str(d / (name + ".key"))
    csr, ext = str(d / (name + ".csr")), d / (name + ".ext")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
             "-keyout", key, "-out", csr)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out",
             pem)
    return pem, key


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _channel(s, ca, cert=None):
    """A TLS channel with its own connections (no subchannel shared with
    another channel), trusting ca and presenting cert=(pem, key) if any."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(ca),
        private_key=_read(cert[1]) if cert else None,
        certificate_chain=_read(cert[0]) if cert else None)
    return s.track(
        grpc.secure_channel("127.0.0.1:%d" % s.port, creds,
                            options=[("grpc.use_local_subchannel_pool", 1)]))


def _health(ch):
    return health_pb2_grpc.HealthStub(ch).Check(
        health_pb2.HealthCheckRequest(), timeout=15).status


def _refused(ch):
    try:
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                             timeout=5)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
        return True
    return False


def _snipctl(*args):
    return subprocess.run([snipctl_path()] + list(args),
                          capture_output=True,
                          stdin=subprocess.DEVNULL,
                          timeout=CLI_TIMEOUT,
                          text=True)


def test_banner_shows_tls_ca(snipd_factory, tls_files):
    # A self-signed certificate is its own CA: the banner names the file.
    s = _tls_server(snipd_factory, tls_files)
    s.wait_for_stdout("--addr %s --tls-ca %s health" % (s.addr, tls_files[0]))
    with open(s.stdout_path(), encoding="utf-8") as f:
        out = f.read()
    assert out.count("--tls-ca %s" % tls_files[0]) == 3, out
    # Without TLS there is no --tls-ca.
    p = snipd_factory()
    p.wait_for_stdout("--addr %s health" % p.addr)
    with open(p.stdout_path(), encoding="utf-8") as f:
        assert "--tls-ca" not in f.read()


def test_banner_with_a_ca_signed_certificate(snipd_factory, tmp_path):
    ca = _make_ca(tmp_path, "ca")
    srv = _make_cert(tmp_path, ca, "server")
    s = snipd_factory(args=[
        "--tls-cert", srv[0], "--tls-key", srv[1], "--tls-client-ca", ca[0]
    ])
    s.wait_for_stdout("--addr %s --tls-ca CA.pem --tls-cert CLIENT.pem "
                      "--tls-key CLIENT.key health" % s.addr)


def test_plaintext_client_gets_a_hint(snipd_factory, tls_files):
    s = _tls_server(snipd_factory, tls_files)
    r = _snipctl("--addr", s.addr, "--timeout-ms", "5000", "health")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "the server may be using TLS: pass --tls-ca CA.pem" in r.stderr, \
        r.stderr
    # The server says so too, though gRPC cannot tell it which client.
    s.wait_for_line(r"event=tls\.plaintext_client hint=")
    # Other subcommands share the channel code and the hint.
    r = _snipctl("--addr", s.addr, "--key", "x", "search", "anything")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "pass --tls-ca CA.pem" in r.stderr, r.stderr
    # A port nobody listens on is not a TLS problem: no hint.
    s.stop()
    r = _snipctl("--addr", s.addr, "--timeout-ms", "5000", "health")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "TLS" not in r.stderr, r.stderr


def test_tls_client_against_plaintext_server_gets_a_hint(snipd, tls_files):
    r = _snipctl("--addr", snipd.addr, "--timeout-ms", "5000", "--tls-ca",
                 tls_files[0], "health")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "the server may not be using TLS" in r.stderr, r.stderr


def test_mutual_tls(snipd_factory, tmp_path):
    server_ca = _make_ca(tmp_path, "server-ca")
    client_ca = _make_ca(tmp_path, "client-ca")
    other_ca = _make_ca(tmp_path, "other-ca")
    srv = _make_cert(tmp_path, server_ca, "server")
    good = _make_cert(tmp_path, client_ca, "rep")
    bad = _make_cert(tmp_path, other_ca, "intruder")
    s = snipd_factory(args=[
        "--tls-cert", srv[0], "--tls-key", srv[1], "--tls-client-ca",
        client_ca[0]
    ])
    assert "tls=1" in s.stderr
    # No client certificate: refused, and the server says why.
    assert _refused(_channel(s, server_ca[0]))
    s.wait_for_line(r"event=tls\.client_cert_missing")
    # A certificate from another CA: refused.
    assert _refused(_channel(s, server_ca[0], bad))
    # A certificate signed by --tls-client-ca: served.
    assert _health(_channel(s, server_ca[0], good)) == SERVING
    # snipctl: the same three cases.
    base = ["--addr", s.addr, "--timeout-ms", "5000", "--tls-ca", server_ca[0]]
    r = _snipctl(*base, "health")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "require a client certificate" in r.stderr, r.stderr
    r = _snipctl(*base, "--tls-cert", bad[0], "--tls-key", bad[1], "health")
    assert r.returncode == 3, (r.stdout, r.stderr)
    r = _snipctl(*base, "--tls-cert", good[0], "--tls-key", good[1], "health")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "SERVING" in r.stdout
    r = _snipctl(*base, "--tls-cert=" + good[0], "--tls-key=" + good[1],
                 "--key", s.demo_key, "team", "show")
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = _snipctl(*base, "--tls-cert", good[0], "health")
    assert r.returncode == 2, (r.stdout, r.stderr)


def test_mutual_tls_needs_a_server_certificate(tmp_path):
    ca = _make_ca(tmp_path, "ca")
    r = subprocess.run([snipd_path(), "--tls-client-ca", ca[0]],
                       capture_output=True,
                       stdin=subprocess.DEVNULL,
                       timeout=CLI_TIMEOUT,
                       text=True)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--tls-client-ca" in r.stderr


def test_sighup_reloads_certificates(snipd_factory, tmp_path):
    ca_a = _make_ca(tmp_path, "ca-a")
    ca_b = _make_ca(tmp_path, "ca-b")
    a = _make_cert(tmp_path, ca_a, "server-a")
    b = _make_cert(tmp_path, ca_b, "server-b")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = str(live / "cert.pem"), str(live / "key.pem")
    shutil.copy(a[0], cert)
    shutil.copy(a[1], key)
    s = snipd_factory(args=["--tls-cert", cert, "--tls-key", key])
    pid = s.proc.pid
    old = _channel(s, ca_a[0])
    assert _health(old) == SERVING  # connected with certificate A
    assert _refused(_channel(s, ca_b[0]))

    shutil.copy(b[0], cert)
    shutil.copy(b[1], key)
    os.kill(pid, signal.SIGHUP)
    s.wait_for_line(r"event=tls\.reloaded")
    assert _health(_channel(s, ca_b[0])) == SERVING
    assert _refused(_channel(s, ca_a[0]))
    # The connection made before the reload was not dropped.
    assert _health(old) == SERVING
    assert s.proc.pid == pid and s.proc.poll() is None

    # Bad files: logged, and certificate B stays in use.
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    os.kill(pid, signal.SIGHUP)
    s.wait_for_line(r"event=tls\.reload_failed .*--tls-cert")
    assert _health(_channel(s, ca_b[0])) == SERVING
    # A key that is not the certificate's: refused as well.
    shutil.copy(b[0], cert)
    shutil.copy(a[1], key)
    os.kill(pid, signal.SIGHUP)
    s.wait_for_line(r"event=tls\.reload_failed .*not the key")
    assert _health(_channel(s, ca_b[0])) == SERVING
    assert _refused(_channel(s, ca_a[0]))


def test_sighup_without_tls_keeps_serving(snipd):
    os.kill(snipd.proc.pid, signal.SIGHUP)
    snipd.wait_for_line(r"event=tls\.reload_skipped")
    assert _health(snipd.channel()) == SERVING
