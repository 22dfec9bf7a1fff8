"""The Thunderbird panel rendered in headless Chromium with suggestions
that came from a running snipd through the real native host: the page's
DOM holds the seeded framings and their evidence, the screenshot is a
real picture of them, and a click on Insert edits the draft and reports
the feedback to snipd."""

import os
import shutil

from nm_lib import FRAME_P, FRAME_S, Host, seed_team, write_config
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


def _harness(snipd, key):
    host = Host(write_config(snipd.addr, key))
    h = Harness(_runfiles("clients", "thunderbird"),
                _runfiles("tests", "nm", "harness_shim.js"), host, COMPOSE,
                RELATED).start()
    return host, h


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
        ins = [(q, a) for q, a in h.exchanges
               if q["type"] == "feedback" and q["kind"] == "inserted"]
        assert len(ins) == 1 and ins[0][1]["ok"], ins
        assert ins[0][0]["item_id"] == first["result"]["framings"][0]["item_id"]
        assert ins[0][1]["result"]["duplicate"] is False
    finally:
        h.stop()
        host.close(0)
