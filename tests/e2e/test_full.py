"""A full store: the LMDB map at --max-map-bytes, and a full filesystem (a
small tmpfs). Writes fail with RESOURCE_EXHAUSTED naming the cause, reads
go on, every acknowledged email survives a restart, and writes resume when
there is room again (a larger --max-map-bytes; space freed on the disk,
without a restart)."""

import os
import random
import subprocess

import grpc
import pytest
from snipwise.v1 import admin_pb2, ingest_pb2, snippet_pb2

from e2e_lib import Snipd, error_details, scratch_dir
from ingest_lib import Mail

MAX_MAP = 2 << 20
WORDS = ("pricing security onboarding proposal contract renewal discount "
         "meeting agenda quarter budget pilot integration timeline support "
         "migration rollout training invoice procurement").split()
T0 = 1772532000000


def big_mail(i, rng, kib=24):
    """A mail of about kib KiB of text that no other mail repeats."""
    words = []
    n = 0
    while n < kib * 1024:
        w = rng.choice(WORDS) + str(rng.randrange(10 ** 6))
        words.append(w)
        n += len(w) + 1
    body = "\r\n".join(" ".join(words[j:j + 12])
                       for j in range(0, len(words), 12))
    return ("Message-ID: <full%d@leads.example>\r\nFrom: lead%d@leads.example"
            "\r\nTo: rep@seller.example\r\nSubject: Lead %d\r\nDate: Tue, 3 "
            "Mar 2026 10:%02d:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: "
            "text/plain; charset=utf-8\r\n\r\n%s\r\n" %
            (i, i, i, i % 60, body)).encode()


def fill(mail, start, rng, limit=2000):
    """Ingests new mails until one is refused; returns the acknowledged
    email ids and the refusal."""
    acked = []
    for i in range(start, start + limit):
        try:
            acked.append(mail.raw(big_mail(i, rng)).email_id)
        except grpc.RpcError as e:
            return acked, e
    pytest.fail("%d mails of 24 KiB went in; the store never filled" % limit)


def check_reads(snipd, mail, acked):
    """Every read the tests rely on answers while writes cannot."""
    admin = snipd.admin()
    teams = admin.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    assert teams
    assert admin.admin.GetTeam(
        admin_pb2.GetTeamRequest(team_id=teams[0].team_id)).team_id
    mail.call(mail.snippet, "SearchSnippets",
              snippet_pb2.SearchSnippetsRequest(text="pricing proposal"))
    for eid in acked:
        assert mail.get_email(email_id=eid).email_id == eid


def test_full_map_refuses_writes_keeps_reads_and_data(snipd_factory):
    s = snipd_factory(args=["--max-map-bytes", str(MAX_MAP)])
    rng = random.Random(7)
    m = Mail(s, s.demo_key)
    acked, err = fill(m, 0, rng)
    assert len(acked) > 5
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
    assert ("the store's map is at its maximum size (%d bytes" % MAX_MAP
            in err.details()), err.details()
    s.wait_for_line(r"event=store\.map_full")
    # Still full for the next write, and the same message.
    e2 = pytest.raises(grpc.RpcError, m.raw, big_mail(10 ** 6, rng)).value
    assert e2.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "maximum size" in e2.details()
    # The stream form says so too, rather than calling the mail rejected.
    e3 = pytest.raises(grpc.RpcError, lambda: m.stream(
        [("x", big_mail(10 ** 6 + 1, rng))])).value
    assert e3.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e3.details()
    assert "maximum size" in e3.details()
    info, _ = error_details(e3)
    assert info.reason == "STORAGE_FULL" and info.metadata["cause"] == "map"
    # A stream that ends early says what became of every item: a mail
    # already stored (a duplicate: no write), one that is not a mail
    # (rejected), and a new one the full map refuses.
    e4 = pytest.raises(grpc.RpcError, lambda: m.stream(
        [("dup", big_mail(0, random.Random(7))), ("junk", b"\x00\x01"),
         ("new", big_mail(10 ** 6 + 2, rng))])).value
    assert e4.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e4.details()
    info, _ = error_details(e4)
    meta = dict(info.metadata)
    assert meta["items_received"] == "3", meta
    assert (meta["new_count"], meta["duplicate_count"],
            meta["rejected_count"]) == ("0", "1", "1"), meta
    assert meta["rejected_items"] == "1" and meta["failed_items"] == "2", meta
    check_reads(s, m, acked)

    # Nothing acknowledged is lost across a restart at the same maximum.
    s.restart()
    m = Mail(s, s.demo_key)
    check_reads(s, m, acked)
    # A larger maximum: writes resume.
    s.stop()
    s.args = ["--max-map-bytes", str(4 * MAX_MAP)]
    s.start()
    m = Mail(s, s.demo_key)
    more = [m.raw(big_mail(10 ** 5 + i, rng)).email_id for i in range(3)]
    check_reads(s, m, acked + more)


def _mount_tmpfs(d, size):
    """Mounts a tmpfs of size at d, or skips the test saying why not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (this test runs as uid %d)"
                    % os.geteuid())
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%s,mode=0700" % size, "tmpfs", d],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip("cannot run mount: %s" % e)
    if r.returncode != 0:
        pytest.skip("mount -t tmpfs is not permitted here (%s)" %
                    (r.stderr.strip() or "exit %d" % r.returncode))


def test_full_disk_refuses_writes_and_resumes_when_space_returns():
    work = scratch_dir("fulldisk-")
    fs = os.path.join(work, "fs")
    os.mkdir(fs)
    _mount_tmpfs(fs, "8m")
    s = None
    try:
        s = Snipd(work)
        s.data_dir = os.path.join(fs, "data")  # the store on the tmpfs
        s.start()
        rng = random.Random(11)
        m = Mail(s, s.demo_key)
        # Leave about 1.5 MiB free beside the store.
        st = os.statvfs(fs)
        free = st.f_bavail * st.f_frsize
        ballast = os.path.join(fs, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, free - (3 << 19)))
        acked, err = fill(m, 0, rng)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, \
            "%s\n%s" % (err.details(), s.stderr[-3000:])
        assert "no space left on device in %s" % s.data_dir in err.details(), \
            err.details()
        s.wait_for_line(r"event=store\.disk_full")
        check_reads(s, m, acked)
        # Space returns: writes resume in the same process.
        os.unlink(ballast)
        more = [m.raw(big_mail(10 ** 5 + i, rng)).email_id for i in range(3)]
        check_reads(s, m, acked + more)
        s.restart()
        check_reads(s, Mail(s, s.demo_key), acked + more)
        s.stop()
    finally:
        if s is not None and s.running:
            s.kill()
        subprocess.run(["umount", "-l", fs], capture_output=True, timeout=30)
