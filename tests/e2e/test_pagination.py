"""One pagination for every List and Search method (AIP-158, issue 18):
page_size may change between pages, page tokens are opaque (they name
neither the team nor a stored key) and bound to the method, the team and
the request's other fields: an altered token, one from another method or
team, or one reused with a changed filter is INVALID_ARGUMENT with reason
PAGE_TOKEN_INVALID and field page_token."""

import base64
import time

import grpc
import pytest
from snipwise.v1 import (admin_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc,
                         llm_pb2, llm_pb2_grpc, mailbox_pb2,
                         mailbox_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         ranking_pb2, ranking_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2)

from e2e_lib import RPC_TIMEOUT, create_team, expect_reason

LOAD_TIMEOUT = 180.0  # the demo sample loads in seconds (longer under ASan)

N = 5  # items of each kind; pages of 2 make three pages


def page_all(call, make, field, size, token=""):
    """Every item from token on, in pages of size."""
    out = []
    for _ in range(1000):
        r = call(make(page_size=size, page_token=token))
        out += list(getattr(r, field))
        token = r.next_page_token
        if not token:
            return out
    pytest.fail("paging does not end")


def tampered(token):
    """The token with one character of its body changed."""
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def check(call, make, field, ident, n, changed=None, other=None):
    """The AIP-158 checks on one list method: make(**kw) builds its request
    (the filters fixed), ident(item) names an item, n items exist; changed
    (kw) is the same request with a filter changed; other is a call of the
    same method by another team."""
    all2 = [ident(x) for x in page_all(call, make, field, 2)]
    assert len(all2) == n and len(set(all2)) == n, all2
    # Default page size, and a page_size over the maximum is capped.
    assert [ident(x) for x in page_all(call, make, field, 0)] == all2
    assert [ident(x) for x in page_all(call, make, field, 100000)] == all2
    # A changed page_size carries on where the last page ended.
    first = call(make(page_size=2, page_token=""))
    token = first.next_page_token
    assert token
    rest = page_all(call, make, field, 1, token)
    assert [ident(x) for x in getattr(first, field)] + \
        [ident(x) for x in rest] == all2
    # Opaque: the team id is not in it, even decoded.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"team_" not in raw and "team_" not in token
    # Altered, or reused with a changed filter, or by another team.
    _, info, bad = expect_reason(grpc.StatusCode.INVALID_ARGUMENT,
                                 "PAGE_TOKEN_INVALID", call,
                                 make(page_size=2, page_token=tampered(token)))
    assert [v.field for v in bad.field_violations] == ["page_token"]
    if changed is not None:
        expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                      call, changed(page_size=2, page_token=token))
    if other is not None:
        expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                      other, make(page_size=2, page_token=token))
    expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", call,
                  make(page_size=-1))
    return token


def bound(stub, key):
    md = (("authorization", "Bearer " + key),)
    return lambda name: (lambda req: getattr(stub, name)(
        req, metadata=md, timeout=RPC_TIMEOUT))


@pytest.fixture
def world(snipd):
    """Two teams; team A holds N of everything listable."""
    admin = snipd.admin()
    a_id, a_key = create_team(admin, "Paging A")
    b_id, b_key = create_team(admin, "Paging B")
    for i in range(N - 2):
        create_team(admin, "Paging extra %d" % i)
    a = snipd.client(a_key)
    for i in range(N):
        a.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email="rep%d@a.example" % i)))
        a.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(
            domain="d%d.example" % i))
        a.team.CreateRepKey(team_pb2.CreateRepKeyRequest(
            rep_email="rep%d@a.example" % i))
        admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
            team_id=a_id, display_name="k%d" % i))
    ingest = bound(ingest_pb2_grpc.IngestServiceStub(snipd.channel()), a_key)
    threads = []
    for i in range(N):
        pe = ingest_pb2.ParsedEmail(
            message_id="p%d@d0.example" % i, from_address="rep0@a.example",
            to_addresses=["buyer%d@prospect.example" % i],
            subject="Subject %d" % i, text_body="Hello %d" % i,
            sent_time_unix_ms=1772532000000 + i * 60000)
        pe.attachments.append(ingest_pb2.Attachment(
            filename="f%d.txt" % i, content_type="text/plain",
            data=b"File number %d of the paging test.\n" % i))
        threads.append(ingest("IngestEmail")(
            ingest_pb2.IngestEmailRequest(parsed=pe)).thread_id)
    outcome = bound(outcome_pb2_grpc.OutcomeServiceStub(snipd.channel()),
                    a_key)
    for i in range(N):
        outcome("RecordOutcome")(outcome_pb2.RecordOutcomeRequest(
            thread_id=threads[0], kind=common_pb2.OUTCOME_KIND_POSITIVE_REPLY,
            idempotency_key="o%d" % i, occur_time_unix_ms=1772532000000 + i))
    return {"admin": admin, "a_id": a_id, "a_key": a_key, "b_id": b_id,
            "b_key": b_key, "threads": threads}


def test_team_and_admin_lists(snipd, world):
    admin = world["admin"]
    a = snipd.client(world["a_key"])
    b = snipd.client(world["b_key"])
    teams = admin.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    check(admin.admin.ListTeams, admin_pb2.ListTeamsRequest, "teams",
          lambda t: t.team_id, len(teams))
    keys = lambda **kw: admin_pb2.ListApiKeysRequest(team_id=world["a_id"],
                                                      **kw)
    # The team's first key, N made by the admin and N rep keys.
    check(admin.admin.ListApiKeys, keys, "keys", lambda k: k.key_id, 2 * N + 1,
          changed=lambda **kw: admin_pb2.ListApiKeysRequest(
              team_id=world["b_id"], **kw))
    tm = check(a.team.ListTeamMembers, team_pb2.ListTeamMembersRequest,
               "members", lambda m: m.email, N, other=b.team.ListTeamMembers)
    check(a.team.ListTeamDomains, team_pb2.ListTeamDomainsRequest, "domains",
          lambda d: d.domain, N, other=b.team.ListTeamDomains)
    check(a.team.ListRepKeys, team_pb2.ListRepKeysRequest, "keys",
          lambda k: k.key_id, N, other=b.team.ListRepKeys)
    # A token of one method is refused by another with the same shape.
    expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                  a.team.ListTeamDomains,
                  team_pb2.ListTeamDomainsRequest(page_size=2, page_token=tm))


def test_mail_and_outcome_lists(snipd, world):
    ch = snipd.channel()
    a_ing = bound(ingest_pb2_grpc.IngestServiceStub(ch), world["a_key"])
    b_ing = bound(ingest_pb2_grpc.IngestServiceStub(ch), world["b_key"])
    check(a_ing("ListThreads"), ingest_pb2.ListThreadsRequest, "threads",
          lambda t: t.thread_id, N,
          changed=lambda **kw: ingest_pb2.ListThreadsRequest(
              rep_email="rep0@a.example", **kw),
          other=b_ing("ListThreads"))
    a_snip = bound(snippet_pb2_grpc.SnippetServiceStub(ch), world["a_key"])
    check(a_snip("ListContents"), snippet_pb2.ListContentsRequest, "contents",
          lambda c: c.content_id, N,
          changed=lambda **kw: snippet_pb2.ListContentsRequest(
              kinds=[common_pb2.CONTENT_KIND_TEXT], **kw))
    a_out = bound(outcome_pb2_grpc.OutcomeServiceStub(ch), world["a_key"])
    th = world["threads"]
    check(a_out("ListOutcomes"),
          lambda **kw: outcome_pb2.ListOutcomesRequest(thread_id=th[0], **kw),
          "outcomes", lambda o: o.outcome_id, N,
          changed=lambda **kw: outcome_pb2.ListOutcomesRequest(
              thread_id=th[1], **kw))


def test_threads_stable_while_mail_arrives(snipd):
    """ListThreads pages over the order of its first page: a thread that
    gets mail while a client pages (and so becomes the most recent) keeps
    its place, so every thread that existed at the first page is listed
    exactly once; a thread begun meanwhile waits for a new listing."""
    admin = snipd.admin()
    _, key = create_team(admin, "Paging mail")
    snipd.client(key).team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="rep@s.example")))
    ing = bound(ingest_pb2_grpc.IngestServiceStub(snipd.channel()), key)
    t0 = 1772532000000

    def mail(mid, subject, ms, reply_to=""):
        pe = ingest_pb2.ParsedEmail(
            message_id=mid, in_reply_to=reply_to, subject=subject,
            from_address="rep@s.example",
            to_addresses=["buyer-%s@prospect.example" % subject[-1]],
            text_body="About %s" % subject, sent_time_unix_ms=ms)
        return ing("IngestEmail")(
            ingest_pb2.IngestEmailRequest(parsed=pe)).thread_id

    ids = [mail("s%d@s.example" % i, "Topic %d" % i, t0 + i * 60000)
           for i in range(7)]
    first_order = ids[::-1]  # most recently active first
    listed, token, late = [], "", t0 + 10 ** 7
    for page in range(10):
        r = ing("ListThreads")(ingest_pb2.ListThreadsRequest(
            page_size=2, page_token=token))
        listed += [t.thread_id for t in r.threads]
        token = r.next_page_token
        if not token:
            break
        # The oldest thread not listed yet gets a reply: it is now the most
        # recently active one, ahead of the cursor. A new thread begins.
        waiting = [t for t in ids if t not in listed]
        i = ids.index(waiting[0])
        assert mail("r%d@s.example" % page, "Re: Topic %d" % i,
                    late + page, reply_to="s%d@s.example" % i) == ids[i]
        mail("n%d@s.example" % page, "New %d" % page, late + 100 + page)
    assert listed == first_order
    # A new listing shows the threads as they are now.
    now = page_all(ing("ListThreads"), ingest_pb2.ListThreadsRequest,
                   "threads", 3)
    assert len(now) == 7 + 3
    assert now[0].thread_id not in ids


def sample_loaded(snipd):
    """Waits (bounded) until the demo team's sample is loaded: no
    extraction job left, statistics current, a model serving."""
    team = snipd.client(snipd.demo_key).team
    model = bound(ranking_pb2_grpc.RankingServiceStub(snipd.channel()),
                  snipd.demo_key)("GetModel")
    end = time.monotonic() + LOAD_TIMEOUT
    while time.monotonic() < end:
        t = team.GetMyTeam(team_pb2.GetMyTeamRequest())
        if t.pending_extraction_jobs == 0 and t.statistics.current:
            try:
                return model(ranking_pb2.GetModelRequest())
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, e
        time.sleep(0.05)
    pytest.fail("the demo sample never loaded")


def rerank(snipd, rk, n):
    """n re-ranking jobs run one after the other, each to its end."""
    md = (("authorization", "Bearer " + snipd.demo_key),)
    stub = ranking_pb2_grpc.RankingServiceStub(snipd.channel())
    for _ in range(n):
        job = rk("StartRerank")(ranking_pb2.StartRerankRequest(
            force_promote=True))
        for j in stub.WatchRerankJob(ranking_pb2.WatchRerankJobRequest(
                job_id=job.job_id), metadata=md, timeout=LOAD_TIMEOUT):
            if j.state >= ranking_pb2.RERANK_JOB_STATE_SUCCEEDED:
                break
        assert j.state == ranking_pb2.RERANK_JOB_STATE_SUCCEEDED, j


def test_journal_pages(snipd_factory):
    s = snipd_factory(sample=True)
    sample_loaded(s)
    llm = bound(llm_pb2_grpc.LlmServiceStub(s.channel()),
                s.demo_key)("ListJournal")
    entries = page_all(llm, llm_pb2.ListJournalRequest, "entries", 1000)
    assert len(entries) >= 3
    check(llm, llm_pb2.ListJournalRequest, "entries", lambda e: e.attempt_id,
          len(entries), changed=lambda **kw: llm_pb2.ListJournalRequest(
              job_id=entries[0].job_id, **kw))


def test_search_pages(snipd_factory):
    s = snipd_factory(sample=True)
    sample_loaded(s)
    search = bound(snippet_pb2_grpc.SnippetServiceStub(s.channel()),
                   s.demo_key)("SearchSnippets")
    q = lambda **kw: snippet_pb2.SearchSnippetsRequest(
        text="pricing security review plans", **kw)
    hits = page_all(search, q, "results", 100)
    assert len(hits) >= 3
    check(search, q, "results", lambda h: h.snippet.snippet_id, len(hits),
          changed=lambda **kw: snippet_pb2.SearchSnippetsRequest(
              text="pricing security review plans",
              rep_email="robin.larsen@northwind-analytics.example", **kw))


def test_model_and_rerank_job_pages(snipd_factory):
    s = snipd_factory(sample=True)
    sample_loaded(s)
    rk = bound(ranking_pb2_grpc.RankingServiceStub(s.channel()), s.demo_key)
    rerank(s, rk, 3)
    models = page_all(rk("ListModels"), ranking_pb2.ListModelsRequest,
                      "models", 1000)
    assert len(models) >= 4
    check(rk("ListModels"), ranking_pb2.ListModelsRequest, "models",
          lambda m: m.model_version, len(models))
    check(rk("ListRerankJobs"), ranking_pb2.ListRerankJobsRequest, "jobs",
          lambda j: j.job_id, 3)


def test_feedback_pages(snipd_factory):
    s = snipd_factory(sample=True)
    sample_loaded(s)
    ch, key = s.channel(), s.demo_key
    r = bound(suggest_pb2_grpc.SuggestServiceStub(ch), key)("Suggest")(
        suggest_pb2.SuggestRequest(
            draft_text="Here is our security review material and pricing",
            max_framings=3))
    item = (r.framings or r.contents)[0].item_id
    out = bound(outcome_pb2_grpc.OutcomeServiceStub(ch), key)
    for i in range(N):
        out("RecordFeedback")(outcome_pb2.RecordFeedbackRequest(
            suggestion_id=r.suggestion_id, item_id=item,
            kind=outcome_pb2.FEEDBACK_KIND_INSERTED, idempotency_key="f%d" % i,
            rep_email="robin.larsen@northwind-analytics.example"))
    check(out("ListFeedback"), outcome_pb2.ListFeedbackRequest, "feedback",
          lambda f: f.feedback_id, N,
          changed=lambda **kw: outcome_pb2.ListFeedbackRequest(
              rep_email="chen.nguyen@northwind-analytics.example", **kw))


def test_mailbox_pages(snipd):
    key = snipd.demo_key
    snipd.client(key).team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="rep@seller.example")))
    mbx = bound(mailbox_pb2_grpc.MailboxServiceStub(snipd.channel()), key)
    for i in range(N):
        mbx("CreateMailbox")(mailbox_pb2.CreateMailboxRequest(
            rep_email="rep@seller.example", host="127.0.0.1", port=9,
            username="rep%d" % i,
            tls_mode=mailbox_pb2.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY,
            auth=mailbox_pb2.MailboxAuth(password="pw")))
    check(mbx("ListMailboxes"), mailbox_pb2.ListMailboxesRequest, "mailboxes",
          lambda m: m.mailbox_id, N)
