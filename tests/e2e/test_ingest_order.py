"""Threading does not depend on arrival order (issue 16): one mail set, the
corpus's real mail plus generated conversations whose replies name parents
that come later, ingested in three orders into three fresh teams, gives
the same threads (as sets of messages), the same outcomes per thread once
extraction has settled, and a clean `snipd check`."""

import collections
import email.parser
import email.policy
import random
import time

import grpc
from snipwise.v1 import ingest_pb2, outcome_pb2, outcome_pb2_grpc, team_pb2

from e2e_lib import create_team
from ingest_lib import Mail, corpus_messages
from test_ingest import snipd_check

SETTLE_TIMEOUT = 240.0
CONVERSATIONS = 40
DAY_MS = 24 * 3600 * 1000
BASE_S = 1772442000  # Mon, 2 Mar 2026 09:00:00 +0000


def message_id(raw):
    """The Message-ID of raw mail without brackets, or "" when none."""
    try:
        h = email.parser.BytesHeaderParser(
            policy=email.policy.compat32).parsebytes(raw)
        v = h.get("Message-ID")
    except Exception:  # a malformed corpus file: no id to dedupe on
        return ""
    return str(v).strip().strip("<>").strip() if v else ""


def msg(mid, frm, to, subject, day, body, irt=None, refs=()):
    lines = ["Message-ID: <%s>" % mid, "From: %s" % frm, "To: %s" % to,
             "Subject: %s" % subject,
             "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                        time.gmtime(BASE_S + day * 86400))]
    if irt:
        lines.append("In-Reply-To: <%s>" % irt)
    if refs:
        lines.append("References: " + " ".join("<%s>" % r for r in refs))
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
              "", body, ""]
    return "\r\n".join(lines).encode()


def conversations():
    """[(ref, bytes)]: per prospect a pitch, a reply naming it, the rep's
    answer naming only the reply, a subject-only follow-up, and every
    fourth conversation a note whose References join it to the next,
    which has the same subject."""
    out = []
    for i in range(CONVERSATIONS):
        rep = "rep%d@acme.example" % (i % 3)
        who = "buyer%d@prospect%d.example" % (i, i)
        # Two conversations share each subject; a note links every
        # second pair (the rest stay apart: different people).
        subj = "Pilot for team %d" % (i - i % 2)
        d = i % 20
        root = "pitch.%d@acme.example" % i
        reply = "reply.%d@prospect%d.example" % (i, i)
        answer = "answer.%d@acme.example" % i
        out.append(("gen/%d/pitch" % i,
                    msg(root, rep, who, subj, d, "Would a pilot help?")))
        out.append(("gen/%d/reply" % i,
                    msg(reply, who, rep, "Re: " + subj, d + 1,
                        "Yes, sounds great. Let's book a meeting next week.",
                        irt=root, refs=(root,))))
        out.append(("gen/%d/answer" % i,
                    msg(answer, rep, who, "Re: " + subj, d + 2,
                        "Booked for Tuesday.", irt=reply, refs=(reply,))))
        out.append(("gen/%d/followup" % i,
                    msg("follow.%d@prospect%d.example" % (i, i), who, rep,
                        "RE: " + subj.lower(), d + 3,
                        "Not interested any more, please remove me.")))
        if i % 4 == 0 and i + 1 < CONVERSATIONS:
            nxt = "pitch.%d@acme.example" % (i + 1)
            out.append(("gen/%d/link" % i,
                        msg("link.%d@ops.example" % i, "ops@ops.example",
                            "desk@ops.example", "Notes %d" % i, d + 4,
                            "Both deals in one call.", refs=(root, nxt))))
    return out


def mail_set():
    """The corpus (one copy per Message-ID, so every order stores the same
    bytes) and the generated conversations."""
    seen, out = set(), []
    for ref, raw in corpus_messages():
        mid = message_id(raw)
        if mid and mid in seen:
            continue
        seen.add(mid)
        out.append((ref, raw))
    return out + conversations()


class Team:
    def __init__(self, snipd, admin, name):
        _, key = create_team(admin, name)
        self.client = snipd.client(key)
        self.client.team.AddTeamDomain(
            team_pb2.AddTeamDomainRequest(domain="acme.example"))
        self.mail = Mail(snipd, key)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(snipd.channel())

    def ingest(self, msgs):
        r = self.mail.stream(msgs)
        assert r.new_count + r.duplicate_count + r.rejected_count == len(msgs)

    def threads(self, msgs):
        """frozenset of frozensets of refs: the threads, each as the refs of
        its messages (read by ingesting each message again: a duplicate's
        answer names its stored email's thread as it is now), and the map
        thread id -> its group."""
        by_thread = collections.defaultdict(set)
        for ref, raw in msgs:
            try:
                r = self.mail.call(self.mail.ingest, "IngestEmail",
                                   ingest_pb2.IngestEmailRequest(
                                       raw_mime=raw, client_ref=ref))
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, ref
                continue
            assert r.status == ingest_pb2.INGEST_STATUS_DUPLICATE, ref
            by_thread[r.thread_id].add(ref)
        groups = {t: frozenset(refs) for t, refs in by_thread.items()}
        return frozenset(groups.values()), groups

    def pending(self):
        return self.client.team.GetMyTeam(
            team_pb2.GetMyTeamRequest()).pending_extraction_jobs

    def outcomes(self):
        out, token = [], ""
        for _ in range(1000):
            r = self.outcome.ListOutcomes(
                outcome_pb2.ListOutcomesRequest(page_size=500,
                                                page_token=token),
                metadata=self.mail.md, timeout=30)
            out += list(r.outcomes)
            token = r.next_page_token
            if not token:
                return out
        raise AssertionError("ListOutcomes did not end")


def settle(teams):
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if all(t.pending() == 0 for t in teams):
            return
        time.sleep(0.2)
    raise AssertionError("extraction did not settle: %s" %
                         [t.pending() for t in teams])


def test_three_orders_one_result(snipd, admin):
    msgs = mail_set()
    assert len(msgs) > 400
    rnd = random.Random(16)
    shuffled = list(msgs)
    rnd.shuffle(shuffled)
    orders = {"path": msgs, "reversed": list(reversed(msgs)),
              "shuffled": shuffled}
    teams = {}
    for name, order in orders.items():
        teams[name] = Team(snipd, admin, "Order " + name)
        teams[name].ingest(order)
    settle(list(teams.values()))
    results = {}
    for name, t in teams.items():
        threads, groups = t.threads(msgs)
        per_thread = collections.Counter()
        for o in t.outcomes():
            if o.thread_id not in groups:
                e = t.mail.get_email(email_id=o.email_id)
                raise AssertionError("%s: outcome on %s, its email %s on %s" %
                                     (name, o.thread_id, e.message_id,
                                      e.thread_id))
            per_thread[(groups[o.thread_id], o.kind)] += 1
        results[name] = (threads, per_thread)
        print("\n%s: %d messages in %d threads, %d outcomes" %
              (name, len(msgs), len(threads), sum(per_thread.values())))
    base_threads, base_outcomes = results["path"]
    for name in ("reversed", "shuffled"):
        threads, outcomes = results[name]
        only_base = sorted(sorted(g) for g in base_threads - threads)[:5]
        only_this = sorted(sorted(g) for g in threads - base_threads)[:5]
        assert threads == base_threads, (name, only_base, only_this)
        assert outcomes == base_outcomes, name
    # The generated conversations: each one thread, those linked by a note
    # merged, and each positive reply's outcome on it.
    gen = [g for g in base_threads if any(r.startswith("gen/") for r in g)]
    assert len(gen) == CONVERSATIONS - (CONVERSATIONS + 3) // 4
    assert sum(base_outcomes.values()) >= CONVERSATIONS
    r = snipd_check(snipd.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
