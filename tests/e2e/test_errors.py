"""Errors a program can read (issue 18): every error snipd answers carries
a google.rpc.Status in grpc-status-details-bin with exactly one ErrorInfo
(a stable reason, domain snipwise.v1, metadata) and, for bad request
fields, a BadRequest with one violation per field. The tests match on
reasons and fields, not on message text."""

import grpc
from snipwise.v1 import (admin_pb2, ingest_pb2, ingest_pb2_grpc,
                         outcome_pb2, outcome_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2)

from e2e_lib import create_team, error_details, expect_error, expect_reason

C = grpc.StatusCode


def test_bad_fields_each_named(snipd):
    """Three bad fields of one Suggest request: one violation each, the
    first also in the ErrorInfo metadata; a good request is answered."""
    c = snipd.client(snipd.demo_key)
    sug = suggest_pb2_grpc.SuggestServiceStub(c.channel)
    err, info, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", sug.Suggest,
        suggest_pb2.SuggestRequest(max_contents=-1, max_framings=51, mode=99,
                                   draft_text="pricing"),
        metadata=c.md, timeout=30)
    assert bad is not None, "no BadRequest"
    assert [v.field for v in bad.field_violations] == [
        "max_contents", "max_framings", "mode"]
    assert all(v.description for v in bad.field_violations)
    assert info.metadata["field"] == "max_contents"
    # One bad field: one violation.
    _, _, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", sug.Suggest,
        suggest_pb2.SuggestRequest(max_framings=-2, draft_text="pricing"),
        metadata=c.md, timeout=30)
    assert [v.field for v in bad.field_violations] == ["max_framings"]


def test_feedback_names_every_bad_field(snipd):
    c = snipd.client(snipd.demo_key)
    out = outcome_pb2_grpc.OutcomeServiceStub(c.channel)
    _, info, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", out.RecordFeedback,
        outcome_pb2.RecordFeedbackRequest(kind=9, time_unix_ms=-5),
        metadata=c.md, timeout=30)
    assert [v.field for v in bad.field_violations] == [
        "suggestion_id", "item_id", "kind", "idempotency_key",
        "time_unix_ms"]
    # An admin key asked for a team key without a team, and a bad role.
    admin = snipd.admin()
    _, info, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", admin.admin.CreateApiKey,
        admin_pb2.CreateApiKeyRequest(display_name="x", role=7))
    assert [v.field for v in bad.field_violations] == ["role"]


def test_reasons_of_common_paths(snipd):
    admin = snipd.admin()
    team_id, key = create_team(admin, "Errors")
    c = snipd.client(key)
    sug = suggest_pb2_grpc.SuggestServiceStub(c.channel)
    ing = ingest_pb2_grpc.IngestServiceStub(c.channel)
    # No key, a wrong key: the same reason.
    expect_reason(C.UNAUTHENTICATED, "API_KEY_INVALID",
                  snipd.client(None).team.GetMyTeam,
                  team_pb2.GetMyTeamRequest())
    expect_reason(C.UNAUTHENTICATED, "API_KEY_INVALID",
                  snipd.client("sw_live_not_a_key").team.GetMyTeam,
                  team_pb2.GetMyTeamRequest())
    # A team key on an admin method.
    expect_reason(C.PERMISSION_DENIED, "ADMIN_KEY_REQUIRED",
                  c.admin.ListTeams, admin_pb2.ListTeamsRequest())
    # An unknown thread, with the id in the metadata.
    _, info, bad = expect_reason(
        C.NOT_FOUND, "THREAD_NOT_FOUND", sug.Suggest,
        suggest_pb2.SuggestRequest(thread_id="th_0000000000000000"),
        metadata=c.md, timeout=30)
    assert info.metadata["thread_id"] == "th_0000000000000000"
    assert bad is None
    # A negative page size names page_size.
    _, info, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", ing.ListThreads,
        ingest_pb2.ListThreadsRequest(page_size=-1), metadata=c.md,
        timeout=30)
    assert [v.field for v in bad.field_violations] == ["page_size"]
    # Bytes that are no message of the method's type.
    _, info, _ = expect_reason(
        C.INVALID_ARGUMENT, "REQUEST_MALFORMED", c.raw,
        "/snipwise.v1.TeamService/GetMyTeam", b"\xff\xff\xff\xff")
    assert info.metadata["message"] == "snipwise.v1.GetMyTeamRequest"
    # A string field holding invalid UTF-8: the field is named.
    bad_utf8 = b"\x0a\x03\xff\xfe\xfd"  # field 1 (display_name), 3 bytes
    _, info, bad = expect_reason(
        C.INVALID_ARGUMENT, "STRING_INVALID", snipd.admin().raw,
        "/snipwise.v1.AdminService/CreateTeam", bad_utf8)
    assert [v.field for v in bad.field_violations] == ["display_name"]
    # An unknown method.
    _, info, _ = expect_reason(C.UNIMPLEMENTED, "METHOD_UNKNOWN", c.raw,
                               "/snipwise.v1.Nope/Nothing", b"")
    assert info.metadata["method"] == "/snipwise.v1.Nope/Nothing"
    # And a team that does not exist, asked by an admin.
    expect_reason(C.NOT_FOUND, "NOT_FOUND", admin.admin.GetTeam,
                  admin_pb2.GetTeamRequest(team_id="team_0000000000000000"))
    # The call after all these is answered: errors harm nothing.
    assert c.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == team_id


def test_store_checks_name_their_field(snipd):
    """Checks the store makes (a team's name, a domain, a member's email)
    name the field they are about."""
    admin = snipd.admin()
    _, _, bad = expect_reason(C.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                              admin.admin.CreateTeam,
                              admin_pb2.CreateTeamRequest(display_name=""))
    assert [v.field for v in bad.field_violations] == ["display_name"]
    c = snipd.client(snipd.demo_key)
    _, _, bad = expect_reason(C.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                              c.team.AddTeamDomain,
                              team_pb2.AddTeamDomainRequest(domain="not a domain"))
    assert [v.field for v in bad.field_violations] == ["domain"]
    _, _, bad = expect_reason(
        C.INVALID_ARGUMENT, "INVALID_ARGUMENT", c.team.AddTeamMember,
        team_pb2.AddTeamMemberRequest(member=team_pb2.TeamMember(
            email="no-at-sign")))
    assert [v.field for v in bad.field_violations] == ["member.email"]


def test_details_match_the_status(snipd):
    """The Status in the trailer repeats the call's code and message (the
    helper checks both) for an error from a handler and from the server."""
    err = expect_error(C.INVALID_ARGUMENT, snipd.admin().admin.CreateTeam,
                       admin_pb2.CreateTeamRequest(display_name=""))
    info, _ = error_details(err)
    assert info.reason


def test_list_page_sizes_capped_not_refused(snipd):
    """AIP-158 for the mail lists: a page size over the maximum is capped,
    a negative one names page_size."""
    c = snipd.client(snipd.demo_key)
    ing = ingest_pb2_grpc.IngestServiceStub(c.channel)
    snip = snippet_pb2_grpc.SnippetServiceStub(c.channel)
    for fn, req in ((ing.ListThreads, ingest_pb2.ListThreadsRequest),
                    (snip.ListContents, snippet_pb2.ListContentsRequest)):
        fn(req(page_size=100000), metadata=c.md, timeout=30)
        _, _, bad = expect_reason(C.INVALID_ARGUMENT, "INVALID_ARGUMENT", fn,
                                  req(page_size=-3), metadata=c.md,
                                  timeout=30)
        assert [v.field for v in bad.field_violations] == ["page_size"]
