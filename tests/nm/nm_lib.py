"""Helpers of the native host tests: the snipwise-nm process driven
through its real protocol (4-byte native-endian length + UTF-8 JSON on
stdin/stdout, every read bounded by a deadline), its config file, and a
team seeded with mail so that Suggest has something to return."""

import base64
import json
import os
import select
import socket
import struct
import subprocess
import time

import pytest
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc,
                         suggest_pb2, suggest_pb2_grpc, team_pb2)

from e2e_lib import auth_md, binary, create_team, scratch_dir
from ingest_lib import corpus_dir

READ_TIMEOUT = 30.0

DOMAIN = "seller.example"
T0 = 1772532000000  # Tue, 3 Mar 2026 10:00:00 UTC
DAY = 86400 * 1000
PRICING = ("pricing_guide.txt",
           "Our pricing is simple. Plans start at 10 dollars per seat per "
           "month. Volume discounts apply above 100 seats.")
SECURITY = ("security_brief.txt",
            "We are SOC 2 certified. Data is encrypted at rest and in "
            "transit, and we run a yearly penetration test.")
FRAME_P = ("I've attached the pricing guide, which explains our plans and "
           "discounts.")
FRAME_S = ("I've attached the security brief, which covers our SOC 2 "
           "report.")
# Real corpus mails with PDF attachments, ingested as the team's outbound
# mail so that real attachments are part of the content library.
CORPUS_MAILS = [
    "flanker/attached-pdf.eml",
    "ruby_mail_fixtures/attachment_emails/attachment_pdf.eml",
]


def nm_path():
    return binary("SNIPWISE_NM", "clients", "nm", "snipwise-nm")


def frame(payload):
    """One frame: bytes as they are, anything else as JSON."""
    if not isinstance(payload, bytes):
        payload = json.dumps(payload).encode()
    return struct.pack("=I", len(payload)) + payload


def write_config(addr, key, **extra):
    d = scratch_dir("nmcfg-")
    path = os.path.join(d, "nm.json")
    cfg = {"addr": addr, "key": key}
    cfg.update(extra)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    return path


def closed_port():
    """A loopback port nobody listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Host:
    """A running snipwise-nm with its config; stderr goes to a file."""

    def __init__(self, config_path, args=()):
        self.workdir = scratch_dir("nm-")
        self.err_path = os.path.join(self.workdir, "stderr")
        env = dict(os.environ, SNIPWISE_NM_CONFIG=config_path)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([nm_path()] + list(args),
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE,
                                         stderr=err, env=env)
        self._buf = b""

    @property
    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg):
        self.send_raw(frame(msg))

    def _read_exact(self, n, deadline):
        fd = self.proc.stdout.fileno()
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("no reply from snipwise-nm within %.0f s\n%s" %
                            (READ_TIMEOUT, self.stderr))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv(self, timeout=READ_TIMEOUT):
        """The next reply as a dict; None if the host closed stdout."""
        deadline = time.monotonic() + timeout
        head = self._read_exact(4, deadline)
        if head is None:
            return None
        (n,) = struct.unpack("=I", head)
        assert n <= 1024 * 1024, "reply of %d bytes breaks the 1 MB limit" % n
        body = self._read_exact(n, deadline)
        assert body is not None, "stdout ended inside a reply frame"
        return json.loads(body.decode("utf-8"))

    def call(self, msg, timeout=READ_TIMEOUT):
        self.send(msg)
        r = self.recv(timeout)
        assert r is not None, "snipwise-nm exited\n" + self.stderr
        return r

    def call_frames(self, msg, timeout=READ_TIMEOUT):
        """Sends msg and returns every frame of its reply: the chunk frames
        ("more": true) and the final reply, which is last."""
        self.send(msg)
        frames = []
        while True:
            r = self.recv(timeout)
            assert r is not None, "snipwise-nm exited\n" + self.stderr
            frames.append(r)
            if not r.get("more"):
                return frames

    def close(self, expect_code=0):
        """Closes stdin and checks the exit code (and sanitizer output)."""
        if not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            code = self.proc.wait(timeout=READ_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("snipwise-nm did not exit after stdin closed")
        err = self.stderr
        assert "ERROR: AddressSanitizer" not in err, err
        assert "ERROR: LeakSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert code == expect_code, "exit code %d, expected %d\n%s" % (
            code, expect_code, err)
        self.proc.stdout.close()
        return err


def rfc2822(ms):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ms / 1000))


def mime(mid, frm, to, subj, body, when, att=None, irt=None):
    s = ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
         "Date: %s\r\nMIME-Version: 1.0\r\n" % (mid, frm, to, subj,
                                                 rfc2822(when)))
    if irt:
        s += "In-Reply-To: <%s>\r\nReferences: <%s>\r\n" % (irt, irt)
    if att and isinstance(att[1], bytes):
        # (name, bytes, media type): a binary file, base64 in the mail.
        b64 = base64.encodebytes(att[1]).decode().replace("\n", "\r\n")
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: "
              "base64\r\n\r\n%s--b--\r\n" %
              (body, att[2], att[0], att[0], b64))
    elif att:
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
              (body, att[0], att[0], att[1]))
    else:
        s += "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" % body
    return s.encode()


class Seeded:
    """A team with mail: its key, its thread ids and the content ids of
    the corpus attachments."""

    def __init__(self, key, threads, corpus_content_ids):
        self.key = key
        self.threads = threads
        self.corpus_content_ids = corpus_content_ids


def seed_team(snipd, admin, name="Sales", pricing=PRICING):
    """Creates a team whose reps sent the pricing framing in 3 threads (2
    of them with a meeting) and the security framing in 2, plus two real
    corpus mails with PDFs; waits (bounded) until Suggest returns both
    framings. pricing is the file the pricing mails carry: (name, text) or
    (name, bytes, media type). Returns a Seeded."""
    _, key = create_team(admin, name)
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    ch = snipd.channel()
    md = auth_md(key)
    ing = ingest_pb2_grpc.IngestServiceStub(ch)
    sug = suggest_pb2_grpc.SuggestServiceStub(ch)
    from snipwise.v1 import outcome_pb2, outcome_pb2_grpc
    out = outcome_pb2_grpc.OutcomeServiceStub(ch)

    def mail(raw, direction=0):
        return ing.IngestEmail(ingest_pb2.IngestEmailRequest(
            raw_mime=raw, direction=direction), metadata=md, timeout=30)

    threads = []
    reps = ["ann@" + DOMAIN, "bob@" + DOMAIN]
    plan = [(pricing, FRAME_P, reps[0]), (pricing, FRAME_P, reps[1]),
            (pricing, FRAME_P, reps[0]), (SECURITY, FRAME_S, reps[0]),
            (SECURITY, FRAME_S, reps[0])]
    for i, (att, frame_text, rep) in enumerate(plan):
        who = "cfo%d@prospect%d.example" % (i, i)
        when = T0 + i * DAY
        mail(mime("in%d@p.example" % i, who, rep, "Question %d" % i,
                  "Hi, we are a manufacturing company in the evaluation "
                  "phase. Could you send me something on pricing?\n", when))
        r = mail(mime("out%d@%s" % (i, DOMAIN), rep, who, "Re: Question %d" % i,
                      "Thanks for reaching out.\n%s\nBest regards" % frame_text,
                      when + 3600 * 1000, att, "in%d@p.example" % i))
        threads.append(r.thread_id)
    for i in (0, 1):
        out.RecordOutcome(outcome_pb2.RecordOutcomeRequest(
            thread_id=threads[i], kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
            idempotency_key="m%d" % i, occur_time_unix_ms=T0 + 9 * DAY),
            metadata=md, timeout=30)
    content_ids = []
    root = corpus_dir("emails")
    for rel in CORPUS_MAILS:
        with open(os.path.join(root, rel), "rb") as f:
            r = mail(f.read(), common_pb2.DIRECTION_OUTBOUND)
        email = ing.GetEmail(ingest_pb2.GetEmailRequest(email_id=r.email_id),
                             metadata=md, timeout=30)
        content_ids += [c.content_id for c in email.contents]
    assert content_ids, "the corpus mails brought no attachments"
    end = time.monotonic() + 90
    while True:
        r = sug.Suggest(suggest_pb2.SuggestRequest(
            thread_id=threads[0], draft_text="Happy to help with pricing",
            max_framings=5), metadata=md, timeout=30)
        texts = {f.text for f in r.framings}
        if FRAME_P in texts and FRAME_S in texts:
            break
        if time.monotonic() > end:
            pytest.fail("Suggest never returned the seeded framings: %s" %
                        sorted(texts))
        time.sleep(0.1)
    return Seeded(key, threads, content_ids)
