"""SnippetService: SearchSnippets, GetSnippet and DeleteSnippet wiring:
empty indexes, every validation path, team scoping of ids, and a snippet
the extraction worker made from ingested mail, deleted. The index itself
(snapshots, replay, kill -9, isolation with identical text, filters and
pages over real snippets) is tested at the C level in
tests/ranker/index_test.c."""

import time

import grpc
import pytest
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc,
                         snippet_pb2, snippet_pb2_grpc)

from e2e_lib import create_team, expect_error, expect_reason

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def stub(snipd, key=None):
    c = snipd.client(snipd.demo_key if key is None else key)
    return c, snippet_pb2_grpc.SnippetServiceStub(c.channel)


def call(c, fn, req):
    return fn(req, metadata=c.md, timeout=30)


def test_search_empty_index_is_exhausted(snipd):
    c, s = stub(snipd)
    r = call(c, s.SearchSnippets, snippet_pb2.SearchSnippetsRequest(
        text="pricing deck for the CFO", page_size=5))
    assert list(r.results) == []
    assert r.exhausted
    assert r.next_page_token == ""


def test_search_filtered_says_why(snipd):
    c, s = stub(snipd)
    r = call(c, s.SearchSnippets, snippet_pb2.SearchSnippetsRequest(
        text="pricing", kinds=[snippet_pb2.SNIPPET_KIND_FRAMING],
        rep_email="rep@example.com",
        tags=[snippet_pb2.Tag(key="topic", value="pricing")]))
    assert r.exhausted
    assert "filters matched 0" in r.filter_note


@pytest.mark.parametrize("req,why", [
    (snippet_pb2.SearchSnippetsRequest(), "exactly one"),
    (snippet_pb2.SearchSnippetsRequest(text=" ,;. "), "no words"),
    (snippet_pb2.SearchSnippetsRequest(
        vector=snippet_pb2.FloatVector(values=[1.0, 0.0])), "dimension"),
    (snippet_pb2.SearchSnippetsRequest(
        vector=snippet_pb2.FloatVector(values=[0.0] * 384)), "non-zero"),
    (snippet_pb2.SearchSnippetsRequest(text="x", page_token="7.abc"),
     "page_token"),
    (snippet_pb2.SearchSnippetsRequest(text="x", page_size=-1), "page_size"),
    (snippet_pb2.SearchSnippetsRequest(
        text="x", tags=[snippet_pb2.Tag(key="colour", value="red")]),
     "tag keys"),
    (snippet_pb2.SearchSnippetsRequest(text="x", kinds=[7]), "kinds"),
])
def test_search_rejects_bad_requests(snipd, req, why):
    c, s = stub(snipd)
    err = expect_error(INVALID, call, c, s.SearchSnippets, req)
    assert why in err.details()


def test_search_page_size_capped_and_token_follows_the_query(snipd):
    """AIP-158: a page size over the maximum is capped, not refused; a
    token stays valid for the next page at another size and is refused for
    a changed query."""
    c, s = stub(snipd)
    r = call(c, s.SearchSnippets, snippet_pb2.SearchSnippetsRequest(
        text="pricing", page_size=100000))
    assert r.exhausted
    tok = "0." + "0" * 16  # well formed, for another query
    err = expect_error(INVALID, call, c, s.SearchSnippets,
                       snippet_pb2.SearchSnippetsRequest(text="pricing",
                                                         page_token=tok))
    assert "page_token" in err.details()


def test_search_by_vector(snipd):
    c, s = stub(snipd)
    r = call(c, s.SearchSnippets, snippet_pb2.SearchSnippetsRequest(
        vector=snippet_pb2.FloatVector(values=[0.5] * 384)))
    assert r.exhausted and list(r.results) == []


def test_get_and_delete_validate_and_scope(snipd, admin):
    c, s = stub(snipd)
    for fn in (s.GetSnippet, s.DeleteSnippet):
        expect_error(INVALID, call, c, fn,
                     snippet_pb2.GetSnippetRequest(snippet_id="nope")
                     if fn == s.GetSnippet else
                     snippet_pb2.DeleteSnippetRequest(snippet_id="nope"))
    err = expect_error(grpc.StatusCode.NOT_FOUND, call, c, s.GetSnippet,
                       snippet_pb2.GetSnippetRequest(
                           snippet_id="snip_0123456789abcdef"))
    assert "no snippet" in err.details()
    expect_error(grpc.StatusCode.NOT_FOUND, call, c, s.DeleteSnippet,
                 snippet_pb2.DeleteSnippetRequest(
                     snippet_id="snip_0123456789abcdef"))


def test_deleted_snippet_is_gone(snipd):
    """A framing extracted from ingested mail, deleted: GetSnippet and a
    second DeleteSnippet answer NOT_FOUND (reason SNIPPET_DELETED), and
    search no longer finds it."""
    c, s = stub(snipd)
    ing = ingest_pb2_grpc.IngestServiceStub(c.channel)
    mail = ("Message-ID: <del-1@snip.example>\r\nFrom: rep@snip.example\r\n"
            "To: cfo@prospect.example\r\nSubject: The case study\r\nDate: "
            "Tue, 3 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nHi Claire,\r\n"
            "\r\nI've attached the Airbus case study, which shows how they "
            "cut reporting time in half within one quarter.\r\n\r\nBest,\r\n"
            "Rita\r\n--b\r\nContent-Type: text/plain; charset=utf-8; name="
            "\"airbus.txt\"\r\nContent-Disposition: attachment; filename="
            "\"airbus.txt\"\r\n\r\nAirbus tracks users across 3,000 web "
            "and mobile apps and cut reporting time in half.\r\n--b--\r\n"
            ).encode()
    ing.IngestEmail(ingest_pb2.IngestEmailRequest(
        raw_mime=mail, direction=common_pb2.DIRECTION_OUTBOUND),
        metadata=c.md, timeout=30)
    req = snippet_pb2.SearchSnippetsRequest(
        text="Airbus case study reporting time", page_size=10)
    end = time.monotonic() + 90
    while True:
        hits = list(call(c, s.SearchSnippets, req).results)
        if hits or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert hits, "the extraction worker made no snippet"
    sid = hits[0].snippet.snippet_id
    assert call(c, s.GetSnippet, snippet_pb2.GetSnippetRequest(
        snippet_id=sid)).snippet_id == sid
    call(c, s.DeleteSnippet, snippet_pb2.DeleteSnippetRequest(snippet_id=sid))
    _, info, _ = expect_reason(grpc.StatusCode.NOT_FOUND, "SNIPPET_DELETED",
                               call, c, s.GetSnippet,
                               snippet_pb2.GetSnippetRequest(snippet_id=sid))
    expect_reason(grpc.StatusCode.NOT_FOUND, "SNIPPET_DELETED", call, c,
                  s.DeleteSnippet,
                  snippet_pb2.DeleteSnippetRequest(snippet_id=sid))
    assert sid not in [h.snippet.snippet_id for h in
                       call(c, s.SearchSnippets, req).results]


def test_search_needs_a_team_key(snipd):
    c, s = stub(snipd, "sk_" + "0" * 64)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, call, c, s.SearchSnippets,
                 snippet_pb2.SearchSnippetsRequest(text="x"))


def test_two_teams_search_independently(snipd, admin):
    _, key_b = create_team(admin, "Team B")
    for key in (None, key_b):
        c, s = stub(snipd, key)
        r = call(c, s.SearchSnippets, snippet_pb2.SearchSnippetsRequest(
            text="identical text", page_size=3))
        assert r.exhausted and list(r.results) == []
