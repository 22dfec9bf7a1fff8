"""--poll-rt (issue 14): snipd's polling threads, which do the network I/O
and answer Health and GetMyTeam themselves, run at real-time priority
SCHED_RR 1 when asked, so that a cheap call waits for no time slice
while the workers keep the cores busy (docs/PERFORMANCE.md, "Cheap calls
under a mixed load"). Outside Bazel's sandbox: inside it the user
namespace refuses real-time priority."""

import os

import pytest
from grpc_health.v1 import health_pb2


def _rr_threads(pid):
    """Threads of process pid whose scheduling policy is SCHED_RR (field
    41 of /proc/PID/task/TID/stat)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        if int(fields[38]) == 2:  # field 41: policy; SCHED_RR is 2
            n += 1
    return n


def test_poll_rt_puts_the_polling_threads_ahead(snipd_factory):
    # --poll-rt 1: each of the --threads polling threads asks for SCHED_RR;
    # without it no thread of snipd runs at a real-time policy. Where the
    # system refuses (no CAP_SYS_NICE, no RLIMIT_RTPRIO), snipd says so
    # and serves at normal priority.
    plain = snipd_factory(args=["--threads", "3"])
    assert _rr_threads(plain.proc.pid) == 0
    rt = snipd_factory(args=["--threads", "3", "--poll-rt", "1"])
    c = rt.client()
    assert c.health.Check(health_pb2.HealthCheckRequest()).status == 1
    if "server.poll_rt_refused" in rt.stderr:
        assert _rr_threads(rt.proc.pid) == 0
        pytest.skip("real-time priority refused here: " +
                    [l for l in rt.stderr.splitlines()
                     if "poll_rt_refused" in l][0])
    assert _rr_threads(rt.proc.pid) == 3
