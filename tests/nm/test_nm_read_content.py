"""snipwise-nm's read_content request against a real snipd: a real PDF of
the corpus ingested as a rep's attachment comes back through the host in
several chunk frames (each under the browsers' 1 MB limit) and is
byte-identical once reassembled; a small file comes in one; unknown ids,
files the library does not keep, a refused key and snipd down come back
as the host's error replies."""

import base64
import hashlib
import os
import time

from snipwise.v1 import common_pb2, snippet_pb2

from e2e_lib import Snipd, scratch_dir
from ingest_lib import Mail, corpus_dir
from nm_lib import Host, closed_port, write_config

BIG_PDF = "pdf/py-pdf-sample-files/base64image.pdf"  # 2,267,027 bytes
CHUNK = 512 * 1024  # NM_CONTENT_CHUNK
FRAME_MAX = 1024 * 1024  # what a browser accepts from a host


def corpus_file(rel):
    with open(os.path.join(corpus_dir("attachments"), rel), "rb") as f:
        return f.read()


def attach(snipd, key, msgid, name, ctype, data):
    """Ingests a rep's outbound mail carrying one file; its content id."""
    r = Mail(snipd, key).parsed(
        direction=common_pb2.DIRECTION_OUTBOUND, message_id=msgid,
        from_address="rep@seller.example", to_addresses=["cfo@buyer.example"],
        subject="The deck we discussed",
        text_body="Attached is the overview, as promised on our call.",
        attachments=[{"filename": name, "content_type": ctype,
                      "data": data}])
    assert len(r.contents) == 1, r
    return r.contents[0].content_id


def reassemble(frames, rid):
    """The bytes of a read_content reply's chunk frames, checked for
    order, offsets and the frame envelope; the final reply's result."""
    *chunks, final = frames
    data = b""
    for seq, f in enumerate(chunks):
        assert f["id"] == rid and f["type"] == "read_content", f.keys()
        assert f["ok"] is True and f["more"] is True
        assert f["chunk"]["seq"] == seq
        assert f["chunk"]["offset"] == len(data)
        data += base64.b64decode(f["chunk"]["data"], validate=True)
    assert final["id"] == rid and final["type"] == "read_content"
    assert "more" not in final
    assert final["ok"] is True, final
    return data, final["result"]


def test_a_pdf_comes_back_byte_identical_in_chunk_frames(snipd):
    key = snipd.demo_key
    pdf = corpus_file(BIG_PDF)
    sha = hashlib.sha256(pdf).hexdigest()
    cid = attach(snipd, key, "nm-pdf@seller.example", "base64image.pdf",
                 "application/pdf", pdf)
    note = b"Pricing: 40 dollars per seat per month, billed yearly.\n"
    small = attach(snipd, key, "nm-txt@seller.example", "pricing.txt",
                   "text/plain", note)
    h = Host(write_config(snipd.addr, key))

    frames = h.call_frames({"id": "r1", "type": "read_content",
                            "content_id": cid})
    data, res = reassemble(frames, "r1")
    assert len(data) == len(pdf) and hashlib.sha256(data).hexdigest() == sha
    assert data == pdf
    # Several frames, each a full chunk but the last, none over 1 MB.
    n = (len(pdf) + CHUNK - 1) // CHUNK
    assert n >= 4 and len(frames) == n + 1, len(frames)
    assert all(len(base64.b64decode(f["chunk"]["data"])) == CHUNK
               for f in frames[:-2])
    assert res == {"content_id": cid, "filename": "base64image.pdf",
                   "media_type": "application/pdf", "size_bytes": len(pdf),
                   "sha256": sha, "chunks": n}, res

    # A small file: one chunk frame and the final reply.
    frames = h.call_frames({"id": 2, "type": "read_content",
                            "content_id": small})
    data, res = reassemble(frames, 2)
    assert len(frames) == 2 and data == note
    assert res["sha256"] == hashlib.sha256(note).hexdigest()
    assert res["filename"] == "pricing.txt" and res["chunks"] == 1
    # The host is still in sync for the next request.
    assert h.call({"id": 3, "type": "ping"})["ok"]
    h.close(0)


def test_read_content_errors_are_single_error_replies(snipd):
    h = Host(write_config(snipd.addr, snipd.demo_key))
    frames = h.call_frames({"id": 1, "type": "read_content",
                            "content_id": "ct_0000000000000000"})
    assert len(frames) == 1, frames  # no chunk frame before the error
    r = frames[0]
    assert r["id"] == 1 and r["type"] == "read_content" and r["ok"] is False
    assert r["error"]["code"] == "NOT_FOUND", r
    assert "ct_0000000000000000" in r["error"]["message"], r
    # snipd's ErrorInfo reason comes through (snipc reads the details).
    assert r["error"]["reason"] == "CONTENT_NOT_FOUND", r
    for req, text in [({}, '"content_id" is required'),
                      ({"content_id": ""}, '"content_id" must not be empty'),
                      ({"content_id": 7}, '"content_id" must be a string')]:
        r = h.call(dict(req, id=2, type="read_content"))
        assert r["ok"] is False and r["error"]["code"] == "INVALID_ARGUMENT"
        assert text in r["error"]["message"], r
    h.close(0)
    # A key snipd refuses, naming the config file.
    cfg = write_config(snipd.addr, "sw_not_a_key")
    h = Host(cfg)
    r = h.call({"id": 3, "type": "read_content", "content_id": "ct_x"})
    assert r["error"]["code"] == "UNAUTHENTICATED" and cfg in \
        r["error"]["message"], r
    h.close(0)


def test_snipd_down_is_unavailable_quickly():
    port = closed_port()
    h = Host(write_config("127.0.0.1:%d" % port, "k", timeout_ms=5000))
    t0 = time.monotonic()
    r = h.call({"id": 4, "type": "read_content", "content_id": "ct_x"},
               timeout=20)
    assert time.monotonic() - t0 < 6.0
    assert r["ok"] is False and r["error"]["code"] == "UNAVAILABLE", r
    assert r["error"]["message"].startswith(
        "snipd is not reachable at 127.0.0.1:%d: " % port), r
    h.close(0)


def test_a_file_the_library_does_not_keep_says_so_with_its_name():
    # A snipd that keeps files up to 100 kB: the PDF is kept as text only.
    s = Snipd(scratch_dir("snipd-"),
              args=["--content-max-file-bytes", "100000"]).start()
    try:
        pdf = corpus_file(BIG_PDF)
        cid = attach(s, s.demo_key, "nm-big@seller.example", "deck.pdf",
                     "application/pdf", pdf)
        h = Host(write_config(s.addr, s.demo_key))
        frames = h.call_frames({"id": "nk", "type": "read_content",
                                "content_id": cid})
        assert len(frames) == 1, [f.keys() for f in frames]
        e = frames[0]["error"]
        assert e["code"] == "FAILED_PRECONDITION", e
        assert e["reason"] == "CONTENT_FILE_NOT_KEPT", e
        assert e["file_state"] == snippet_pb2.ContentFileState.Name(
            snippet_pb2.CONTENT_FILE_STATE_TOO_LARGE), e
        assert "--content-max-file-bytes" in e["message"], e
        # What the extension needs to find the thread's own attachment.
        assert e["content"]["content_id"] == cid
        assert e["content"]["filename"] == "deck.pdf"
        assert e["content"]["size_bytes"] == len(pdf)
        h.close(0)
    finally:
        s.stop()
