"""Every field of every resource a client reads is filled (issue 18, "one
edit per field"): adding a field to a stored record and to the API means
several edits, and forgetting the conversion used to compile and pass.
Here the resources of test_fields' scenario (threads with their emails,
content items, snippets, outcomes, the team, a Suggest answer) are walked
through their descriptors, recursively: a field left at its default fails
the test unless ALLOWED says why it may be empty in this scenario. A new
API field therefore fails here until the server fills it (or the field is
listed with its reason)."""

from google.protobuf.descriptor import FieldDescriptor
from snipwise.v1 import (ingest_pb2, outcome_pb2, snippet_pb2, suggest_pb2,
                         team_pb2)

from test_fields import DOMAIN, scenario  # noqa: F401 (the scenario)

# Full field names that may be empty here, with the reason.
ALLOWED = {
    # Cold mail: nothing is replied to, nobody copied, nothing is wrong.
    "snipwise.v1.Email.in_reply_to": "the scenario's mail starts threads",
    "snipwise.v1.Email.references": "the scenario's mail starts threads",
    "snipwise.v1.Email.cc_addresses": "nobody is copied",
    "snipwise.v1.Email.defects": "the mail is well formed",
    "snipwise.v1.Email.reply_kind": "set on inbound replies only",
    # Recorded outcomes only (no inbound mail, so nothing is derived).
    "snipwise.v1.Outcome.email_id": "derived outcomes only",
    "snipwise.v1.Outcome.deal_value": "opportunity outcomes only",
    "snipwise.v1.Outcome.note": "no note was given",
    "snipwise.v1.Content.page_count": "a text file has no pages",
    "snipwise.v1.Team.pending_extraction_jobs": "settled: none pending",
    "snipwise.v1.Team.pending_extraction_job_count": "settled: none pending",
    "snipwise.v1.StatisticsState.lag_ms": "current: no lag",
    "snipwise.v1.SuggestResponse.model_version": "no model trained here",
    "snipwise.v1.ContentSuggestion.key_passage":
        "if any: an item may come by its framing alone",
    "snipwise.v1.QueryDecomposition.llm_rewritten":
        "false: the built-in decomposition, no LLM call",
}

# Messages whose numbers may all be zero for a given item (counts of the
# outcome kinds a thread lacks, a score part, an item's evidence, the
# feedback it had, what the builtin understood of the draft): they must be
# there, but are not walked into.
SHALLOW = {
    "snipwise.v1.OutcomeCounts",
    "snipwise.v1.ScoreBreakdown", "snipwise.v1.Evidence",
    "snipwise.v1.AccountEvidence", "snipwise.v1.AccountContext",
    # Nobody gave feedback in this scenario (test_ranking.py's
    # test_feedback_moves_the_ranking reads these counts filled).
    "snipwise.v1.FeedbackEvidence",
}


def unset(m, f):
    """Whether field f of message m is at its default (empty)."""
    if f.label == FieldDescriptor.LABEL_REPEATED:
        return len(getattr(m, f.name)) == 0
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return not m.HasField(f.name)
    return getattr(m, f.name) == f.default_value


def walk(m, path, empty, allowed=ALLOWED):
    """Adds to empty every field of m (and of the messages in it) left at
    its default and not allowed; oneof members other than the set one are
    skipped."""
    for f in m.DESCRIPTOR.fields:
        if f.containing_oneof is not None and \
                m.WhichOneof(f.containing_oneof.name) != f.name:
            continue
        where = path + "." + f.name
        if unset(m, f):
            if f.full_name not in allowed:
                empty.append("%s (%s)" % (where, f.full_name))
            continue
        if f.type != FieldDescriptor.TYPE_MESSAGE or \
                f.message_type.full_name in SHALLOW:
            continue
        if f.label == FieldDescriptor.LABEL_REPEATED:
            if f.message_type.GetOptions().map_entry:
                continue
            for i, sub in enumerate(getattr(m, f.name)):
                walk(sub, "%s[%d]" % (where, i), empty, allowed)
        else:
            walk(getattr(m, f.name), where, empty, allowed)


def test_walk_finds_an_empty_field():
    """The walker itself: an unset field is reported, an allowed one not."""
    empty = []
    walk(ingest_pb2.Thread(thread_id="th_1"), "Thread", empty)
    assert "Thread.subject (snipwise.v1.Thread.subject)" in empty
    assert not [e for e in empty if e.startswith("Thread.thread_id")]


def test_every_field_of_what_a_client_reads(snipd, admin):
    t = scenario(snipd, admin)
    empty = []
    # Thread 1: the deck, two positive replies and a meeting.
    th = t.call(t.ingest, "GetThread", ingest_pb2.GetThreadRequest(
        thread_id=t.th[1], include_emails=True))
    walk(th, "GetThread", empty)
    listed = t.call(t.ingest, "ListThreads",
                    ingest_pb2.ListThreadsRequest(page_size=10)).threads
    walk([x for x in listed if x.thread_id == t.th[1]][0], "ListThreads",
         empty, dict(ALLOWED, **{
             "snipwise.v1.Thread.emails": "ListThreads omits the emails"}))
    walk(t.call(t.snippet, "GetContent",
                snippet_pb2.GetContentRequest(content_id=t.deck)),
         "GetContent", empty)
    hits = t.call(t.snippet, "SearchSnippets", snippet_pb2.SearchSnippetsRequest(
        text="pricing guide plans discounts", page_size=5)).results
    assert hits
    walk(hits[0], "SearchSnippets", empty)
    walk(t.call(t.snippet, "GetSnippet", snippet_pb2.GetSnippetRequest(
        snippet_id=hits[0].snippet.snippet_id)), "GetSnippet", empty)
    for o in t.call(t.outcome, "ListOutcomes", outcome_pb2.ListOutcomesRequest(
            thread_id=t.th[1])).outcomes:
        walk(o, "ListOutcomes", empty)
    walk(t.my_team(), "GetMyTeam", empty)
    walk(t.call(t.sugg, "Suggest", suggest_pb2.SuggestRequest(
        thread_id=t.th[2], draft_text="Here is our pricing guide PDF from "
        "March 2026", explain=True)), "Suggest", empty)
    assert not empty, "fields left empty:\n  " + "\n  ".join(empty)


def test_renamed_fields_answer_under_both_names(snipd, admin):
    """A field renamed within v1 (svc_alias.c): both names carry the value
    in answers, and a request may use either."""
    t = scenario(snipd, admin)
    th = t.call(t.ingest, "GetThread",
                ingest_pb2.GetThreadRequest(thread_id=t.th[1]))
    oc = th.outcome_counts
    assert (oc.positive_reply_count, oc.meeting_booked_count) == (2, 1)
    assert (oc.positive_replies, oc.meetings_booked) == (2, 1)
    st = t.call(t.snippet, "GetContent",
                snippet_pb2.GetContentRequest(content_id=t.deck)).stats
    assert (st.use_count, st.rep_count, st.thread_count) == (4, 3, 4)
    assert (st.times_used, st.reps, st.threads) == (4, 3, 4)
    lib = t.my_team().content_library
    assert lib.file_count == lib.files == 2
    ev = t.call(t.sugg, "Suggest", suggest_pb2.SuggestRequest(
        thread_id=t.th[2], draft_text="Here is our pricing guide")
    ).framings[0].evidence
    assert ev.use_count > 0 and ev.thread_count > 0
    assert (ev.use_count, ev.rep_count, ev.thread_count,
            ev.positive_reply_count, ev.meeting_count) == \
        (ev.times_used, ev.reps, ev.threads, ev.positive_replies,
         ev.meetings)
    # An attachment's media type under its new name and its old one.
    kinds = {}
    for i, field in enumerate(("media_type", "content_type")):
        pe = ingest_pb2.ParsedEmail(
            message_id="alias%d@%s" % (i, DOMAIN),
            from_address="ann@" + DOMAIN, to_addresses=["x@p9.example"],
            subject="Sheet %d" % i, text_body="The sheet is attached.")
        pe.attachments.append(ingest_pb2.Attachment(
            filename="figures%d.dat" % i, data=b"a,b\n%d,2\n" % i,
            **{field: "text/csv"}))
        r = t.call(t.ingest, "IngestEmail",
                   ingest_pb2.IngestEmailRequest(parsed=pe))
        c = t.call(t.snippet, "GetContent", snippet_pb2.GetContentRequest(
            content_id=r.contents[0].content_id))
        kinds[field] = (c.media_type, c.kind)
    assert kinds["media_type"] == kinds["content_type"]
    assert kinds["media_type"][0] == "text/csv"
