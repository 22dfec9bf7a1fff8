"""The content library (issue 17): each file a rep attached is kept once per
team and read back byte for byte through ReadContent and `snipctl content
get --output`; a per-file cap and a per-team quota bound it, and neither
loses or half-stores an email."""

import hashlib
import json
import os
import subprocess
import time

import grpc
import pytest
from snipwise.v1 import (common_pb2, ingest_pb2, snippet_pb2, snippet_pb2_grpc,
                         team_pb2)

from e2e_lib import (RPC_TIMEOUT, create_team, expect_error, expect_reason,
                     scratch_dir, snipctl_path, snipd_path)
from ingest_lib import Mail, corpus_dir

# Two real PDFs of the corpus: one of two library chunks, one of nine.
MID_PDF = "pdf/py-pdf-sample-files/cmyk-image.pdf"
BIG_PDF = "pdf/py-pdf-sample-files/base64image.pdf"


def corpus_file(rel):
    with open(os.path.join(corpus_dir("attachments"), rel), "rb") as f:
        return f.read()


def send(mail, msgid, files, to="buyer@prospect.example"):
    """One outbound email from a rep carrying files [(name, type, bytes)]."""
    return mail.parsed(
        direction=common_pb2.DIRECTION_OUTBOUND,
        message_id=msgid, from_address="rep@seller.example",
        to_addresses=[to], subject="The deck we discussed",
        text_body="Attached is the overview, as promised on our call.",
        attachments=[{"filename": n, "content_type": t, "data": d}
                     for n, t, d in files])


def read_content(snipd, key, content_id):
    """(ContentFile, bytes) of ReadContent."""
    stub = snippet_pb2_grpc.SnippetServiceStub(snipd.channel())
    msgs = list(stub.ReadContent(
        snippet_pb2.ReadContentRequest(content_id=content_id),
        metadata=(("authorization", "Bearer " + key),),
        timeout=RPC_TIMEOUT))
    assert msgs and msgs[0].HasField("file") and not msgs[0].data
    assert all(not m.HasField("file") and m.data for m in msgs[1:])
    assert all(len(m.data) <= 256 * 1024 for m in msgs[1:])
    return msgs[0].file, b"".join(m.data for m in msgs[1:])


def library(snipd, key):
    return snipd.client(key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).content_library


def test_file_read_back_byte_identical_and_kept_once(snipd):
    key = snipd.demo_key
    mail = Mail(snipd, key)
    pdf = corpus_file(MID_PDF)
    sha = hashlib.sha256(pdf).hexdigest()
    note = b"Pricing: 40 dollars per seat per month, billed yearly.\n"

    first = send(mail, "lib-1@seller.example",
                 [("overview.pdf", "application/pdf", pdf)])
    cid = first.contents[0].content_id
    # The same file in a second thread, beside a new one.
    second = send(mail, "lib-2@seller.example",
                  [("Overview (final).pdf", "application/pdf", pdf),
                   ("pricing.txt", "text/plain", note)],
                  to="cfo@other.example")
    assert second.contents[0].content_id == cid
    assert second.contents[0].status == ingest_pb2.INGEST_STATUS_DUPLICATE

    item = mail.call(mail.snippet, "GetContent",
                     snippet_pb2.GetContentRequest(content_id=cid))
    assert item.file_state == snippet_pb2.CONTENT_FILE_STATE_KEPT
    assert item.sha256 == sha and item.size_bytes == len(pdf)

    f, data = read_content(snipd, key, cid)
    assert data == pdf  # byte for byte
    assert hashlib.sha256(data).hexdigest() == sha == f.sha256
    assert f.size_bytes == len(pdf) and f.content_id == cid
    assert f.filename == "overview.pdf"  # the name it was first seen with
    assert f.media_type == "application/pdf"

    f2, data2 = read_content(snipd, key, second.contents[1].content_id)
    assert data2 == note and f2.filename == "pricing.txt"

    # One stored copy of the PDF, whatever the number of emails.
    lib = library(snipd, key)
    assert lib.files == 2
    assert lib.used_bytes == len(pdf) + len(note)
    assert lib.quota_bytes == 10 << 30  # the default

    # And it survives a restart.
    snipd.restart()
    assert read_content(snipd, key, cid)[1] == pdf


def test_read_content_errors_and_isolation(snipd):
    key = snipd.demo_key
    mail = Mail(snipd, key)
    cid = send(mail, "iso@seller.example",
               [("a.txt", "text/plain", b"Only team A's file.\n")]
               ).contents[0].content_id
    _, other_key = create_team(snipd.admin(), "Other team")
    stub = snippet_pb2_grpc.SnippetServiceStub(snipd.channel())

    def read(k, content_id):
        return list(stub.ReadContent(
            snippet_pb2.ReadContentRequest(content_id=content_id),
            metadata=(("authorization", "Bearer " + k),),
            timeout=RPC_TIMEOUT))

    _, info, _ = expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND",
                               read, other_key, cid)
    expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND", read, key,
                  "ct_0000000000000000")
    _, _, bad = expect_reason(grpc.StatusCode.INVALID_ARGUMENT,
                              "INVALID_ARGUMENT", read, key, "")
    assert [v.field for v in bad.field_violations] == ["content_id"]


def test_snipctl_content_get_output(snipd):
    key = snipd.demo_key
    mail = Mail(snipd, key)
    pdf = corpus_file(BIG_PDF)
    cid = send(mail, "ctl@seller.example",
               [("case-study.pdf", "application/pdf", pdf)]
               ).contents[0].content_id
    out_dir = scratch_dir("content-get-")
    out = os.path.join(out_dir, "case-study.pdf")
    env = dict(os.environ, SNIPWISE_ADDR=snipd.addr, SNIPWISE_KEY=key)

    r = subprocess.run([snipctl_path(), "content", "get", cid, "--output",
                        out], env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        assert f.read() == pdf
    assert hashlib.sha256(pdf).hexdigest().encode() in r.stdout

    r = subprocess.run([snipctl_path(), "content", "get", cid, "--output",
                        "-"], env=env, capture_output=True, timeout=120)
    assert r.returncode == 0 and r.stdout == pdf, r.stderr

    # Unknown item: exit 5 (NOT_FOUND), nothing left behind.
    missing = os.path.join(out_dir, "missing.pdf")
    r = subprocess.run([snipctl_path(), "content", "get",
                        "ct_0000000000000000", "--output", missing], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert b"NOT_FOUND (CONTENT_NOT_FOUND)" in r.stderr, r.stderr
    assert sorted(os.listdir(out_dir)) == ["case-study.pdf"]

    # --json errors carry the reason too.
    r = subprocess.run([snipctl_path(), "--json", "content", "get",
                        "ct_0000000000000000"], env=env, capture_output=True,
                       timeout=120)
    assert r.returncode == 5
    err = json.loads(r.stdout)["error"]
    assert (err["code"], err["reason"]) == ("NOT_FOUND", "CONTENT_NOT_FOUND")

    # Without --output, `content get` still shows the item.
    r = subprocess.run([snipctl_path(), "--json", "content", "get", cid],
                       env=env, capture_output=True, timeout=120)
    assert r.returncode == 0 and b"CONTENT_FILE_STATE_KEPT" in r.stdout, r.stdout


def test_quota_refuses_the_whole_email(snipd_factory):
    mid, big = corpus_file(MID_PDF), corpus_file(BIG_PDF)
    quota = len(mid) + 100000  # room for the mid PDF, not for the big one
    snipd = snipd_factory(args=("--content-quota-bytes", str(quota)))
    key = snipd.demo_key
    mail = Mail(snipd, key)
    send(mail, "q-1@seller.example", [("mid.pdf", "application/pdf", mid)])

    err, info, _ = expect_reason(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "CONTENT_QUOTA_EXCEEDED", send,
        mail, "q-2@seller.example",
        [("note.txt", "text/plain", b"A note that would fit.\n"),
         ("big.pdf", "application/pdf", big)])
    assert str(quota) in err.details() and "big.pdf" in err.details()
    # Nothing of the refused email is stored: not it, not its small file.
    expect_error(grpc.StatusCode.NOT_FOUND, mail.get_email,
                 message_id="q-2@seller.example")
    lib = library(snipd, key)
    assert (lib.files, lib.used_bytes, lib.quota_bytes) == (1, len(mid),
                                                            quota)
    # A full library still takes mail whose files it holds, or none.
    send(mail, "q-3@seller.example", [("mid again.pdf", "application/pdf",
                                       mid)])
    send(mail, "q-4@seller.example", [])
    assert library(snipd, key).used_bytes == len(mid)

    # IngestEmails ends at the refused item with RESOURCE_EXHAUSTED and the
    # counts so far: item 0 is stored, item 1 is not.
    def stream():
        pe = ingest_pb2.ParsedEmail(
            message_id="q-5@seller.example", from_address="rep@seller.example",
            to_addresses=["b@prospect.example"], subject="s", text_body="t")
        yield ingest_pb2.IngestEmailRequest(parsed=pe, client_ref="ok")
        pe2 = ingest_pb2.ParsedEmail(
            message_id="q-6@seller.example", from_address="rep@seller.example",
            to_addresses=["b@prospect.example"], subject="s", text_body="t")
        pe2.attachments.append(ingest_pb2.Attachment(
            filename="big.pdf", content_type="application/pdf", data=big))
        yield ingest_pb2.IngestEmailRequest(parsed=pe2, client_ref="big")

    _, info, _ = expect_reason(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "CONTENT_QUOTA_EXCEEDED",
        mail.ingest.IngestEmails, stream(), metadata=mail.md,
        timeout=RPC_TIMEOUT)
    assert info.metadata["failed_items"] == "1"
    assert info.metadata["new_count"] == "1"
    mail.get_email(message_id="q-5@seller.example")


def test_file_over_the_cap_keeps_text_not_bytes(snipd_factory):
    mid = corpus_file(MID_PDF)
    snipd = snipd_factory(args=("--content-max-file-bytes", "100000"))
    key = snipd.demo_key
    mail = Mail(snipd, key)
    cid = send(mail, "cap@seller.example",
               [("mid.pdf", "application/pdf", mid)]).contents[0].content_id
    item = mail.call(mail.snippet, "GetContent",
                     snippet_pb2.GetContentRequest(content_id=cid))
    assert item.file_state == snippet_pb2.CONTENT_FILE_STATE_TOO_LARGE
    assert item.size_bytes == len(mid)
    _, info, _ = expect_reason(grpc.StatusCode.FAILED_PRECONDITION,
                               "CONTENT_FILE_NOT_KEPT", read_content, snipd,
                               key, cid)
    assert info.metadata["file_state"] == "CONTENT_FILE_STATE_TOO_LARGE"
    assert library(snipd, key).files == 0


def test_a_reader_that_stalls_is_cut_off(snipd_factory):
    """A ReadContent client that stops reading holds a worker for
    --stream-idle-ms at most: the call then ends with DEADLINE_EXCEEDED,
    and the server's other calls never waited."""
    snipd = snipd_factory(args=("--stream-idle-ms", "1000", "--workers", "1"))
    key = snipd.demo_key
    mail = Mail(snipd, key)
    data = os.urandom(12 << 20)  # far more than HTTP/2's windows hold
    cid = send(mail, "stall@seller.example",
               [("video.bin", "application/octet-stream", data)]
               ).contents[0].content_id
    # No BDP probing: the stream's flow-control window stays small.
    ch = grpc.insecure_channel(snipd.addr,
                               options=[("grpc.http2.bdp_probe", 0)])
    stub = snippet_pb2_grpc.SnippetServiceStub(ch)
    it = stub.ReadContent(snippet_pb2.ReadContentRequest(content_id=cid),
                          metadata=(("authorization", "Bearer " + key),),
                          timeout=60)
    first = next(it)
    assert first.file.size_bytes == len(data)
    time.sleep(3)  # stalled: the server's send waits, then gives up
    got = 0
    with pytest.raises(grpc.RpcError) as e:
        for m in it:
            got += len(m.data)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value
    assert "read nothing" in e.value.details()
    assert got < len(data)
    ch.close()
    # The one worker is free again: a full read goes through.
    assert read_content(snipd, key, cid)[1] == data


def settled(snipd, key, timeout=60.0):
    """Waits until extraction is done and the statistics count it all."""
    team = snipd.client(key).team
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        t = team.GetMyTeam(team_pb2.GetMyTeamRequest())
        if t.pending_extraction_jobs == 0 and t.statistics.current:
            return
        time.sleep(0.05)
    pytest.fail("the team never settled")


def test_delete_content_leaves_no_trace(snipd):
    from snipwise.v1 import suggest_pb2, suggest_pb2_grpc
    key = snipd.demo_key
    mail = Mail(snipd, key)
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain="seller.example"))
    pdf, note = corpus_file(MID_PDF), b"Our security overview, in brief.\n"
    a1 = send(mail, "del-1@seller.example",
              [("overview.pdf", "application/pdf", pdf)])
    a2 = send(mail, "del-2@seller.example",
              [("overview.pdf", "application/pdf", pdf),
               ("security.txt", "text/plain", note)], to="cfo@o.example")
    cid, other = a1.contents[0].content_id, a2.contents[1].content_id
    settled(snipd, key)
    snips = mail.call(mail.snippet, "SearchSnippets",
                      snippet_pb2.SearchSnippetsRequest(
                          text="overview", content_id=cid, page_size=50))
    framings = [r.snippet.snippet_id for r in snips.results]
    assert framings, "the extractor found nothing to delete"

    env = dict(os.environ, SNIPWISE_ADDR=snipd.addr, SNIPWISE_KEY=key)
    p = subprocess.run([snipctl_path(), "--json", "content", "delete", cid],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert int(r["email_count"]) == 2 and int(r["library_bytes"]) == len(pdf)
    assert int(r["snippet_count"]) >= len(framings)

    # Gone from every answer.
    expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND", mail.call,
                  mail.snippet, "GetContent",
                  snippet_pb2.GetContentRequest(content_id=cid))
    expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND",
                  read_content, snipd, key, cid)
    expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND", mail.call,
                  mail.snippet, "DeleteContent",
                  snippet_pb2.DeleteContentRequest(content_id=cid))
    for sid in framings:
        expect_reason(grpc.StatusCode.NOT_FOUND, "SNIPPET_DELETED", mail.call,
                      mail.snippet, "GetSnippet",
                      snippet_pb2.GetSnippetRequest(snippet_id=sid))
    e1 = mail.get_email(message_id="del-1@seller.example")
    e2 = mail.get_email(message_id="del-2@seller.example")
    assert [c.content_id for c in e1.contents] == []
    assert [c.content_id for c in e2.contents] == [other]
    listed = mail.call(mail.snippet, "ListContents",
                       snippet_pb2.ListContentsRequest()).contents
    assert [c.content_id for c in listed] == [other]
    lib = library(snipd, key)
    assert (lib.files, lib.used_bytes) == (1, len(note))
    assert read_content(snipd, key, other)[1] == note  # the other stays

    # Suggest forgets it once the statistics are rebuilt.
    settled(snipd, key)
    sug = suggest_pb2_grpc.SuggestServiceStub(snipd.channel()).Suggest(
        suggest_pb2.SuggestRequest(draft_text="overview security deck"),
        metadata=mail.md, timeout=RPC_TIMEOUT)
    assert cid not in [c.content_id for c in sug.contents]

    # The same file sent again is a new item, kept again.
    a3 = send(mail, "del-3@seller.example",
              [("overview.pdf", "application/pdf", pdf)])
    assert a3.contents[0].content_id != cid
    assert read_content(snipd, key, a3.contents[0].content_id)[1] == pdf

    # And the store holds nothing dangling.
    snipd.stop()
    r = subprocess.run([snipd_path(), "check", "--data-dir", snipd.data_dir],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
