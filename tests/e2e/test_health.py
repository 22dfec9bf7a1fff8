"""grpc.health.v1.Health: Check and Watch, without any API key."""

import grpc
import pytest
from grpc_health.v1 import health_pb2
from snipwise.v1 import admin_pb2

from e2e_lib import NOT_SERVING, SERVING, SNIPWISE_SERVICES, expect_error


def test_check_overall_serving_without_key(snipd):
    c = snipd.client()
    r = c.health.Check(health_pb2.HealthCheckRequest(service=""))
    assert r.status == SERVING


@pytest.mark.parametrize("service", SNIPWISE_SERVICES + ["grpc.health.v1.Health"])
def test_check_each_service_serving(snipd, service):
    c = snipd.client()
    r = c.health.Check(health_pb2.HealthCheckRequest(service=service))
    assert r.status == SERVING


@pytest.mark.parametrize("service", [
    "snipwise.v1.NoSuchService", "snipwise.v1.adminservice", "AdminService",
    "snipwise.v1.AdminService/CreateTeam", " "
])
def test_check_unknown_service_not_found(snipd, service):
    c = snipd.client()
    err = expect_error(grpc.StatusCode.NOT_FOUND, c.health.Check,
                       health_pb2.HealthCheckRequest(service=service))
    assert "unknown service" in err.details()


def test_check_ignores_a_bad_key(snipd):
    # Health needs no key, so even a wrong one is not looked at.
    c = snipd.client("not-a-key")
    assert c.health.Check(health_pb2.HealthCheckRequest()).status == SERVING


def test_watch_sends_serving_then_ends_at_deadline(snipd):
    c = snipd.client()
    stream = c.health.Watch(health_pb2.HealthCheckRequest(service=""),
                            timeout=0.5)
    seen = []
    with pytest.raises(grpc.RpcError) as info:
        for msg in stream:
            seen.append(msg.status)
    assert seen == [SERVING]
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server is still there and answers at once.
    assert c.health.Check(health_pb2.HealthCheckRequest()).status == SERVING


def test_watch_unknown_service(snipd):
    # The standard says Watch reports SERVICE_UNKNOWN (not an error) for a
    # service the server does not know.
    c = snipd.client()
    stream = c.health.Watch(health_pb2.HealthCheckRequest(service="nope.Svc"),
                            timeout=0.5)
    first = next(stream)
    assert first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    stream.cancel()


def test_watch_cancelled_by_client_frees_the_server(snipd):
    c = snipd.client()
    streams = [c.health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
               for _ in range(4)]
    for s in streams:
        assert next(s).status == SERVING
    for s in streams:
        s.cancel()
    for s in streams:
        with pytest.raises(grpc.RpcError) as info:
            next(s)
        assert info.value.code() == grpc.StatusCode.CANCELLED
    # Cancelled watches do not keep the server busy: a normal call runs.
    a = snipd.admin()
    assert a.admin.ListTeams(admin_pb2.ListTeamsRequest(), timeout=5).teams


def test_watch_streams_do_not_starve_other_calls(snipd_factory):
    s = snipd_factory(args=["--workers", "2"])
    c = s.client()
    streams = [c.health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
               for _ in range(2)]
    try:
        for st in streams:
            assert next(st).status == SERVING
        a = s.admin()
        r = a.admin.ListTeams(admin_pb2.ListTeamsRequest(), timeout=3)
        assert r.teams
    finally:
        for st in streams:
            st.cancel()
