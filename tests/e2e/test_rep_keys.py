"""Rep keys (ROLE_REP, issue 17): a key bound to one team member, made by
the team's admin key (TeamService.CreateRepKey) or the server admin
(AdminService.CreateApiKey, `snipctl admin create-key TEAM --rep EMAIL`).
It may Suggest, record feedback and read, as its rep only; it is refused
(PERMISSION_DENIED, REP_KEY_NOT_ALLOWED) on everything that manages the
team; a request's rep_email is filled from it or must match it
(REP_IDENTITY_MISMATCH); feedback is tied to its rep (ListFeedback);
removing the member revokes it; and team keys work as before."""

import json
import subprocess

import grpc
from snipwise.v1 import (admin_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc,
                         llm_pb2, llm_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         ranking_pb2, ranking_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2)

from e2e_lib import (auth_md, create_team, expect_error, expect_reason,
                     list_all, snipctl_path)

C = grpc.StatusCode
DENIED = "REP_KEY_NOT_ALLOWED"
MISMATCH = "REP_IDENTITY_MISMATCH"
DEMO_REP = "robin.larsen@northwind-analytics.example"
DEMO_OTHER = "chen.nguyen@northwind-analytics.example"
DRAFT = "Happy to share pricing, the security review and a case study"


def _snipctl(*args, key=None):
    env = {"PATH": "/usr/bin:/bin"}
    if key:
        env["SNIPWISE_KEY"] = key
    return subprocess.run([snipctl_path()] + list(args), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)


class Stubs:
    """Every service's stub, bound to one key's metadata."""

    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.key = key
        self.client = snipd.client(key)
        self.team = self.client.team
        self.admin = self.client.admin
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.suggest = suggest_pb2_grpc.SuggestServiceStub(ch)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(ch)
        self.ranking = ranking_pb2_grpc.RankingServiceStub(ch)
        self.llm = llm_pb2_grpc.LlmServiceStub(ch)

    def call(self, stub, method, req, timeout=60):
        return getattr(stub, method)(req, metadata=self.md, timeout=timeout)

    def rerank(self, req):
        # RunRerank streams; reading it makes the call.
        return list(self.ranking.RunRerank(req, metadata=self.md, timeout=60))


def _rep_key(team, email, name=""):
    r = team.team.CreateRepKey(
        team_pb2.CreateRepKeyRequest(rep_email=email, display_name=name))
    # A rep key is routed like its team's: "<team id>.sk_<64 hex>".
    assert r.api_key.startswith(r.key.team_id + ".sk_") and r.key.key_id
    return r


def _refused(rep, what, fn, *args, **kw):
    """fn must fail PERMISSION_DENIED, REP_KEY_NOT_ALLOWED, naming what."""
    err, info, _ = expect_reason(C.PERMISSION_DENIED, DENIED, fn, *args, **kw)
    assert info.metadata["method"].endswith("/" + what), info.metadata
    assert what in err.details() and "rep key" in err.details()


def test_rep_key_made_by_team_key_and_limited_to_a_rep(snipd, admin):
    team_id, team_key = create_team(admin, "Reps")
    t = Stubs(snipd, team_key)
    for email in ["ana@reps.example", "ben@reps.example"]:
        t.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=email)))
    made = _rep_key(t, "Ana@Reps.example", "Ana's Thunderbird")
    k = made.key
    assert k.role == common_pb2.ROLE_REP
    assert k.rep_email == "ana@reps.example" and k.team_id == team_id
    assert k.display_name == "Ana's Thunderbird" and k.revoke_time_unix_ms == 0
    assert made.api_key.startswith(k.key_prefix)
    # Only a member gets a rep key.
    _, _, bad = expect_reason(
        C.FAILED_PRECONDITION, "REP_NOT_A_MEMBER", t.team.CreateRepKey,
        team_pb2.CreateRepKeyRequest(rep_email="nobody@reps.example"))
    assert [v.field for v in bad.field_violations] == ["rep_email"]
    _, _, bad = expect_reason(C.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                              t.team.CreateRepKey,
                              team_pb2.CreateRepKeyRequest())
    assert [v.field for v in bad.field_violations] == ["rep_email"]

    rep = Stubs(snipd, made.api_key)
    # What a rep does as itself: its team, members, domains and the reads.
    assert rep.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == team_id
    assert len(rep.team.ListTeamMembers(
        team_pb2.ListTeamMembersRequest()).members) == 2
    rep.team.ListTeamDomains(team_pb2.ListTeamDomainsRequest())
    rep.call(rep.ingest, "ListThreads", ingest_pb2.ListThreadsRequest())
    rep.call(rep.outcome, "ListOutcomes", outcome_pb2.ListOutcomesRequest())
    rep.call(rep.outcome, "ListFeedback", outcome_pb2.ListFeedbackRequest())
    rep.call(rep.snippet, "ListContents", snippet_pb2.ListContentsRequest())
    rep.call(rep.ranking, "ListModels", ranking_pb2.ListModelsRequest())
    assert rep.call(rep.suggest, "Suggest", suggest_pb2.SuggestRequest(
        draft_text="pricing")).suggestion_id
    # Everything that manages the team is refused, each naming its method.
    tp = team_pb2
    _refused(rep, "AddTeamMember", rep.team.AddTeamMember,
             tp.AddTeamMemberRequest(member=tp.TeamMember(
                 email="eve@reps.example")))
    _refused(rep, "RemoveTeamMember", rep.team.RemoveTeamMember,
             tp.RemoveTeamMemberRequest(email="ben@reps.example"))
    _refused(rep, "AddTeamDomain", rep.team.AddTeamDomain,
             tp.AddTeamDomainRequest(domain="reps.example"))
    _refused(rep, "RemoveTeamDomain", rep.team.RemoveTeamDomain,
             tp.RemoveTeamDomainRequest(domain="reps.example"))
    _refused(rep, "CreateRepKey", rep.team.CreateRepKey,
             tp.CreateRepKeyRequest(rep_email="ana@reps.example"))
    _refused(rep, "ListRepKeys", rep.team.ListRepKeys,
             tp.ListRepKeysRequest())
    _refused(rep, "RevokeRepKey", rep.team.RevokeRepKey,
             tp.RevokeRepKeyRequest(key_id=k.key_id))
    _refused(rep, "IngestEmail", rep.call, rep.ingest, "IngestEmail",
             ingest_pb2.IngestEmailRequest(raw_mime=b"Subject: x\r\n\r\nx"))
    _refused(rep, "RecordOutcome", rep.call, rep.outcome, "RecordOutcome",
             outcome_pb2.RecordOutcomeRequest(thread_id="th_x", kind=1,
                                               idempotency_key="o"))
    _refused(rep, "DeleteSnippet", rep.call, rep.snippet, "DeleteSnippet",
             snippet_pb2.DeleteSnippetRequest(snippet_id="sn_x"))
    _refused(rep, "RunRerank", rep.rerank, ranking_pb2.RunRerankRequest())
    _refused(rep, "ListJournal", rep.call, rep.llm, "ListJournal",
             llm_pb2.ListJournalRequest())
    # The admin service stays the admin key's.
    expect_reason(C.PERMISSION_DENIED, "ADMIN_KEY_REQUIRED",
                  rep.admin.ListTeams, admin_pb2.ListTeamsRequest())
    # Nothing the refused calls asked for happened.
    assert [m.email for m in t.team.ListTeamMembers(
        tp.ListTeamMembersRequest()).members] == ["ana@reps.example",
                                                  "ben@reps.example"]
    assert not t.team.ListTeamDomains(tp.ListTeamDomainsRequest()).domains


def test_revoking_and_removing_reps_leaves_other_keys(snipd, admin):
    team_id, team_key = create_team(admin, "Leavers")
    _, other_key = create_team(admin, "Other team")
    t = Stubs(snipd, team_key)
    for email in ["ana@l.example", "ben@l.example"]:
        t.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=email)))
    ana, ana2, ben = (_rep_key(t, "ana@l.example"),
                      _rep_key(t, "ana@l.example"),
                      _rep_key(t, "ben@l.example"))
    team_key_id, = [x.key_id for x in admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=team_id)).keys
                    if x.role == common_pb2.ROLE_TEAM]
    # ListRepKeys lists the rep keys only (not the team key), across pages.
    keys, pages = list_all(t.team.ListRepKeys, team_pb2.ListRepKeysRequest,
                           "keys", 2)
    assert sorted(x.key_id for x in keys) == sorted(
        x.key.key_id for x in (ana, ana2, ben))
    assert pages == 2 and all(x.role == common_pb2.ROLE_REP for x in keys)
    # A team key revokes rep keys only, and only its own team's.
    expect_reason(C.FAILED_PRECONDITION, "NOT_A_REP_KEY", t.team.RevokeRepKey,
                  team_pb2.RevokeRepKeyRequest(key_id=team_key_id))
    expect_error(C.NOT_FOUND, snipd.client(other_key).team.RevokeRepKey,
                 team_pb2.RevokeRepKeyRequest(key_id=ana.key.key_id))
    assert t.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == team_id
    # Revoking one rep key leaves every other key working.
    got = t.team.RevokeRepKey(team_pb2.RevokeRepKeyRequest(
        key_id=ana2.key.key_id))
    assert got.revoke_time_unix_ms > 0 and got.rep_email == "ana@l.example"
    expect_reason(C.UNAUTHENTICATED, "API_KEY_INVALID",
                  snipd.client(ana2.api_key).team.GetMyTeam,
                  team_pb2.GetMyTeamRequest())
    for key in (ana.api_key, ben.api_key, team_key):
        assert snipd.client(key).team.GetMyTeam(
            team_pb2.GetMyTeamRequest()).team_id == team_id
    # Removing a member revokes its rep keys at once, and no others.
    t.team.RemoveTeamMember(team_pb2.RemoveTeamMemberRequest(
        email="Ben@L.example"))
    expect_reason(C.UNAUTHENTICATED, "API_KEY_INVALID",
                  snipd.client(ben.api_key).team.GetMyTeam,
                  team_pb2.GetMyTeamRequest())
    assert snipd.client(ana.api_key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).team_id == team_id
    listed = {x.key_id: x for x in t.team.ListRepKeys(
        team_pb2.ListRepKeysRequest()).keys}
    assert listed[ben.key.key_id].revoke_time_unix_ms > 0
    assert listed[ana.key.key_id].revoke_time_unix_ms == 0
    # Coming back makes a new member, not a revived key.
    t.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="ben@l.example")))
    expect_error(C.UNAUTHENTICATED, snipd.client(ben.api_key).team.GetMyTeam,
                 team_pb2.GetMyTeamRequest())
    # The team key is still the team-admin key it was.
    t.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="l.example"))
    keys = admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=team_id)).keys
    roles = {x.key_id: x.role for x in keys}
    assert roles[team_key_id] == common_pb2.ROLE_TEAM
    assert [x for x in keys if x.key_id == team_key_id][0].rep_email == ""


def test_admin_and_snipctl_make_rep_keys(snipd, admin):
    team_id, team_key = create_team(admin, "Admin reps")
    snipd.client(team_key).team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="cli@rep.example")))
    base = ["--addr", snipd.addr]
    r = _snipctl(*base, "--json", "admin", "create-key", team_id, "--rep",
                 "CLI@rep.example", "--name", "cli rep", key=snipd.admin_key)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["role"] == "ROLE_REP" and got["rep_email"] == "cli@rep.example"
    rep = snipd.client(got["api_key"])
    assert rep.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == team_id
    _refused(rep, "AddTeamMember", rep.team.AddTeamMember,
             team_pb2.AddTeamMemberRequest(member=team_pb2.TeamMember(
                 email="x@rep.example")))
    # A non-member, a missing rep_email, a rep_email on a team key.
    r = _snipctl(*base, "admin", "create-key", team_id, "--rep",
                 "stranger@rep.example", key=snipd.admin_key)
    assert r.returncode != 0 and "not a member" in r.stderr, r.stderr
    _, _, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", admin.admin.CreateApiKey,
        admin_pb2.CreateApiKeyRequest(team_id=team_id,
                                      role=common_pb2.ROLE_REP))
    assert [v.field for v in bad.field_violations] == ["rep_email"]
    _, _, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", admin.admin.CreateApiKey,
        admin_pb2.CreateApiKeyRequest(team_id=team_id,
                                      rep_email="cli@rep.example"))
    assert [v.field for v in bad.field_violations] == ["rep_email"]
    # The team's own snipctl commands.
    r = _snipctl(*base, "--json", "team", "create-rep-key",
                 "cli@rep.example", key=team_key)
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert second["rep_email"] == "cli@rep.example"
    r = _snipctl(*base, "--json", "team", "list-rep-keys", key=team_key)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["keys"]) == 2
    r = _snipctl(*base, "team", "revoke-rep-key", second["key_id"],
                 key=team_key)
    assert r.returncode == 0, r.stderr
    r = _snipctl(*base, "team", "show", key=second["api_key"])
    assert r.returncode == 4, (r.returncode, r.stderr)
    r = _snipctl(*base, "team", "add-domain", "rep.example",
                 key=got["api_key"])
    assert r.returncode == 4 and "rep key" in r.stderr, r.stderr


def test_rep_identity_in_suggest_and_feedback(snipd_factory):
    s = snipd_factory(sample=True)
    s.wait_for_line(r"event=snipd\.demo_loaded ", timeout=120)
    t = Stubs(s, s.demo_key)
    rep = Stubs(s, _rep_key(t, DEMO_REP).api_key)
    other = Stubs(s, _rep_key(t, DEMO_OTHER).api_key)

    def suggest(who, rep_email):
        return who.call(who.suggest, "Suggest", suggest_pb2.SuggestRequest(
            draft_text=DRAFT, rep_email=rep_email, max_contents=3,
            max_framings=3))

    # Suggest: empty (filled from the key) and the key's own are served.
    sug = suggest(rep, "")
    assert sug.framings or sug.contents
    assert suggest(rep, DEMO_REP.upper()).suggestion_id
    # Another rep's identity is refused, naming the field.
    err, info, bad = expect_reason(C.PERMISSION_DENIED, MISMATCH, suggest,
                                   rep, DEMO_OTHER)
    assert [v.field for v in bad.field_violations] == ["rep_email"]
    assert info.metadata["rep_email"] == DEMO_REP
    assert DEMO_OTHER in err.details()
    # A team key still speaks for any rep.
    assert suggest(t, DEMO_OTHER).suggestion_id

    item = (list(sug.framings) + list(sug.contents))[0].item_id

    def feedback(who, rep_email, key, kind=outcome_pb2.FEEDBACK_KIND_SHOWN):
        return who.call(who.outcome, "RecordFeedback",
                        outcome_pb2.RecordFeedbackRequest(
                            suggestion_id=sug.suggestion_id, item_id=item,
                            kind=kind, rep_email=rep_email,
                            idempotency_key=key))

    f1 = feedback(rep, "", "fb-empty")
    f2 = feedback(rep, DEMO_REP, "fb-own",
                  outcome_pb2.FEEDBACK_KIND_INSERTED)
    _, _, bad = expect_reason(C.PERMISSION_DENIED, MISMATCH, feedback, rep,
                              DEMO_OTHER, "fb-other")
    assert [v.field for v in bad.field_violations] == ["rep_email"]
    # The other rep's key is its own rep, whatever suggestion it acts on.
    expect_reason(C.PERMISSION_DENIED, MISMATCH, feedback, other, DEMO_REP,
                  "fb-other-2")
    f3 = feedback(t, DEMO_OTHER, "fb-team")
    # Read back: each record is tied to its rep; the one sent with an empty
    # rep_email to the rep key's.
    fb, _ = list_all(lambda r: t.call(t.outcome, "ListFeedback", r),
                     outcome_pb2.ListFeedbackRequest, "feedback", 1)
    by_id = {x.feedback_id: x for x in fb}
    assert [x.feedback_id for x in fb] == [f3.feedback_id, f2.feedback_id,
                                           f1.feedback_id]
    assert by_id[f1.feedback_id].rep_email == DEMO_REP
    assert by_id[f2.feedback_id].rep_email == DEMO_REP
    assert by_id[f2.feedback_id].kind == outcome_pb2.FEEDBACK_KIND_INSERTED
    assert by_id[f3.feedback_id].rep_email == DEMO_OTHER
    mine = rep.call(rep.outcome, "ListFeedback",
                    outcome_pb2.ListFeedbackRequest(rep_email=DEMO_REP))
    assert [x.feedback_id for x in mine.feedback] == [f2.feedback_id,
                                                     f1.feedback_id]
    # snipctl lists it too.
    r = _snipctl("--addr", s.addr, "--json", "feedback-list", "--rep",
                 DEMO_OTHER, key=s.demo_key)
    assert r.returncode == 0, r.stderr
    assert [x["feedback_id"] for x in json.loads(r.stdout)["feedback"]] == [
        f3.feedback_id]
