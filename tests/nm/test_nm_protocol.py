"""snipwise-nm through its real protocol: a real snipd with seeded mail
(suggest, feedback, content, ping), malformed and oversized frames, a
broken stream, and snipd down or silent (a clear error, within a bounded
time, never a hang)."""

import json
import socket
import struct
import time

from e2e_lib import create_team
from nm_lib import (FRAME_P, FRAME_S, Host, closed_port, frame, seed_team,
                    write_config)


def test_suggest_feedback_content_against_real_snipd(snipd, admin):
    seeded = seed_team(snipd, admin)
    h = Host(write_config(snipd.addr, seeded.key, rep_email="ann@seller.example"))
    ping = h.call({"id": 1, "type": "ping"})
    assert ping["ok"], ping
    assert ping["result"]["health"]["status"] == "SERVING"
    assert ping["result"]["addr"] == snipd.addr

    # A thread given as text (the mail client's view of the thread).
    req = {"id": "s1", "type": "suggest", "draft": "Happy to help with pricing",
           "recipients": ["cfo9@prospect9.example"], "max_framings": 5,
           "thread": {"subject": "Question 9", "messages": [{
               "from": "cfo9@prospect9.example", "sent_time_unix_ms": 0,
               "text": "Could you send me something on pricing?"}]}}
    r = h.call(req)
    assert r["id"] == "s1" and r["type"] == "suggest" and r["ok"], r
    res = r["result"]
    assert res["suggestion_id"]
    by_text = {f["text"]: f for f in res["framings"]}
    assert FRAME_P in by_text and FRAME_S in by_text, list(by_text)
    ev = by_text[FRAME_P]["evidence"]
    assert (ev["times_used"], ev["reps"], ev["threads"]) == (3, 2, 3)
    assert ev["meetings"] == 2
    assert "2 reps in 3 threads" in by_text[FRAME_P]["explanation"]
    titles = {c["title"]: c for c in res["contents"]}
    assert "pricing_guide.txt" in titles, list(titles)

    # The same through an ingested thread's Message-ID.
    r2 = h.call({"id": 2, "type": "suggest", "draft": "pricing",
                 "thread": {"in_reply_to_message_id": "in0@p.example"}})
    assert r2["ok"], r2
    assert FRAME_P in {f["text"] for f in r2["result"]["framings"]}
    # An unknown Message-ID with the thread's text falls back to the text.
    r3 = h.call({"id": 3, "type": "suggest", "draft": "pricing",
                 "thread": {"in_reply_to_message_id": "nobody@nowhere",
                            "subject": "Pricing", "messages": [
                                {"from": "x@y.example", "text": "pricing?"}]}})
    assert r3["ok"], r3
    # Without text to fall back on, snipd's NOT_FOUND comes through.
    r4 = h.call({"id": 4, "type": "suggest",
                 "thread": {"in_reply_to_message_id": "nobody@nowhere"}})
    assert not r4["ok"] and r4["error"]["code"] == "NOT_FOUND", r4

    # Feedback: recorded once; the derived idempotency key makes a repeat
    # a duplicate.
    f = by_text[FRAME_P]
    fb = {"type": "feedback", "suggestion_id": res["suggestion_id"],
          "item_id": f["item_id"], "kind": "inserted"}
    a = h.call(dict(fb, id=10))
    assert a["ok"] and a["result"]["feedback_id"], a
    assert a["result"]["duplicate"] is False
    b = h.call(dict(fb, id=11))
    assert b["ok"] and b["result"]["duplicate"] is True, b
    assert b["result"]["feedback_id"] == a["result"]["feedback_id"]
    c = h.call(dict(fb, id=12, kind="dismissed"))
    assert c["ok"] and c["result"]["duplicate"] is False, c
    bad = h.call(dict(fb, id=13, item_id="no-such-item"))
    assert not bad["ok"] and bad["error"]["code"] in (
        "NOT_FOUND", "INVALID_ARGUMENT"), bad

    # Content: a corpus attachment and the suggested file.
    cid = seeded.corpus_content_ids[0]
    ct = h.call({"id": 20, "type": "content", "content_id": cid})
    assert ct["ok"], ct
    assert ct["result"]["content_id"] == cid
    assert ct["result"]["filename"].endswith(".pdf")
    assert ct["result"]["kind"] == "CONTENT_KIND_PDF"
    pc = titles["pricing_guide.txt"]["content_id"]
    ct2 = h.call({"id": 21, "type": "content", "content_id": pc})
    assert ct2["ok"] and ct2["result"]["filename"] == "pricing_guide.txt"
    nf = h.call({"id": 22, "type": "content", "content_id": "ct_missing"})
    assert not nf["ok"] and nf["error"]["code"] in ("NOT_FOUND",
                                                    "INVALID_ARGUMENT"), nf
    h.close(0)


def test_malformed_requests_get_errors_and_the_host_keeps_going(snipd):
    h = Host(write_config(snipd.addr, snipd.demo_key))
    cases = [
        (b"{not json", "INVALID_ARGUMENT", "not valid JSON"),
        (b"", "INVALID_ARGUMENT", "not valid JSON"),
        (b"[1,2]", "INVALID_ARGUMENT", "JSON object"),
        (b'"ping"', "INVALID_ARGUMENT", "JSON object"),
        (b'{"type":"ping","type":"suggest"}', "INVALID_ARGUMENT",
         "not valid JSON"),
        (b'{"id":1,"type":"\xff\xfe"}', "INVALID_ARGUMENT", "not valid JSON"),
        (b'{"id":1,"type":"x\\u0000"}', "INVALID_ARGUMENT", "not valid JSON"),
        ({"id": 1}, "INVALID_ARGUMENT", '"type" must be a string'),
        ({"id": 1, "type": 7}, "INVALID_ARGUMENT", '"type" must be a string'),
        ({"id": 1, "type": "launch"}, "INVALID_ARGUMENT", 'unknown type "launch"'),
        ({"id": 2, "type": "suggest", "draft": 5}, "INVALID_ARGUMENT",
         '"draft" must be a string'),
        ({"id": 3, "type": "suggest", "recipients": "a@b"}, "INVALID_ARGUMENT",
         '"recipients" must be an array of strings'),
        ({"id": 4, "type": "suggest", "recipients": ["a", 1]},
         "INVALID_ARGUMENT", '"recipients" must be an array of strings'),
        ({"id": 5, "type": "suggest", "thread": "t1"}, "INVALID_ARGUMENT",
         '"thread" must be an object'),
        ({"id": 6, "type": "suggest", "thread": {"messages": [3]}},
         "INVALID_ARGUMENT", "thread.messages"),
        ({"id": 7, "type": "suggest", "max_framings": 1000},
         "INVALID_ARGUMENT", '"max_framings" must be an integer from 0 to 100'),
        ({"id": 8, "type": "suggest", "max_framings": 2.5},
         "INVALID_ARGUMENT", '"max_framings"'),
        ({"id": 9, "type": "suggest", "mode": "best"}, "INVALID_ARGUMENT",
         '"mode"'),
        ({"id": 10, "type": "feedback", "suggestion_id": "s"},
         "INVALID_ARGUMENT", '"item_id" is required'),
        ({"id": 11, "type": "feedback", "suggestion_id": "s", "item_id": "i",
          "kind": "love"}, "INVALID_ARGUMENT", '"kind" must be'),
        ({"id": 12, "type": "content"}, "INVALID_ARGUMENT",
         '"content_id" is required'),
        ({"id": 13, "type": "content", "content_id": ""}, "INVALID_ARGUMENT",
         '"content_id" must not be empty'),
    ]
    for payload, code, text in cases:
        r = h.call(payload)
        assert r["ok"] is False, (payload, r)
        assert r["error"]["code"] == code, (payload, r)
        assert text in r["error"]["message"], (payload, r)
        if isinstance(payload, dict):
            assert r["id"] == payload["id"]
    # Still in sync: the next request is answered normally.
    r = h.call({"id": "after", "type": "ping"})
    assert r["ok"] and r["id"] == "after", r
    # Any JSON value is a valid id and comes back as it was.
    for rid in [None, 0, "x", {"a": [1]}, [1, "2"]]:
        assert h.call({"id": rid, "type": "ping"})["id"] == rid
    h.close(0)


def test_oversized_frames_are_refused(snipd):
    h = Host(write_config(snipd.addr, snipd.demo_key))
    # 8 MiB + 1 of valid JSON: refused, skipped, and the host stays in sync.
    big = b'{"id":1,"type":"suggest","draft":"' + b"a" * (8 << 20) + b'"}'
    h.send_raw(frame(big))
    r = h.recv()
    assert r["ok"] is False and r["error"]["code"] == "RESOURCE_EXHAUSTED", r
    assert "exceeds the host's limit of 8388608 bytes" in r["error"]["message"]
    assert h.call({"id": 2, "type": "ping"})["ok"]
    # Exactly at the limit is accepted (and then judged on its content).
    at = b'{"id":3,"type":"ping","pad":"' + b"b" * ((8 << 20) - 31) + b'"}'
    assert len(at) == 8 << 20
    r = h.call(at)
    assert r["ok"] and r["id"] == 3, r
    # A length of 4 GiB - 1 cannot be skipped: refused, then the host
    # exits non-zero with a message rather than reading gigabytes.
    h.send_raw(struct.pack("=I", 0xFFFFFFFF))
    r = h.recv()
    assert r["error"]["code"] == "RESOURCE_EXHAUSTED", r
    assert h.recv() is None
    err = h.close(1)
    assert "too large to skip" in err


def test_broken_streams_exit_nonzero_with_a_message(snipd):
    cfg = write_config(snipd.addr, snipd.demo_key)
    # A partial length prefix.
    h = Host(cfg)
    assert h.call({"id": 1, "type": "ping"})["ok"]
    h.send_raw(b"\x05\x00")
    h.proc.stdin.close()
    assert h.recv() is None
    assert "ended inside a frame" in h.close(1)
    # A body shorter than its length.
    h = Host(cfg)
    h.send_raw(struct.pack("=I", 100) + b'{"id":1')
    h.proc.stdin.close()
    assert h.recv() is None
    assert "ended inside a frame" in h.close(1)
    # A clean end after complete frames is a normal exit.
    h = Host(cfg)
    h.send_raw(frame({"id": 1, "type": "ping"}) + frame({"id": 2,
                                                        "type": "ping"}))
    assert [h.recv()["id"], h.recv()["id"]] == [1, 2]
    h.close(0)


def test_snipd_down_gives_a_clear_error_quickly():
    port = closed_port()
    h = Host(write_config("127.0.0.1:%d" % port, "k", timeout_ms=5000))
    for msg in [{"id": 1, "type": "ping"},
                {"id": 2, "type": "suggest", "draft": "hello"},
                {"id": 3, "type": "feedback", "suggestion_id": "s",
                 "item_id": "i", "kind": "copied"},
                {"id": 4, "type": "content", "content_id": "c"}]:
        t0 = time.monotonic()
        r = h.call(msg, timeout=20)
        took = time.monotonic() - t0
        assert r["id"] == msg["id"] and r["ok"] is False, r
        assert r["error"]["code"] == "UNAVAILABLE", r
        assert r["error"]["message"].startswith(
            "snipd is not reachable at 127.0.0.1:%d: " % port), r
        assert took < 6.0, "took %.1f s" % took
    h.close(0)


def test_silent_snipd_hits_the_deadline():
    # A socket that accepts connections but never speaks HTTP/2.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        h = Host(write_config(addr, "k", timeout_ms=1500))
        t0 = time.monotonic()
        r = h.call({"id": 1, "type": "suggest", "draft": "x"}, timeout=20)
        took = time.monotonic() - t0
        assert r["ok"] is False, r
        assert r["error"]["code"] == "DEADLINE_EXCEEDED", r
        assert r["error"]["message"] == (
            "snipd at %s did not answer within 1500 ms" % addr)
        assert 1.0 < took < 10.0, took
        h.close(0)
    finally:
        s.close()


def test_config_problems_are_reported_per_request(snipd, admin):
    missing = write_config(snipd.addr, "k") + ".missing"
    h = Host(missing)
    r = h.call({"id": 1, "type": "suggest"})
    assert r["error"]["code"] == "FAILED_PRECONDITION"
    assert r["error"]["message"].startswith(
        "cannot read the config file %s: " % missing), r
    h.close(0)
    for body, text in [("{", "is not a JSON object"),
                       ('{"addr": "x"}', '"key" is missing'),
                       ('{"addr": "", "key": "k"}', '"addr" must be a non-empty'),
                       ('{"addr": "a", "key": "k", "timeout_ms": 0}',
                        '"timeout_ms" must be an integer')]:
        path = write_config("x", "y")
        with open(path, "w") as f:
            f.write(body)
        h = Host(path)
        r = h.call({"id": 1, "type": "ping"})
        assert r["error"]["code"] == "FAILED_PRECONDITION", r
        assert text in r["error"]["message"] and path in r["error"]["message"]
        h.close(0)
    # A wrong key: snipd's refusal, naming the config file.
    cfg = write_config(snipd.addr, "sw_not_a_key")
    h = Host(cfg)
    r = h.call({"id": 1, "type": "suggest", "draft": "x"})
    assert r["error"]["code"] == "UNAUTHENTICATED", r
    assert cfg in r["error"]["message"]
    h.close(0)
    # The admin key may not call team services.
    h = Host(write_config(snipd.addr, snipd.admin_key))
    r = h.call({"id": 1, "type": "suggest", "draft": "x"})
    assert r["error"]["code"] == "PERMISSION_DENIED", r
    h.close(0)


def test_replies_use_native_byte_order_and_valid_utf8(snipd):
    h = Host(write_config(snipd.addr, snipd.demo_key))
    h.send({"id": "ü✓", "type": "ping"})
    head = h._read_exact(4, time.monotonic() + 30)
    n = struct.unpack("=I", head)[0]
    body = h._read_exact(n, time.monotonic() + 30)
    assert json.loads(body.decode("utf-8"))["id"] == "ü✓"
    h.close(0)
