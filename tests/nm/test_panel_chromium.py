"""The Thunderbird panel rendered in headless Chromium with suggestions
that came from a running snipd through the real native host: the page's
DOM holds the seeded framings and their evidence, the screenshot is a
real picture of them, a click on Insert edits the draft and reports the
feedback to snipd, and a click on Attach puts the suggested file, read
from snipd's content library through the host's read_content, on the
compose byte for byte (or the thread's own copy when the library does not
keep it). The mail client's APIs are harness_shim.js's stand-ins: no
Thunderbird runs here."""

import hashlib
import os
import shutil
from urllib.parse import quote

from e2e_lib import Snipd, scratch_dir
from ingest_lib import corpus_dir
from nm_lib import (FRAME_P, FRAME_S, PRICING, Host, seed_team,
                    write_config)
from panel_harness import CHROMIUM, Harness, chromium
from png_check import read_png, pixel

W, H = 480, 900

COMPOSE = {
    "from": "Ann Example <ann@seller.example>",
    "to": ["CFO <cfo0@prospect0.example>"],
    "cc": [],
    "subject": "Re: Question 0",
    "isPlainText": True,
    "plainTextBody": "Happy to help with pricing\n\nOn Tue, 3 Mar 2026, CFO "
                     "wrote:\n> Could you send me something on pricing?",
    "relatedMessageId": 42,
}
RELATED = {
    "header": {"headerMessageId": "in0@p.example", "subject": "Question 0",
               "author": "CFO <cfo0@prospect0.example>",
               "date": "2026-03-03T10:00:00Z"},
    "full": {"contentType": "multipart/mixed", "parts": [
        {"contentType": "text/plain",
         "body": "Hi, we are a manufacturing company in the evaluation "
                 "phase. Could you send me something on pricing?"}]},
    "attachments": [],
}


def _runfiles(*parts):
    return os.path.join(os.environ["TEST_SRCDIR"], "snipwise", *parts)


def _outputs():
    d = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or os.environ["TEST_TMPDIR"]
    os.makedirs(d, exist_ok=True)
    return d


def _harness(snipd, key, related=RELATED, files=None):
    host = Host(write_config(snipd.addr, key))
    h = Harness(_runfiles("clients", "thunderbird"),
                _runfiles("tests", "nm", "harness_shim.js"), host, COMPOSE,
                related, files).start()
    return host, h


# A real PDF of the corpus (2.2 MB: five chunk frames) as the file the
# pricing mails carried.
PDF_NAME = "pricing_guide.pdf"
BIG_PDF = "pdf/py-pdf-sample-files/base64image.pdf"


def _pdf():
    with open(os.path.join(corpus_dir("attachments"), BIG_PDF), "rb") as f:
        return f.read()


def _click_attach(h, title):
    """Loads the panel, clicks Attach on the file titled title; the DOM."""
    r = chromium(h.url + "?act=attach&title=" + quote(title), "--dump-dom")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode("utf-8", "replace")


def test_panel_shows_suggestions_from_snipd(snipd, admin):
    assert os.access(CHROMIUM, os.X_OK), \
        "chromium is missing: run bazel/install_deps.sh"
    seeded = seed_team(snipd, admin)
    host, h = _harness(snipd, seeded.key)
    try:
        # 1. The DOM after the page's work: framings, evidence, files.
        r = chromium(h.url, "--dump-dom")
        dom = r.stdout.decode("utf-8", "replace")
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        assert 'data-state="ready"' in dom, dom[:3000]
        assert FRAME_P.replace("'", "&#39;") in dom or FRAME_P in dom, dom
        assert FRAME_S.replace("'", "&#39;") in dom or FRAME_S in dom, dom
        assert "used by 2 reps in 3 threads" in dom, dom
        assert "pricing_guide.txt" in dom, dom
        # The suggestions really came through the native host from snipd.
        sugg = [(q, a) for q, a in h.exchanges if q["type"] == "suggest"]
        assert sugg and all(a["ok"] for _, a in sugg), sugg
        q, a = sugg[-1]
        assert q["thread"]["in_reply_to_message_id"] == "in0@p.example"
        assert q["draft"] == "Happy to help with pricing"
        assert q["rep_email"] == "ann@seller.example"
        shown = [a for q, a in h.exchanges
                 if q["type"] == "feedback" and q["kind"] == "shown"]
        n_items = len(a["result"]["framings"]) + len(a["result"]["contents"])
        assert len(shown) >= n_items and all(x["ok"] for x in shown), shown

        # 2. The screenshot: a PNG of the window's size, not blank, with
        # the header bar and text drawn.
        png = os.path.join(_outputs(), "panel.png")
        r = chromium(h.url, "--screenshot=" + png,
                     "--window-size=%d,%d" % (W, H))
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        assert os.path.getsize(png) > 5000
        with open(png, "rb") as f:
            w, hh, ch, rows = read_png(f.read())
        assert (w, hh) == (W, H)
        white = sum(1 for y in range(hh) for x in range(w)
                    if pixel(rows, ch, x, y) == (255, 255, 255))
        nonwhite = w * hh - white
        assert nonwhite > 0.05 * w * hh, "blank screenshot: %d" % nonwhite
        # The header bar (#1f6feb) across the top of the panel.
        assert pixel(rows, ch, 5, 5) == (0x1f, 0x6f, 0xeb), pixel(rows, ch, 5, 5)
        # Dark text pixels below the header (the framings and evidence).
        dark = sum(1 for y in range(60, hh) for x in range(w)
                   if sum(pixel(rows, ch, x, y)) < 200)
        assert dark > 1000, "no text drawn: %d dark pixels" % dark
        keep = os.environ.get("PANEL_SCREENSHOT_COPY")
        if keep:
            shutil.copyfile(png, keep)
    finally:
        h.stop()
        host.close(0)


def test_insert_edits_the_draft_and_reports_feedback(snipd, admin):
    seeded = seed_team(snipd, admin)
    host, h = _harness(snipd, seeded.key)
    try:
        # The shim clicks the first Insert button once the panel is ready.
        r = chromium(h.url + "?act=insert", "--dump-dom")
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        assert h.set_compose, "setComposeDetails was never called"
        body = h.set_compose[-1]["plainTextBody"]
        first = [a for q, a in h.exchanges if q["type"] == "suggest"][-1]
        top = first["result"]["framings"][0]["text"]
        assert body.startswith("Happy to help with pricing\n\n" + top + "\n"), body
        assert body.endswith("> Could you send me something on pricing?")
        framing = first["result"]["framings"][0]
        ins = [(q, a) for q, a in h.exchanges
               if q["type"] == "feedback" and q["kind"] == "inserted"]
        mine = [(q, a) for q, a in ins if q["item_id"] == framing["item_id"]]
        assert len(mine) == 1 and mine[0][1]["ok"], ins
        assert mine[0][1]["result"]["duplicate"] is False
        # The framing's file goes along, from the library, and counts as
        # used too.
        files = {c["content_id"]: c for c in first["result"]["contents"]}
        assert framing["content_id"] in files, (framing, files)
        c = files[framing["content_id"]]
        assert [a["name"] for a in h.attachments] == [c["title"]]
        if c["title"] == PRICING[0]:
            assert h.attachments[0]["data"] == PRICING[1].encode()
        assert c["item_id"] in [q["item_id"] for q, _ in ins], ins
    finally:
        h.stop()
        host.close(0)


def test_attach_adds_the_suggested_file_from_the_library(snipd, admin):
    pdf = _pdf()
    seeded = seed_team(snipd, admin,
                       pricing=(PDF_NAME, pdf, "application/pdf"))
    host, h = _harness(snipd, seeded.key)
    try:
        dom = _click_attach(h, PDF_NAME)
        sugg = [a for q, a in h.exchanges if q["type"] == "suggest"][-1]
        item = [c for c in sugg["result"]["contents"]
                if c["title"] == PDF_NAME]
        assert item, sugg["result"]["contents"]
        # The bytes came from snipd's library through the host, in
        # several chunk frames.
        reads = [(q, f) for q, f in h.frames if q["type"] == "read_content"]
        assert len(reads) == 1, [q for q, _ in h.frames]
        q, frames = reads[0]
        assert q["content_id"] == item[0]["content_id"]
        assert len(frames) >= 5 and frames[-1]["ok"], frames[-1]
        # One attachment on the compose: the ingested file, byte for byte.
        assert len(h.attachments) == 1, h.attachments
        a = h.attachments[0]
        assert (a["name"], a["type"]) == (PDF_NAME, "application/pdf"), a
        assert hashlib.sha256(a["data"]).hexdigest() == \
            hashlib.sha256(pdf).hexdigest()
        assert "Attached %s." % PDF_NAME in dom, dom[-3000:]
        ins = [(q, r) for q, r in h.exchanges
               if q["type"] == "feedback" and q["kind"] == "inserted"]
        assert [q["item_id"] for q, _ in ins] == [item[0]["item_id"]], ins
        assert ins[0][1]["ok"], ins
    finally:
        h.stop()
        host.close(0)


def test_attach_falls_back_to_the_thread_when_the_library_lacks_it():
    # A snipd that keeps files up to 100 kB: the PDF is text only.
    s = Snipd(scratch_dir("snipd-"),
              args=["--content-max-file-bytes", "100000"]).start()
    host = h = None
    try:
        pdf = _pdf()
        seeded = seed_team(s, s.admin(),
                           pricing=(PDF_NAME, pdf, "application/pdf"))
        related = dict(RELATED, attachments=[{
            "name": PDF_NAME, "size": len(pdf), "partName": "1.2",
            "contentType": "application/pdf"}])
        host, h = _harness(s, seeded.key, related,
                           {"1.2": (pdf, "application/pdf")})
        dom = _click_attach(h, PDF_NAME)
        reads = [r for q, r in h.exchanges if q["type"] == "read_content"]
        assert len(reads) == 1 and not reads[0]["ok"], reads
        assert reads[0]["error"]["reason"] == "CONTENT_FILE_NOT_KEPT"
        assert not h.frames  # no chunk came
        assert len(h.attachments) == 1, h.attachments
        a = h.attachments[0]
        assert a["name"] == PDF_NAME and a["data"] == pdf
        assert "Attached %s." % PDF_NAME in dom
    finally:
        if h:
            h.stop()
        if host:
            host.close(0)
        s.stop()
