"""The simulator's only channel to snipd: the public gRPC API, called the
way a mail connector, a CRM and a rep's plugin would (IngestEmail,
RecordOutcome, Suggest, RecordFeedback, RunRerank). A capability that
answers UNIMPLEMENTED is noted once and not called again; other errors are
counted by method and status code and the run goes on.

OfflineLink stands in when there is no snipd (or it cannot ingest): every
call is a no-op, so the world model still runs."""

import os
import time

import grpc

RPC_TIMEOUT = 60.0
RERANK_TIMEOUT = 600.0
# Longest wait for the extraction worker to drain before a Suggest or the
# nightly job (seconds).
SETTLE_TIMEOUT = 60.0


class OfflineLink:
    """No snipd: nothing is sent, nothing is answered."""

    online = False

    def __init__(self):
        self.caps = {}
        self.calls = {}

    def has(self, cap):
        return False

    def ingest(self, raw):
        return None

    def record_outcome(self, message_id, kind, when_ms, key, note=""):
        return None

    def suggest(self, **kw):
        return None

    def feedback(self, suggestion_id, item_id, kind, rep, when_ms, key):
        return None

    def rerank(self):
        return None

    def settle(self):
        return None

    def count_threads(self):
        return None

    def reply_kind(self, email_id):
        return None


class SnipdLink:
    """A team on a running snipd, with its reps and domain registered."""

    online = True

    def __init__(self, addr, admin_key, world):
        from snipwise.v1 import (admin_pb2, admin_pb2_grpc, ingest_pb2,
                                 ingest_pb2_grpc, outcome_pb2,
                                 outcome_pb2_grpc, ranking_pb2,
                                 ranking_pb2_grpc, suggest_pb2,
                                 suggest_pb2_grpc, team_pb2, team_pb2_grpc)
        self.pb = {"admin": admin_pb2, "ingest": ingest_pb2,
                   "outcome": outcome_pb2, "ranking": ranking_pb2,
                   "suggest": suggest_pb2, "team": team_pb2}
        self.channel = grpc.insecure_channel(addr)
        self.caps = {}  # capability -> "ok" | "unimplemented"
        self.calls = {}  # method -> {"ok": n, "errors": {code: n}}
        admin_md = (("authorization", "Bearer " + admin_key),)
        admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        r = admin.CreateTeam(admin_pb2.CreateTeamRequest(
            display_name=world.s["team_name"]), metadata=admin_md,
            timeout=RPC_TIMEOUT)
        self.team_id = r.team.team_id
        self.md = (("authorization", "Bearer " + r.api_key),)
        team = team_pb2_grpc.TeamServiceStub(self.channel)
        team.AddTeamDomain(team_pb2.AddTeamDomainRequest(
            domain=world.s["domain"]), metadata=self.md, timeout=RPC_TIMEOUT)
        for rep in world.reps:
            team.AddTeamMember(team_pb2.AddTeamMemberRequest(
                member=team_pb2.TeamMember(email=rep.email,
                                           display_name=rep.name)),
                metadata=self.md, timeout=RPC_TIMEOUT)
        self.ingest_stub = ingest_pb2_grpc.IngestServiceStub(self.channel)
        self.outcome_stub = outcome_pb2_grpc.OutcomeServiceStub(self.channel)
        self.suggest_stub = suggest_pb2_grpc.SuggestServiceStub(self.channel)
        self.ranking_stub = ranking_pb2_grpc.RankingServiceStub(self.channel)
        self.team_stub = team

    def settle(self):
        """Waits (bounded) until snipd's extraction worker has processed
        every mail ingested so far and the ranking statistics count it all,
        so that what Suggest and the nightly job see does not depend on
        timing. The polls are not counted in the
        report's call counts."""
        pb = self.pb["team"]
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                t = self.team_stub.GetMyTeam(pb.GetMyTeamRequest(),
                                             metadata=self.md,
                                             timeout=RPC_TIMEOUT)
            except grpc.RpcError:
                return
            # Suggest answers from statistics built in the background:
            # also wait until they count everything stored (and an older
            # snipd, without the field, is settled by the jobs alone).
            if t.pending_extraction_jobs == 0 and (
                    not t.HasField("statistics") or t.statistics.current):
                return
            time.sleep(0.01)

    def close(self):
        self.channel.close()

    def has(self, cap):
        return self.caps.get(cap) != "unimplemented"

    def _count(self, method, code=None):
        c = self.calls.setdefault(method, {"ok": 0, "errors": {}})
        if code is None:
            c["ok"] += 1
        else:
            c["errors"][code] = c["errors"].get(code, 0) + 1

    def _call(self, method, fn, req, timeout=RPC_TIMEOUT):
        if not self.has(method):
            return None
        try:
            resp = fn(req, metadata=self.md, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.caps[method] = "unimplemented"
                return None
            self._count(method, e.code().name)
            return None
        self.caps[method] = "ok"
        self._count(method)
        return resp

    def ingest(self, raw):
        pb = self.pb["ingest"]
        return self._call("IngestEmail", self.ingest_stub.IngestEmail,
                          pb.IngestEmailRequest(raw_mime=raw))

    def record_outcome(self, message_id, kind, when_ms, key, note=""):
        pb = self.pb["outcome"]
        return self._call(
            "RecordOutcome", self.outcome_stub.RecordOutcome,
            pb.RecordOutcomeRequest(message_id=message_id, kind=kind,
                                    occur_time_unix_ms=when_ms,
                                    idempotency_key=key, note=note))

    def suggest(self, mode, thread_id="", in_reply_to="", recipients=(),
                draft="", rep_email="", k=10, thread_text=None):
        """thread_text: (subject, message) sent as the thread instead of
        its id, with no sender (so nothing names the account)."""
        pb = self.pb["suggest"]
        req = pb.SuggestRequest(recipients=list(recipients), draft_text=draft,
                                rep_email=rep_email, max_contents=k,
                                max_framings=k, mode=mode)
        if thread_text is not None:
            req.thread_text.subject = thread_text[0]
            req.thread_text.messages.add(text=thread_text[1])
        elif thread_id:
            req.thread_id = thread_id
        elif in_reply_to:
            req.in_reply_to_message_id = in_reply_to
        if self.has("Suggest"):
            self.settle()
        return self._call("Suggest", self.suggest_stub.Suggest, req)

    def feedback(self, suggestion_id, item_id, kind, rep, when_ms, key):
        pb = self.pb["outcome"]
        return self._call(
            "RecordFeedback", self.outcome_stub.RecordFeedback,
            pb.RecordFeedbackRequest(suggestion_id=suggestion_id,
                                     item_id=item_id, kind=kind,
                                     rep_email=rep, time_unix_ms=when_ms,
                                     idempotency_key=key))

    def rerank(self):
        """Runs the nightly job and waits for its end; returns the last
        RerankResult seen, or None."""
        if not self.has("RunRerank"):
            return None
        pb = self.pb["ranking"]
        last = None
        self.settle()
        try:
            for prog in self.ranking_stub.RunRerank(
                    pb.RunRerankRequest(), metadata=self.md,
                    timeout=RERANK_TIMEOUT):
                if prog.HasField("result"):
                    last = prog.result
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.caps["RunRerank"] = "unimplemented"
                return None
            self._count("RunRerank", e.code().name)
            return None
        self.caps["RunRerank"] = "ok"
        self._count("RunRerank")
        # SIM_RERANK_LOG=FILE appends each run's report (the adapter's
        # holdout figures among them) to FILE; the run is unchanged.
        log = os.environ.get("SIM_RERANK_LOG")
        if log and last is not None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(last.model.report + "\n")
        return last

    def count_threads(self):
        """Number of threads snipd holds for the team (ListThreads pages),
        or None if it cannot say."""
        pb = self.pb["ingest"]
        n, token = 0, ""
        for _ in range(100000):
            r = self._call("ListThreads", self.ingest_stub.ListThreads,
                           pb.ListThreadsRequest(page_size=500,
                                                 page_token=token))
            if r is None:
                return None
            n += len(r.threads)
            token = r.next_page_token
            if not token:
                return n
        return None

    def reply_kind(self, email_id):
        """The reply kind snipd classified an ingested email as (an
        OutcomeKind value), or None if it cannot say."""
        pb = self.pb["ingest"]
        r = self._call("GetEmail", self.ingest_stub.GetEmail,
                       pb.GetEmailRequest(email_id=email_id))
        return None if r is None else r.reply_kind
