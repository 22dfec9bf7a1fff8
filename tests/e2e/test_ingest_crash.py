"""Crash safety of ingest: a bulk ingest from several client threads while
snipd is killed with SIGKILL at 20 seeded random moments (after a random
number of acknowledgements, with other calls in flight) and restarted on
the same data directory. Every acknowledged email must be stored exactly
once, and `snipd check` must pass after every kill."""

import collections
import random
import subprocess
import threading

import grpc
from snipwise.v1 import ingest_pb2

from e2e_lib import snipd_path
from ingest_lib import Mail, corpus_messages

SEED = 20261127
KILLS = 20
CLIENTS = 4
ROUND_TIMEOUT = 60.0


def synthetic(n):
    out = []
    for i in range(n):
        body = ("Hello %d,\n\nthe numbers you asked for: %s.\n" %
                (i, ", ".join(str(i * k) for k in range(1, 20))))
        att = ("Quarterly figures for customer %d\n" % (i % 7)) * 20
        raw = ("Message-ID: <bulk-%d@crash.example>\r\n"
               "From: rep@crash.example\r\nTo: c%d@prospect.example\r\n"
               "Subject: Figures %d\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
               "--b\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
               "--b\r\nContent-Type: text/plain; name=\"figures.txt\"\r\n"
               "Content-Disposition: attachment; filename=\"figures.txt\"\r\n"
               "\r\n%s\r\n--b--\r\n" % (i, i % 50, i, body, att))
        out.append(("bulk-%d" % i, raw.encode()))
    return out


def check(data_dir):
    r = subprocess.run([snipd_path(), "check", "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def run_round(snipd, key, pending, acked, rng):
    """Ingests from pending with CLIENTS threads until threshold calls are
    acknowledged, then kills snipd. Returns the number of acks."""
    m = Mail(snipd, key)
    threshold = rng.randint(1, 40)
    cv = threading.Condition()
    state = {"acks": 0, "running": CLIENTS, "errors": []}

    def worker():
        try:
            while True:
                with cv:
                    if not pending or state["acks"] >= threshold + 200:
                        return
                    ref, data = pending.popleft()
                try:
                    r = m.raw(data, ref=ref)
                except (grpc.RpcError, ValueError):
                    # Not acknowledged (ValueError: the channel was closed
                    # after the kill): try again later.
                    with cv:
                        pending.append((ref, data))
                    return
                with cv:
                    if ref in acked and acked[ref] != r.email_id:
                        state["errors"].append(
                            "%s acknowledged as %s, then as %s" %
                            (ref, acked[ref], r.email_id))
                    if ref in acked and r.status != ingest_pb2.INGEST_STATUS_DUPLICATE:
                        state["errors"].append("%s stored twice" % ref)
                    acked[ref] = r.email_id
                    state["acks"] += 1
                    cv.notify_all()
        finally:
            with cv:
                state["running"] -= 1
                cv.notify_all()

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    with cv:
        ok = cv.wait_for(lambda: state["acks"] >= threshold or
                         state["running"] == 0, timeout=ROUND_TIMEOUT)
    assert ok, "no progress within %.0f s" % ROUND_TIMEOUT
    snipd.proc.kill()  # SIGKILL, calls of the other threads in flight
    snipd.kill()  # reap it and close the channels
    for t in threads:
        t.join(timeout=ROUND_TIMEOUT)
        assert not t.is_alive()
    assert not state["errors"], state["errors"]
    return state["acks"]


def test_kill9_during_bulk_ingest(snipd):
    rng = random.Random(SEED)
    key = snipd.demo_key
    msgs = [x for x in corpus_messages() if b"\n\n" in x[1] or
            b"\r\n\r\n" in x[1]] + synthetic(400)
    rng.shuffle(msgs)
    by_ref = dict(msgs)
    pending = collections.deque(msgs)
    acked = {}
    total_acks = 0
    for i in range(KILLS):
        # Some acknowledged messages come again: they must be duplicates
        # with the same id, across the crashes.
        again = rng.sample(sorted(acked), min(5, len(acked)))
        pending.extendleft((r, by_ref[r]) for r in again)
        total_acks += run_round(snipd, key, pending, acked, rng)
        check(snipd.data_dir)
        snipd.start()
    print("\ncrash test: %d kills, %d acknowledgements, %d distinct emails "
          "acknowledged" % (KILLS, total_acks, len(acked)))
    assert len(acked) >= 100
    # Every acknowledged email is there, once: by id, by Message-ID, and
    # ingesting it again says DUPLICATE with the same id.
    m = Mail(snipd, key)
    for ref, eid in sorted(acked.items()):
        e = m.get_email(email_id=eid)
        if e.message_id:
            assert m.get_email(message_id=e.message_id).email_id == eid
        r = m.raw(by_ref[ref])
        assert (r.status, r.email_id) == (
            ingest_pb2.INGEST_STATUS_DUPLICATE, eid), ref
    snipd.stop()
    out = check(snipd.data_dir)
    assert "0 violations" in out
    # No email was stored twice: at most one per distinct message tried.
    n_emails = int(out.split("mail: ")[1].split(" emails")[0])
    assert len(set(acked.values())) <= n_emails <= len(by_ref)
    snipd.start()  # the fixture stops it and checks the exit code

