"""Client streams that hold no worker: idle IngestEmails streams, more of
them than snipd has workers, leave every other call of every team
answering; a stream that stays silent past --stream-idle-ms ends with
DEADLINE_EXCEEDED, saying how many messages it had sent, and those
messages are stored."""

import threading
import time

import grpc
from snipwise.v1 import (ingest_pb2, ingest_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc, team_pb2)

from e2e_lib import auth_md, create_team, error_details

WORKERS = 4  # snipd's --workers in these tests
STREAMS = 32


def _mail(tag, i):
    raw = ("Message-ID: <%s-%d@p.example>\r\nFrom: pat@p.example\r\n"
           "To: rep@acme.example\r\nSubject: Stream %s %d\r\n"
           "Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nHello %d\r\n" %
           (tag, i, tag, i, i))
    return ingest_pb2.IngestEmailRequest(raw_mime=raw.encode(),
                                         client_ref="%s-%d" % (tag, i))


def _held_stream(first, release):
    """Requests: the messages in first, then nothing until release is set."""
    for m in first:
        yield m
    release.wait(120)


def test_idle_streams_hold_no_worker(snipd_factory):
    srv = snipd_factory(args=["--workers", str(WORKERS),
                              "--stream-idle-ms", "120000"])
    admin = srv.admin()
    _, key_a = create_team(admin, "Streams A")
    _, key_b = create_team(admin, "Streams B")
    ch = srv.channel()
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    release = threading.Event()
    futures = []
    try:
        for i in range(STREAMS):
            futures.append(ingest.IngestEmails.future(
                _held_stream([_mail("a%d" % i, 0)], release),
                metadata=auth_md(key_a), timeout=180))
        time.sleep(1.0)  # every stream has sent its message and now waits
        assert not any(f.done() for f in futures)
        b = srv.client(key_b)
        a = srv.client(key_a)
        for i in range(5):
            t0 = time.monotonic()
            assert b.team.GetMyTeam(team_pb2.GetMyTeamRequest(),
                                    timeout=5).display_name == "Streams B"
            assert a.team.GetMyTeam(team_pb2.GetMyTeamRequest(),
                                    timeout=5).display_name == "Streams A"
            r = ingest.IngestEmail(_mail("b", i), metadata=auth_md(key_b),
                                   timeout=5)
            assert r.status == ingest_pb2.INGEST_STATUS_NEW
            # Another IngestEmails stream of team B, start to end.
            done = ingest.IngestEmails(iter([_mail("bs%d" % i, 0)]),
                                       metadata=auth_md(key_b), timeout=5)
            assert done.new_count == 1
            assert time.monotonic() - t0 < 5
    finally:
        release.set()
    for f in futures:
        assert f.result(timeout=60).new_count == 1


def test_silent_stream_ends_with_its_count(snipd_factory):
    srv = snipd_factory(args=["--stream-idle-ms", "700"])
    admin = srv.admin()
    _, key = create_team(admin, "Silent")
    ingest = ingest_pb2_grpc.IngestServiceStub(srv.channel())
    release = threading.Event()
    t0 = time.monotonic()
    try:
        ingest.IngestEmails(
            _held_stream([_mail("s", 0), _mail("s", 1)], release),
            metadata=auth_md(key), timeout=60)
        raise AssertionError("a silent stream was kept open")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
        assert "after 2 messages" in e.details(), e.details()
    finally:
        release.set()
    assert time.monotonic() - t0 < 30
    # The two messages it did send were stored: sending them again finds
    # them as duplicates.
    again = ingest.IngestEmails(iter([_mail("s", 0), _mail("s", 1)]),
                                metadata=auth_md(key), timeout=30)
    assert again.duplicate_count == 2 and again.new_count == 0


def test_shutdown_with_silent_streams(snipd_factory):
    """SIGTERM while streams wait for their clients: the grace runs out,
    the streams are cancelled, every message they sent is kept, and snipd
    exits 0 with no call leaked (stop() checks both)."""
    srv = snipd_factory(args=["--stream-idle-ms", "60000"], grace_ms=300)
    admin = srv.admin()
    _, key = create_team(admin, "Shutdown")
    ch = srv.channel()
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    release = threading.Event()
    futures = [ingest.IngestEmails.future(
        _held_stream([_mail("z%d" % i, 0)], release),
        metadata=auth_md(key), timeout=60) for i in range(3)]
    try:
        time.sleep(1.0)
        assert not any(f.done() for f in futures)
        srv.stop()
    finally:
        release.set()
    for f in futures:
        assert f.exception(timeout=30) is not None
    srv.start()
    again = ingest_pb2_grpc.IngestServiceStub(srv.channel()).IngestEmails(
        iter([_mail("z%d" % i, 0) for i in range(3)]), metadata=auth_md(key),
        timeout=30)
    assert again.duplicate_count == 3


def test_team_share_of_streams(snipd_factory):
    """A team over its share of open ingest streams gets RESOURCE_EXHAUSTED
    naming the limit, while another team is served; once its streams end
    it may open new ones."""
    srv = snipd_factory(args=["--team-max-streams", "2"])
    admin = srv.admin()
    _, key_a = create_team(admin, "Share A")
    _, key_b = create_team(admin, "Share B")
    ingest = ingest_pb2_grpc.IngestServiceStub(srv.channel())
    release = threading.Event()
    held = []
    try:
        held = [ingest.IngestEmails.future(
            _held_stream([_mail("h%d" % i, 0)], release),
            metadata=auth_md(key_a), timeout=60) for i in range(2)]
        time.sleep(0.5)
        try:
            ingest.IngestEmails(iter([_mail("over", 0)]),
                                metadata=auth_md(key_a), timeout=10)
            raise AssertionError("a third stream of team A was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert "--team-max-streams" in e.details(), e.details()
            info, _ = error_details(e)
            assert info.reason == "TEAM_STREAM_LIMIT", info.reason
            assert dict(info.metadata) == {"limit": "--team-max-streams",
                                           "max": "2"}, info.metadata
        ok = ingest.IngestEmails(iter([_mail("other", 0)]),
                                 metadata=auth_md(key_b), timeout=10)
        assert ok.new_count == 1
    finally:
        release.set()
    for f in held:
        assert f.result(timeout=30).new_count == 1
    again = ingest.IngestEmails(iter([_mail("over", 0)]),
                                metadata=auth_md(key_a), timeout=10)
    assert again.new_count == 1


def _hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_compressed_request_refused_without_inflating(snipd_factory):
    """A gzip request that would inflate to 50 MiB (about 50 KiB on the
    wire) is refused before anything is inflated: gRPC core would inflate
    all of it before comparing it with --max-message-bytes."""
    srv = snipd_factory(args=["--max-message-bytes", "1048576"])
    admin = srv.admin()
    _, key = create_team(admin, "Zip")
    ingest = ingest_pb2_grpc.IngestServiceStub(srv.channel())
    before = _hwm_kb(srv.proc.pid)
    raw = (b"From: a@b.example\r\nTo: c@d.example\r\nSubject: zip\r\n\r\n" +
           b"a" * (50 << 20))
    try:
        ingest.IngestEmail(ingest_pb2.IngestEmailRequest(raw_mime=raw),
                           metadata=auth_md(key),
                           compression=grpc.Compression.Gzip, timeout=60)
        raise AssertionError("a compressed request was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
        assert "gzip" in e.details(), e.details()
    assert _hwm_kb(srv.proc.pid) - before < 16 * 1024
    # Uncompressed requests go on as before.
    r = ingest.IngestEmail(_mail("zip", 0), metadata=auth_md(key), timeout=30)
    assert r.status == ingest_pb2.INGEST_STATUS_NEW


def test_team_share_of_calls(snipd_factory):
    """A team over its share of expensive calls (--team-max-calls 1) gets
    RESOURCE_EXHAUSTED with reason TEAM_CALL_LIMIT and the limit, while
    another team's calls, in the same bursts, are all served. Bursts of
    concurrent Suggest calls overlap, so some of team A's are over its
    share; the loop is bounded, not timed."""
    srv = snipd_factory(args=["--team-max-calls", "1"], sample=True)
    admin = srv.admin()
    _, key_b = create_team(admin, "Calls B")
    sug = suggest_pb2_grpc.SuggestServiceStub(srv.channel())
    req = suggest_pb2.SuggestRequest(
        draft_text="Happy to share pricing, the security review and a case "
                   "study", max_contents=5, max_framings=5)
    over = 0
    for _ in range(30):
        fa = [sug.Suggest.future(req, metadata=auth_md(srv.demo_key),
                                 timeout=60) for _ in range(12)]
        fb = sug.Suggest.future(req, metadata=auth_md(key_b), timeout=60)
        assert fb.result() is not None  # team B: never refused
        for f in fa:
            e = f.exception()
            if e is None:
                continue
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            info, _ = error_details(e)
            assert info.reason == "TEAM_CALL_LIMIT", info.reason
            assert dict(info.metadata) == {"limit": "--team-max-calls",
                                           "max": "1"}, info.metadata
            over += 1
        if over:
            break
    assert over, "no burst of 12 concurrent calls ever exceeded a share of 1"
    # The share comes back: a lone call is served.
    assert sug.Suggest(req, metadata=auth_md(srv.demo_key), timeout=60)


def _parsed(tag, to, cc=()):
    return ingest_pb2.IngestEmailRequest(parsed=ingest_pb2.ParsedEmail(
        message_id="<%s@p.example>" % tag, subject="Many %s" % tag,
        from_address="pat@p.example", to_addresses=list(to),
        cc_addresses=list(cc), sent_time_unix_ms=1772532000000,
        text_body="Could you send the pricing guide?"))


def test_parsed_mail_with_100k_recipients_refused(snipd_factory):
    """A parsed IngestEmail with 100,000 recipients (a 2.3 MB request) is
    refused whole, naming the limit, as raw MIME is past 1,000 addresses;
    the largest allowed one (1,000 between To and Cc, duplicates
    included) is stored, its thread naming each distinct address once;
    another team's mail sent while the big request is in flight is stored
    too."""
    srv = snipd_factory()
    admin = srv.admin()
    _, key_a = create_team(admin, "Many A")
    _, key_b = create_team(admin, "Many B")
    ingest = ingest_pb2_grpc.IngestServiceStub(srv.channel())
    many = ["r%d@many.example" % i for i in range(100000)]
    big = ingest.IngestEmail.future(_parsed("huge", many[:60000],
                                            many[60000:]),
                                    metadata=auth_md(key_a), timeout=60)
    r = ingest.IngestEmail(_mail("other", 0), metadata=auth_md(key_b),
                           timeout=60)
    assert r.status == ingest_pb2.INGEST_STATUS_NEW
    e = big.exception()
    assert e is not None and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    assert "100000 recipients" in e.details() and "1000" in e.details(), \
        e.details()
    info, _ = error_details(e)
    assert info.reason == "TOO_LARGE", info
    # At the limit: 1,000 addresses with repeats, stored once each.
    to = many[:600] + many[:100]
    cc = many[600:900]
    r = ingest.IngestEmail(_parsed("limit", to, cc), metadata=auth_md(key_a),
                           timeout=60)
    assert r.status == ingest_pb2.INGEST_STATUS_NEW, r
    th = ingest.GetThread(ingest_pb2.GetThreadRequest(thread_id=r.thread_id),
                          metadata=auth_md(key_a), timeout=30)
    assert sorted(th.participants) == sorted(["pat@p.example"] + many[:900])
    # Nothing of the refused mail was stored: the team holds one thread.
    ls = ingest.ListThreads(ingest_pb2.ListThreadsRequest(page_size=50),
                            metadata=auth_md(key_a), timeout=30)
    assert [t.thread_id for t in ls.threads] == [r.thread_id], ls

