"""`snipd backup` while snipd serves and ingests, and `snipd restore` into a
new directory served by a second snipd.

What "the same answers as the source at backup time" means here: the
backup is one LMDB snapshot, taken at some commit between the start and the
end of the copy. So for a team that nobody writes to during the copy
("Quiet"), the restored server answers ListThreads, GetEmail,
SearchSnippets and Suggest exactly as the source did before and after the
backup; and for a team whose mail is being ingested during the copy
("Busy", one email at a time, each a new thread), the restored team holds
exactly the first k acknowledged emails, in ingest order, with k at least
the number acknowledged before the backup began and at most one more than
the number acknowledged when it ended (one call may be in flight)."""

import os
import shutil
import stat
import subprocess
import threading
import time

import grpc
import pytest
from snipwise.v1 import (ingest_pb2, ingest_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2)

from e2e_lib import auth_md, create_team, scratch_dir, snipd_path

CLI_TIMEOUT = 120
WAIT = float(os.environ.get("E2E_WAIT", "90"))
DOMAIN = "seller.example"
T0 = 1772532000000  # Tue, 3 Mar 2026 10:00:00 UTC
HOUR = 3600 * 1000

DOCS = [
    ("pricing_guide.txt",
     "Our pricing is simple. Plans start at 10 dollars per seat per month. "
     "Volume discounts apply above 100 seats."),
    ("security_brief.txt",
     "We are SOC 2 certified. Data is encrypted at rest and in transit, and "
     "we run a yearly penetration test."),
    ("onboarding_plan.txt",
     "Onboarding takes two weeks: a kickoff call, data import, and training "
     "for every rep on the team."),
]
FRAMES = [
    "I've attached the pricing guide, which explains our plans.",
    "I've attached the security brief, which covers our SOC 2 report.",
    "I've attached our onboarding plan, which shows the first two weeks.",
]


def rfc2822(ms):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ms / 1000))


def mime(mid, frm, to, subj, body, when, att=None, irt=None):
    s = ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
         "Date: %s\r\nMIME-Version: 1.0\r\n" % (mid, frm, to, subj,
                                                 rfc2822(when)))
    if irt:
        s += "In-Reply-To: <%s>\r\nReferences: <%s>\r\n" % (irt, irt)
    if att:
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
              (body, att[0], att[0], att[1]))
    else:
        s += "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" % body
    return s.encode()


class Team:
    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.client = snipd.client(key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(ch)
        self.suggest_stub = suggest_pb2_grpc.SuggestServiceStub(ch)

    def call(self, stub, name, req, timeout=30):
        return getattr(stub, name)(req, metadata=self.md, timeout=timeout)

    def mail(self, raw):
        return self.call(self.ingest, "IngestEmail",
                         ingest_pb2.IngestEmailRequest(raw_mime=raw))

    def pending(self):
        return self.client.team.GetMyTeam(
            team_pb2.GetMyTeamRequest()).pending_extraction_jobs

    def threads(self):
        out, token = [], ""
        while True:
            r = self.call(self.ingest, "ListThreads",
                          ingest_pb2.ListThreadsRequest(page_size=100,
                                                        page_token=token))
            out.extend(r.threads)
            token = r.next_page_token
            if not token:
                return out

    def thread_ids(self):
        return [t.thread_id for t in self.threads()]

    def answers(self):
        """What the tests compare, exactly. Search hits and Suggest items
        are compared by what they are (text, content, evidence) in rank
        order, with their scores; snippets with the same text tie, so their
        ids are left out. The builtin embedder weighs words by the team's
        document frequencies at the time it embeds a snippet, so a live
        index that grew with the mail scores a little differently from one
        built from the store in one go (a restore, or a restart before the
        index was snapshotted): compare servers whose indexes were both
        built from the store."""
        threads = self.threads()
        emails = []
        for t in threads:
            th = self.call(self.ingest, "GetThread",
                           ingest_pb2.GetThreadRequest(thread_id=t.thread_id,
                                                       include_emails=True))
            emails.append(th.SerializeToString(deterministic=True))
        searches, scores = [], []
        for q in ["pricing plans per seat", "SOC 2 security report",
                  "onboarding training"]:
            r = self.call(self.snippet, "SearchSnippets",
                          snippet_pb2.SearchSnippetsRequest(text=q,
                                                            page_size=20))
            searches.append([(h.snippet.kind, h.snippet.text,
                              h.snippet.content_id) for h in r.results])
            scores.append([h.score for h in r.results])
        # Suggest's statistics are built in the background: compare
        # answers that count everything stored.
        end = time.monotonic() + WAIT
        while True:
            sug = self.call(self.suggest_stub, "Suggest",
                            suggest_pb2.SuggestRequest(
                                draft_text="Happy to help with pricing and "
                                           "SOC 2",
                                max_framings=5, max_contents=5))
            if sug.statistics.current or time.monotonic() > end:
                break
            time.sleep(0.05)
        assert sug.statistics.current, "statistics never became current"
        contents = [(c.content_id, c.title, c.kind, c.key_passage,
                     c.evidence.SerializeToString(deterministic=True))
                    for c in sug.contents]
        framings = [(f.text, f.content_id,
                     f.evidence.SerializeToString(deterministic=True))
                    for f in sug.framings]
        scores.append([x.score.total for x in list(sug.contents) +
                       list(sug.framings)])
        return {
            "threads": [t.SerializeToString(deterministic=True)
                        for t in threads],
            "emails": emails,
            "search": searches,
            "suggest": (contents, framings, sug.model_version),
            "n_framings": len(sug.framings),
            "scores": Approx(scores),
        }


SCORE_TOLERANCE = 1e-6


class Approx:
    """Lists of lists of scores, equal when each is within SCORE_TOLERANCE
    (relative) of the other's: the same computation, in another process."""

    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        if [len(x) for x in self.v] != [len(x) for x in other.v]:
            return False
        return all(abs(a - b) <= SCORE_TOLERANCE * max(abs(a), abs(b), 1e-9)
                   for xs, ys in zip(self.v, other.v) for a, b in zip(xs, ys))

    def __repr__(self):
        return repr(self.v)


def wait_until(what, fn, timeout=WAIT, explain=None):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail("timed out waiting for %s%s" %
                        (what, ": " + explain() if explain else ""))
        time.sleep(0.1)


def diff(got, want):
    """Which of the compared answers differ, and how."""
    out = []
    for k in sorted(want):
        if got.get(k) != want[k]:
            out.append("%s:\n  got  %r\n  want %r" % (k, got.get(k), want[k]))
    return "\n".join(out)


def quiet_team(snipd, admin):
    """A team with settled mail: threads answered with documents, every
    extraction job done and the snippets searchable."""
    _, key = create_team(admin, "Quiet")
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    t = Team(snipd, key)
    for i in range(9):
        who = "buyer%d@prospect%d.example" % (i, i)
        rep = "rep%d@%s" % (i % 2, DOMAIN)
        when = T0 + i * 24 * HOUR
        inq = t.mail(mime("q%d@p.example" % i, who, rep, "Question %d" % i,
                          "Hi, could you send me something on this?", when))
        ans = t.mail(mime("a%d@%s" % (i, DOMAIN), rep, who,
                          "Re: Question %d" % i,
                          "Thanks for asking.\n%s\nBest regards" %
                          FRAMES[i % 3], when + HOUR, DOCS[i % 3],
                          "q%d@p.example" % i))
        assert inq.thread_id == ans.thread_id
    wait_until("Quiet's extraction", lambda: t.pending() == 0)
    wait_until("Quiet's framings in Suggest",
               lambda: t.answers()["n_framings"] >= 2)
    return t, key


def busy_mail(i):
    return mime("busy%d@busy.example" % i, "lead%d@leads.example" % i,
                "rep@busy.example", "Busy lead %d" % i,
                "Hello, lead number %d is asking about a demo." % i,
                T0 + i * 60000)


def run(args, timeout=CLI_TIMEOUT):
    return subprocess.run([snipd_path()] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def explain(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout,
                                                   r.stderr)


def test_backup_under_ingest_then_restore(snipd_factory):
    src = snipd_factory()
    admin = src.admin()
    quiet, quiet_key = quiet_team(src, admin)
    # A restart makes the source's snippet index a function of its store
    # alone (see Team.answers): from here on the source answers as any
    # server started on this store would, the restored one included.
    src.restart()
    admin = src.admin()
    quiet = Team(src, quiet_key)
    wait_until("Quiet's index after the restart",
               lambda: quiet.answers()["n_framings"] >= 2)
    before = quiet.answers()
    _, busy_key = create_team(admin, "Busy")
    busy = Team(src, busy_key)

    # Busy's mail goes in one email at a time, in a known order, until the
    # backup is done; acked[i] is the thread of email i.
    acked, errors, stop = [], [], threading.Event()

    def ingest_loop():
        i = 0
        while not stop.is_set():
            try:
                acked.append(busy.mail(busy_mail(i)).thread_id)
            except grpc.RpcError as e:
                errors.append("%s: %s" % (e.code(), e.details()))
                return
            i += 1

    th = threading.Thread(target=ingest_loop)
    th.start()
    try:
        wait_until("Busy's first mail", lambda: len(acked) >= 20)
        work = scratch_dir("backup-")
        out = os.path.join(work, "snipwise.mdb")
        n_before = len(acked)
        r = run(["backup", "--data-dir", src.data_dir, "--to", out])
        n_after = len(acked)
        wait_until("more of Busy's mail", lambda: len(acked) >= n_after + 5)
    finally:
        stop.set()
        th.join(timeout=60)
    assert not errors, errors
    assert r.returncode == 0, explain(r)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out + ".sha256").st_mode) == 0o600
    assert [n for n in os.listdir(work)] and sorted(os.listdir(work)) == [
        "snipwise.mdb", "snipwise.mdb.sha256"], "temporary files left over"
    if shutil.which("sha256sum"):
        c = subprocess.run(["sha256sum", "-c", "snipwise.mdb.sha256"],
                           cwd=work, capture_output=True, text=True,
                           timeout=CLI_TIMEOUT)
        assert c.returncode == 0, c.stdout + c.stderr
    # The quiet team's answers did not change while the copy ran.
    assert quiet.answers() == before

    # Restore into a new directory (its last component is created).
    dst = snipd_factory(start=False)
    r = run(["restore", out, "--data-dir", dst.data_dir])
    assert r.returncode == 0, explain(r)
    assert "admin.key" in r.stdout  # says what to do with the key files
    assert stat.S_IMODE(os.stat(os.path.join(dst.data_dir,
                                             "data.mdb")).st_mode) == 0o600
    assert not os.path.exists(os.path.join(dst.data_dir, "admin.key"))
    r = run(["check", "--data-dir", dst.data_dir])
    assert r.returncode == 0, explain(r)
    # A second restore into the now non-empty directory is refused.
    r = run(["restore", out, "--data-dir", dst.data_dir])
    assert r.returncode == 2 and "is not empty" in r.stderr, explain(r)
    # The procedure of docs/OPERATIONS.md: the key files come from the old
    # data directory; the store holds their hashes.
    for name in ["admin.key", "demo.key"]:
        shutil.copy2(os.path.join(src.data_dir, name),
                     os.path.join(dst.data_dir, name))
        os.chmod(os.path.join(dst.data_dir, name), 0o600)
    dst.start()
    assert "event=store.created" not in dst.stderr
    rq = Team(dst, quiet_key)
    rb = Team(dst, busy_key)

    # Quiet: the same answers as the source. The snippet index is derived
    # state that the new server builds from the store after it starts, so
    # wait for it (bounded) before comparing.
    wait_until("the restored index", lambda: rq.answers() == before,
               explain=lambda: diff(rq.answers(), before))

    # Busy: a prefix of the acknowledged order, no gaps, nothing extra.
    got = rb.thread_ids()
    k = len(got)
    print("busy: acked before the backup %d, restored %d, acked after %d" %
          (n_before, k, n_after))
    assert n_before <= k <= n_after + 1, (n_before, k, n_after)
    assert sorted(got) == sorted(acked[:k])
    def stored(t):
        # Outcome fields come from the ranking statistics, derived state
        # that each server builds in the background (as the index).
        t.ClearField("best_outcome")
        t.ClearField("outcome_counts")
        return t.SerializeToString(deterministic=True)

    src_threads = {t.thread_id: stored(t) for t in busy.threads()}
    for t in rb.threads():
        assert t.email_count == 1
        assert stored(t) == src_threads[t.thread_id]
    # The restored server takes writes.
    assert rb.mail(busy_mail(10 ** 6)).thread_id not in acked
    src.stop()
    dst.stop()


def test_restore_checks_the_checksum_and_leaves_the_target_alone(snipd):
    work = scratch_dir("badbackup-")
    out = os.path.join(work, "b.mdb")
    r = run(["backup", "--data-dir", snipd.data_dir, "--to", out])
    assert r.returncode == 0, explain(r)
    target = os.path.join(work, "new")
    # One flipped byte: refused, and the new directory is gone again.
    with open(out, "r+b") as f:
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 0xff]))
    r = run(["restore", out, "--data-dir", target])
    assert r.returncode == 1 and "does not match its checksum" in r.stderr, \
        explain(r)
    assert not os.path.exists(target)
    # No checksum file: refused before anything is written.
    os.unlink(out + ".sha256")
    r = run(["restore", out, "--data-dir", target])
    assert r.returncode == 2 and out + ".sha256" in r.stderr, explain(r)
    assert not os.path.exists(target)
    # A file that is not a store, with a matching checksum: refused, and an
    # existing empty target is left empty.
    with open(out, "wb") as f:
        f.write(os.urandom(65536))
    if shutil.which("sha256sum"):
        subprocess.run("sha256sum b.mdb > b.mdb.sha256", shell=True, cwd=work,
                       check=True, timeout=CLI_TIMEOUT)
        os.mkdir(target)
        r = run(["restore", out, "--data-dir", target])
        assert r.returncode == 2 and "not a Snipwise backup" in r.stderr, \
            explain(r)
        assert os.listdir(target) == []
