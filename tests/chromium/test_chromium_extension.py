"""The Chromium extension (clients/chromium) in Debian's chromium, headless,
with the unpacked extension loaded and the real native host registered in
the profile, against fixture pages of Gmail's and Outlook's compose served
over HTTPS from 127.0.0.1 under the sites' own names, and a real snipd with
a seeded team:

- the panel, the browser's side panel of the mail tab opened by the
  extension's toolbar action, shows the team's framings and files for the
  fixture's draft (screenshot checked and kept), Insert puts the framing at the caret in
  the compose body, Attach puts the library's file on the compose byte for
  byte, and shown/inserted/dismissed feedback reaches snipd (ListFeedback);
- typing in the draft makes the panel suggest again, once (debounced);
- a file the library does not keep is attached from the thread's own copy
  (Gmail), only when that copy's SHA-256 is the library's;
- snipd stopped, the host not registered, a refused key, and a compose
  whose structure the adapter cannot find each show their own state.

The fixtures are served under the real host names (--host-resolver-rules
maps them to the loopback server, with a throwaway certificate and
--ignore-certificate-errors) so that the extension is tested with the
manifest it ships: the same host permissions and content-script matches,
no test-only variant."""

import hashlib
import os

import pytest
from snipwise.v1 import outcome_pb2, outcome_pb2_grpc, team_pb2

from chromium_lib import (CHROMIUM, FixtureServer, Profile, drive,
                          extension_id)
from e2e_lib import Snipd, auth_md, scratch_dir
from ingest_lib import corpus_dir
from nm_lib import FRAME_P, FRAME_S, seed_team
from png_check import pixel, read_png

REP = "ann@seller.example"
PDF_NAME = "pricing_guide.pdf"
BIG_PDF = "pdf/py-pdf-sample-files/base64image.pdf"
URLS = {
    "gmail": "https://mail.google.com/mail/u/0/#inbox/FMfcgzQXJWDsKmLb",
    "outlook": "https://outlook.office.com/mail/inbox/id/AAQkADAwATM0MDAAMS1i",
}
QUOTE_START = {"gmail": "On Tue, Mar 3, 2026", "outlook": "From:"}
# Where the rep's caret is when they click Insert: inside their first
# line (Gmail) and at its end (Outlook), above a second line.
CARET_AFTER = {"gmail": "Happy to help",
               "outlook": "Happy to help with pricing"}
LINE = "Happy to help with pricing"


def _pdf():
    with open(os.path.join(corpus_dir("attachments"), BIG_PDF), "rb") as f:
        return f.read()


@pytest.fixture
def server():
    s = FixtureServer().start()
    yield s
    s.stop()


def _rep_key(snipd, team_key):
    """A rep key for REP, as the README tells a rep to get."""
    team = snipd.client(team_key).team
    team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email=REP)))
    r = team.CreateRepKey(
        team_pb2.CreateRepKeyRequest(rep_email=REP,
                                     display_name="Chromium: ann"))
    return r.api_key


def _feedback(snipd, key):
    out = outcome_pb2_grpc.OutcomeServiceStub(snipd.channel())
    r = out.ListFeedback(outcome_pb2.ListFeedbackRequest(page_size=200),
                         metadata=auth_md(key), timeout=30)
    return list(r.feedback)


def _check_side_panel(r):
    """The panel is the browser's side panel of the mail tab, opened by the
    toolbar action: background.js's behaviour and per-tab path, a
    SIDE_PANEL context showing panel.html?tab=N, a side panel's width."""
    tab = r["tabId"]
    assert tab, r
    assert r["sidePanel"]["behavior"] == {"openPanelOnActionClick": True}, r
    assert r["sidePanel"]["options"]["path"] == "panel.html?tab=%d" % tab, \
        r["sidePanel"]
    assert r["sidePanel"]["options"]["enabled"] is True, r["sidePanel"]
    assert r["panelUrl"].endswith("/panel.html?tab=%d" % tab), r["panelUrl"]
    assert [c["url"] for c in r["panelOpen"]] == [r["panelUrl"]], \
        r["panelOpen"]
    w, h = r["panelSize"]
    assert 200 <= w <= 700 and h >= 400, r["panelSize"]  # not the window


def _check_screenshot(png, want_text, html, size):
    assert os.path.getsize(png) > 5000, png
    with open(png, "rb") as f:
        w, h, ch, rows = read_png(f.read())
    assert [w, h] == list(size), (w, h, size)
    white = sum(1 for y in range(h) for x in range(w)
                if pixel(rows, ch, x, y) == (255, 255, 255))
    assert w * h - white > 0.05 * w * h, "a blank screenshot"
    # The header bar (#1f6feb, the shared panel.css) across the top.
    assert pixel(rows, ch, 5, 5) == (0x1f, 0x6f, 0xeb), pixel(rows, ch, 5, 5)
    dark = sum(1 for y in range(60, h) for x in range(w)
               if sum(pixel(rows, ch, x, y)) < 200)
    assert dark > 1000, "no text drawn: %d dark pixels" % dark
    for t in want_text:
        assert t.replace("'", "&#39;") in html or t in html, t


@pytest.mark.parametrize("site", ["gmail", "outlook"])
def test_suggest_insert_attach_and_feedback(snipd, admin, server, site):
    assert os.access(CHROMIUM, os.X_OK), \
        "chromium is missing: run bazel/install_deps.sh"
    pdf = _pdf()
    seeded = seed_team(snipd, admin,
                       pricing=(PDF_NAME, pdf, "application/pdf"))
    key = _rep_key(snipd, seeded.key)
    profile = Profile()
    profile.write_config(snipd.addr, key)
    profile.register_host(extension_id())
    r = drive(profile, server, "full", url=URLS[site], expectState="ready",
              screenshot="%s_panel.png" % site, attachTitle=PDF_NAME,
              insertFiles=1, typeText=" and security",
              caretAt=len(CARET_AFTER[site]))
    assert r["extensionId"] == extension_id()
    first = r["first"]
    assert first["state"] == "ready", (first["status"], r["stderr"][-3000:],
                                       r["console"], r["panelConsole"])
    # 1. Suggestions for the fixture's draft, read by the site's adapter.
    texts = [f["text"] for f in first["framings"]]
    assert FRAME_P in texts and FRAME_S in texts, texts
    assert any(f["evidence"].startswith("used by 2 reps in 3 threads")
               for f in first["framings"]), first["framings"]
    assert PDF_NAME in [c["title"] for c in first["contents"]], \
        first["contents"]
    assert "Question 0" in first["context"], first["context"]
    assert "cfo0@prospect0.example" in first["context"], first["context"]
    assert "draft: Happy to help with pricing" in first["context"]
    assert first["suggests"] == 1, first["suggests"]  # one, not one per change
    # 2. The side panel, and its screenshot: a real picture with the
    # suggestions.
    _check_side_panel(r)
    _check_screenshot(r["screenshot"], [FRAME_P, PDF_NAME], first["html"],
                      r["panelSize"])
    # 3. Insert: the top framing once, at the caret (in or after the rep's
    # first line, above their second), a space after the word before it;
    # its file (the PDF) comes along.
    top = first["framings"][0]["text"]
    body = r["afterInsert"].replace("\u00a0", " ")
    caret = CARET_AFTER[site]
    assert caret + " " + top + LINE[len(caret):] in body, body
    assert body.count(top) == 1, body
    assert body.index(top) < body.index("Talk soon, Ann"), body
    assert body.index(top) < body.index(QUOTE_START[site]), body
    # 4. Attach: the library's PDF on the compose, byte for byte.
    want = hashlib.sha256(pdf).hexdigest()
    files = r["attachments"]
    assert len(files) == len(r["insertAttachments"]) + 1, files
    assert files[-1]["name"] == PDF_NAME, files
    assert files[-1]["type"] == "application/pdf", files
    assert files[-1]["size"] == len(pdf) and files[-1]["sha256"] == want
    if top == FRAME_P:  # the pricing framing goes with the PDF
        assert [(f["name"], f["sha256"]) for f in r["insertAttachments"]] == \
            [(PDF_NAME, want)], r["insertAttachments"]
    assert "Attached %s." % PDF_NAME in r["afterAttach"]["html"], \
        r["stderr"][-2000:]
    # 5. Feedback through the host reached snipd.
    fb = _feedback(snipd, seeded.key)
    kinds = [f.kind for f in fb]
    assert kinds.count(outcome_pb2.FEEDBACK_KIND_SHOWN) >= \
        len(first["framings"]) + len(first["contents"]), kinds
    assert kinds.count(outcome_pb2.FEEDBACK_KIND_INSERTED) >= 2, kinds
    assert kinds.count(outcome_pb2.FEEDBACK_KIND_DISMISSED) == 1, kinds
    assert r.get("copied") in texts, r["stderr"][-2000:]
    assert kinds.count(outcome_pb2.FEEDBACK_KIND_COPIED) == 1, kinds
    assert {f.rep_email for f in fb} == {REP}, fb
    # 6. Typing: the panel suggests again for the new draft, once.
    typed = r["typedFinal"]
    assert " and security" in r["typedDraft"], r["typedDraft"]
    assert typed["state"] == "ready", typed["status"]
    assert " and security" in typed["context"], typed["context"]
    assert typed["suggests"] == r["typedBefore"] + 1, \
        (r["typedBefore"], typed["suggests"])


@pytest.mark.parametrize("case", ["thread", "altered", "absent"])
def test_attach_of_a_file_the_library_lacks(server, case):
    """A file the library does not keep (a snipd that keeps files up to
    100 kB; the PDF is 2.2 MB, kept as text only) comes from the thread's
    own attachment (Gmail: the earlier message's chip), fetched by the page
    and attached only when its SHA-256 is the library's; an altered copy
    is refused, and a thread without it leaves the rep a note."""
    pdf = _pdf()
    s = Snipd(scratch_dir("snipd-"),
              args=["--content-max-file-bytes", "100000"]).start()
    try:
        seeded = seed_team(s, s.admin(),
                           pricing=(PDF_NAME, pdf, "application/pdf"))
        profile = Profile()
        profile.write_config(s.addr, seeded.key)
        profile.register_host(extension_id())
        url = URLS["outlook"]
        if case != "absent":
            server.files[PDF_NAME] = pdf if case == "thread" else \
                pdf[:-7] + b"altered"
            base, _, frag = URLS["gmail"].partition("#")
            url = base + "?threadfile=" + PDF_NAME + "#" + frag
        r = drive(profile, server, "attach", url=url, expectState="ready",
                  attachTitle=PDF_NAME)
        inserted = [f for f in _feedback(s, seeded.key)
                    if f.kind == outcome_pb2.FEEDBACK_KIND_INSERTED]
    finally:
        s.stop()
    assert r["first"]["state"] == "ready", r["first"]["status"]
    notes = [c["note"] for c in r["final"]["contents"]
             if c["title"] == PDF_NAME]
    fetched = [p for _, p in server.requests if "view=att" in p]
    if case == "thread":
        assert [(a["name"], a["type"], a["size"], a["sha256"])
                for a in r["attachments"]] == \
            [(PDF_NAME, "application/pdf", len(pdf),
              hashlib.sha256(pdf).hexdigest())], r["attachments"]
        assert notes == ["Attached %s from this thread (your team's library "
                         "does not keep it)." % PDF_NAME], notes
        assert len(fetched) == 1, server.requests
        assert len(inserted) == 1, inserted
    elif case == "altered":
        assert r["attachments"] == [], r["attachments"]
        assert len(notes) == 1 and notes[0].startswith(
            "Not attached: the thread's copy of %s is not the file your "
            "team sent (SHA-256 " % PDF_NAME), notes
        assert notes[0].endswith("Attach %s from your files." % PDF_NAME)
        assert len(fetched) == 1 and not inserted, (fetched, inserted)
    else:
        assert r["attachments"] == [], r["attachments"]
        assert notes == ["Your team's library does not keep this file: "
                         "attach %s from your files or the thread."
                         % PDF_NAME], notes
        assert not fetched and not inserted, (fetched, inserted)
    assert r["final"]["state"] == "ready", r["final"]["status"]


def test_snipd_unreachable_shows_the_state(snipd, admin, server):
    seeded = seed_team(snipd, admin)
    profile = Profile()
    profile.write_config(snipd.addr, seeded.key)
    profile.register_host(extension_id())
    addr = snipd.addr
    snipd.stop()
    r = drive(profile, server, "state", url=URLS["gmail"],
              expectState="unreachable", screenshot="gmail_unreachable.png")
    s = r["first"]
    assert s["state"] == "unreachable", (s["status"], r["stderr"][-2000:])
    assert "snipd is unreachable" in s["status"], s["status"]
    assert addr in s["status"], s["status"]
    assert not s["framings"] and not s["contents"]
    assert os.path.getsize(r["screenshot"]) > 3000


def test_host_not_installed_shows_the_state(snipd, admin, server):
    profile = Profile()  # no manifest in NativeMessagingHosts
    r = drive(profile, server, "state", url=URLS["outlook"],
              expectState="no-host")
    s = r["first"]
    assert s["state"] == "no-host", (s["status"], r["stderr"][-2000:])
    assert "not installed" in s["status"], s["status"]
    assert "install_manifest.sh --chromium" in s["status"], s["status"]


def test_refused_key_shows_the_state(snipd, server):
    profile = Profile()
    profile.write_config(snipd.addr, "sw_not_a_key_of_this_snipd")
    profile.register_host(extension_id())
    r = drive(profile, server, "state", url=URLS["gmail"],
              expectState="key-refused")
    s = r["first"]
    assert s["state"] == "key-refused", (s["status"], r["stderr"][-2000:])
    assert "refused the API key" in s["status"], s["status"]


@pytest.mark.parametrize("site,name", [("gmail", "body"),
                                       ("outlook", "body"),
                                       ("outlook", "subject")])
def test_changed_page_says_so_and_logs_the_selector(snipd, admin, server,
                                                    site, name):
    seeded = seed_team(snipd, admin)
    profile = Profile()
    profile.write_config(snipd.addr, seeded.key)
    profile.register_host(extension_id())
    base, _, frag = URLS[site].partition("#")
    url = base + "?break=" + name + ("#" + frag if frag else "")
    r = drive(profile, server, "state", url=url, expectState="changed")
    s = r["first"]
    assert s["state"] == "changed", (s["status"], r["stderr"][-2000:])
    assert s["status"].startswith("This page changed"), s["status"]
    assert "(" + name + ": " in s["status"], s["status"]
    assert s["suggests"] == 0 and not s["framings"]
    logged = [m for m in r["console"] if "the page changed" in m]
    assert logged and name in logged[0], r["console"]
