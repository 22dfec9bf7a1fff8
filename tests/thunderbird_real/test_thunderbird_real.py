"""The Snipwise add-on in a real Thunderbird (Debian's thunderbird, 153
ESR) under Xvfb with openbox: a temporary profile with the XPI built from
clients/thunderbird installed, the native host snipwise-nm registered in a
temporary HOME and configured for a real snipd holding the demo team's
sample, and a local folder holding the demo team's open inquiry (from
service/demo/sample.mbox). The test opens a reply to that mail, clicks the
compose toolbar's Snipwise button, and checks in the popup that the
suggestions came from snipd; clicks Insert and reads the framing in the
draft's editor; clicks Attach and finds the content library's file (by
SHA-256, as snipd's ReadContent serves it) on the compose; and checks a
screenshot of the panel. It is driven through Marionette (privileged
script in Thunderbird's chrome context), not through screen coordinates."""

import base64
import hashlib
import os
import re
import shutil
import time
from urllib.parse import unquote, urlsplit

import grpc
import pytest
from snipwise.v1 import (snippet_pb2, snippet_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc)

from e2e_lib import Snipd, auth_md, binary, scratch_dir
from marionette import Marionette
from png_check import pixel, read_png
from tb_lib import (EXT_ID, OPENBOX, THUNDERBIRD, XVFB, Procs, free_port,
                    make_home, make_profile)

INQUIRY_ID = "sim.demo.22.t111.inq@northsystems.example"
REP_NAME = "Chen Nguyen"
REP_EMAIL = "chen.nguyen@northwind-analytics.example"
LOAD_TIMEOUT = 120.0
STEP_TIMEOUT = 45  # seconds for each step inside Thunderbird


def _runfiles(*parts):
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, "snipwise", *parts)
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), *parts)


def _outputs():
    d = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or scratch_dir("out-")
    os.makedirs(d, exist_ok=True)
    return d


def inquiry_mbox():
    """The open inquiry of the demo sample as a one-mail mbox."""
    with open(_runfiles("service", "demo", "sample.mbox"), "rb") as f:
        mbox = f.read()
    for part in re.split(rb"\n(?=From )", mbox):
        if b"Message-ID: <" + INQUIRY_ID.encode() + b">" in part:
            return part.rstrip(b"\n") + b"\n\n"
    raise AssertionError("the inquiry is not in sample.mbox")


def wait_demo_loaded(snipd):
    """Until Suggest for the inquiry answers with framings and content."""
    ch = snipd.channel()
    sug = suggest_pb2_grpc.SuggestServiceStub(ch)
    md = auth_md(snipd.demo_key)
    end = time.monotonic() + LOAD_TIMEOUT
    while True:
        try:
            r = sug.Suggest(suggest_pb2.SuggestRequest(
                in_reply_to_message_id="<%s>" % INQUIRY_ID,
                draft_text="Hi Riley,", rep_email=REP_EMAIL,
                max_framings=20, max_contents=20), metadata=md, timeout=30)
            if r.framings and r.contents:
                return r
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.NOT_FOUND,
                                grpc.StatusCode.FAILED_PRECONDITION,
                                grpc.StatusCode.UNAVAILABLE):
                raise
        if time.monotonic() > end:
            pytest.fail("the demo sample never loaded\n" + snipd.stderr)
        time.sleep(0.2)


def library_file(snipd, content_id):
    """(ContentFile, bytes) of a content item, by snipd's ReadContent."""
    stub = snippet_pb2_grpc.SnippetServiceStub(snipd.channel())
    head, data = None, b""
    for m in stub.ReadContent(snippet_pb2.ReadContentRequest(
            content_id=content_id), metadata=auth_md(snipd.demo_key),
            timeout=30):
        if m.HasField("file"):
            head = m.file
        data += m.data
    return head, data


# --- chrome-context scripts (run by Marionette, may return promises) ----

JS_PRELUDE = """
const { MailServices } = ChromeUtils.importESModule(
  "resource:///modules/MailServices.sys.mjs");
const sleep = (ms) => new Promise((r) => window.setTimeout(r, ms));
async function until(what, fn, ms) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    await sleep(150);
  }
  throw new Error("timed out waiting for " + what + ": " + last);
}
function composeWin() {
  return Services.wm.getMostRecentWindow("msgcompose");
}
function popupBrowser() {
  const w = composeWin();
  return w && w.document.querySelector("browser.webextension-popup-browser");
}
function popupDoc() {
  const b = popupBrowser();
  return b && b.contentDocument;
}
"""

JS_ADDON = JS_PRELUDE + """
const { AddonManager } = ChromeUtils.importESModule(
  "resource://gre/modules/AddonManager.sys.mjs");
return until("the add-on", async () => {
  const a = await AddonManager.getAddonByID(arguments[0]);
  return a && a.isActive ? {id: a.id, version: a.version,
    remote: WebExtensionPolicy.useRemoteWebExtensions} : null;
}, arguments[1]);
"""

# Finds the inquiry in the local Inbox (the mbox is parsed on first use)
# and opens a plain-text reply to it with the account's identity.
JS_REPLY = JS_PRELUDE + """
const [mid, ms] = arguments;
const server = MailServices.accounts.localFoldersServer;
const inbox = await until("the Inbox", () =>
  server.rootFolder.getChildNamed("Inbox"), ms);
const hdr = await until("the inquiry in the Inbox", () => {
  try {
    const h = inbox.msgDatabase.getMsgHdrForMessageID(mid);
    if (h) return h;
  } catch (e) {}
  try { inbox.updateFolder(null); } catch (e) {}
  return null;
}, ms);
// A "none" account cannot be the default one: take its own identity.
const identity = MailServices.accounts.findAccountForServer(server)
  .defaultIdentity;
MailServices.compose.OpenComposeWindow(null, hdr, inbox.getUriForMsg(hdr),
  Ci.nsIMsgCompType.ReplyToSender, Ci.nsIMsgCompFormat.PlainText, identity,
  null, null);
const w = await until("the compose window", () => {
  const c = composeWin();
  return c && c.gLoadingComplete && c.GetCurrentEditor() ? c : null;
}, ms);
const text = await until("the quoted inquiry in the editor", () => {
  const t = w.GetCurrentEditorElement().contentDocument.body.innerText;
  return t.includes("security review") ? t : null;
}, ms);
return {subject: w.document.getElementById("msgSubject").value,
        from: identity.email, text,
        plain: !w.gMsgCompose.composeHTML};
"""

# Clicks the Snipwise button of the compose toolbar and waits for the
# popup's panel to finish (data-state ready, empty or error).
JS_OPEN_PANEL = JS_PRELUDE + """
const [buttonId, ms] = arguments;
const w = composeWin();
const button = await until("the Snipwise button",
  () => w.document.getElementById(buttonId), ms);
w.focus();
button.click();
const doc = await until("the panel's page", () => {
  const d = popupDoc();
  return d && d.getElementById("status") ? d : null;
}, ms);
await until("the panel to finish", () =>
  ["ready", "empty", "error"].includes(doc.body.dataset.state) ? 1 : null, ms);
const b = popupBrowser();
return {
  state: doc.body.dataset.state,
  status: doc.getElementById("status").textContent,
  url: b.currentURI.spec,
  remote: b.isRemoteBrowser,
  framings: [...doc.querySelectorAll("#framings > li")].map((li) => ({
    text: li.querySelector(".text").textContent,
    evidence: li.querySelector(".evidence").textContent})),
  contents: [...doc.querySelectorAll("#contents > li")].map((li) => ({
    title: li.querySelector(".title").firstChild.textContent,
    evidence: li.querySelector(".evidence").textContent})),
  width: b.clientWidth, height: b.clientHeight,
};
"""

# A picture of what the popup's browser shows, as PNG (base64).
JS_SNAPSHOT = JS_PRELUDE + """
const b = popupBrowser();
const bitmap = await b.browsingContext.currentWindowGlobal.drawSnapshot(
  null, 1, "white");
const doc = composeWin().document;
const canvas = doc.createElementNS("http://www.w3.org/1999/xhtml", "canvas");
canvas.width = bitmap.width;
canvas.height = bitmap.height;
canvas.getContext("2d").drawImage(bitmap, 0, 0);
return canvas.toDataURL("image/png").split(",")[1];
"""

# Clicks the panel's button `label` in item `index` of list `listId` and
# waits until the draft's editor or the attachment list changes.
JS_CLICK = JS_PRELUDE + """
const [listId, index, label, ms] = arguments;
const w = composeWin();
const doc = popupDoc();
const li = doc.querySelectorAll("#" + listId + " > li")[index];
const btn = [...li.querySelectorAll("button")].find(
  (x) => x.textContent === label);
if (!btn) throw new Error("no " + label + " button");
const body = () => w.GetCurrentEditorElement().contentDocument.body.innerText;
const names = () => [...w.gAttachmentBucket.itemChildren].map(
  (i) => i.attachment.name);
const before = {text: body(), n: names().length};
btn.click();
await until("the draft or its attachments to change", () =>
  body() !== before.text || names().length !== before.n ? 1 : null, ms);
// Insert also attaches the framing's file: give it time to land.
await sleep(500);
return {
  text: body(),
  status: doc.getElementById("status").textContent,
  state: doc.body.dataset.state,
  note: li.querySelector(".explanation")
    ? li.querySelector(".explanation").textContent : "",
  attachments: [...w.gAttachmentBucket.itemChildren].map((i) => ({
    name: i.attachment.name, url: i.attachment.url,
    size: i.attachment.size})),
};
"""

JS_ATTACHMENTS = JS_PRELUDE + """
const [n, ms] = arguments;
const w = composeWin();
return until(n + " attachments", () => {
  const a = [...w.gAttachmentBucket.itemChildren].map((i) => ({
    name: i.attachment.name, url: i.attachment.url}));
  return a.length >= n ? a : null;
}, ms);
"""


def _file_bytes(url):
    assert url.startswith("file://"), url
    with open(unquote(urlsplit(url).path), "rb") as f:
        return f.read()


def _check_png(path, data):
    with open(path, "wb") as f:
        f.write(data)
    assert os.path.getsize(path) > 5000, os.path.getsize(path)
    w, h, ch, rows = read_png(data)
    assert w >= 250 and h >= 200, (w, h)
    white = sum(1 for y in range(h) for x in range(w)
                if pixel(rows, ch, x, y) == (255, 255, 255))
    assert w * h - white > 0.05 * w * h, "blank screenshot"
    # The panel's header bar (#1f6feb) at the top left.
    assert pixel(rows, ch, 5, 5) == (0x1f, 0x6f, 0xeb), pixel(rows, ch, 5, 5)
    dark = sum(1 for y in range(60, h) for x in range(w)
               if sum(pixel(rows, ch, x, y)) < 200)
    assert dark > 500, "no text drawn: %d dark pixels" % dark
    return w, h


def test_reply_in_real_thunderbird():
    for p in (THUNDERBIRD, XVFB, OPENBOX):
        assert os.access(p, os.X_OK), \
            "%s is missing: run bazel/install_deps.sh" % p
    nm = binary("SNIPWISE_NM", "clients", "nm", "snipwise-nm")
    snipd = Snipd(scratch_dir("snipd-"), sample=True).start()
    root = scratch_dir("tb-")
    procs = Procs(root)
    mar = None
    try:
        truth = wait_demo_loaded(snipd)
        known = {f.text for f in truth.framings}
        home = make_home(root, nm, {"addr": snipd.addr,
                                    "key": snipd.demo_key,
                                    "rep_email": REP_EMAIL,
                                    "timeout_ms": 20000})
        port = free_port()
        prof = make_profile(root, _runfiles("clients", "thunderbird"), port,
                            REP_NAME, REP_EMAIL)
        with open(os.path.join(prof, "Mail", "Local Folders", "Inbox"),
                  "wb") as f:
            f.write(inquiry_mbox())
        procs.start_xvfb()
        procs.start_openbox(home)
        procs.start_thunderbird(home, prof)
        mar = Marionette(port)
        try:
            mar.connect(timeout=60)
            mar.start_session(script_timeout_ms=(STEP_TIMEOUT + 10) * 1000)
        except Exception as e:
            pytest.fail("%s\n--- thunderbird ---\n%s" % (
                e, procs.log_text("thunderbird")))
        ms = STEP_TIMEOUT * 1000

        def run(js, *args):
            try:
                return mar.script(js, args, timeout=STEP_TIMEOUT + 10)
            except Exception as e:
                pytest.fail("%s\n--- thunderbird ---\n%s" % (
                    e, procs.log_text("thunderbird")))

        addon = run(JS_ADDON, EXT_ID, ms)
        assert addon["id"] == EXT_ID, addon

        # 1. A plain-text reply to the inquiry, from Chen's identity.
        reply = run(JS_REPLY, INQUIRY_ID, ms)
        assert reply["subject"] == "Re: Info on security review?", reply
        assert reply["from"] == REP_EMAIL and reply["plain"], reply

        # 2. The Snipwise button opens the panel; its suggestions are
        # snipd's for this thread, with evidence.
        panel = run(JS_OPEN_PANEL,
                    "snipwise_snipwise_example-composeAction-toolbarbutton",
                    ms)
        assert panel["state"] == "ready", panel
        assert panel["url"].startswith("moz-extension://") and \
            panel["url"].endswith("/panel.html"), panel
        assert panel["framings"] and panel["contents"], panel
        for f in panel["framings"]:
            assert f["text"] in known, (f, sorted(known))
            assert re.match(r"used by \d+ reps? in \d+ threads?", f["evidence"]) \
                or f["evidence"].startswith("new:"), f
        titles = {c.title for c in truth.contents}
        for c in panel["contents"]:
            assert c["title"] in titles, (c, sorted(titles))

        # 3. A screenshot of the panel as Thunderbird drew it.
        png = base64.b64decode(run(JS_SNAPSHOT))
        shot = os.path.join(_outputs(), "thunderbird_panel.png")
        _check_png(shot, png)
        keep = os.environ.get("TB_SCREENSHOT_COPY")
        if keep:
            shutil.copyfile(shot, keep)

        # 4. Insert puts the first framing into the draft, after the
        # rep's (empty) text and before the quoted inquiry.
        top = panel["framings"][0]["text"]
        ins = run(JS_CLICK, "framings", 0, "Insert", ms)
        assert ins["state"] == "ready", ins
        text = ins["text"]
        assert top in text, text
        assert text.index(top) < text.index("> Hi Chen,"), text

        # 5. Attach puts the first suggested file on the compose: the
        # bytes of the content library (ReadContent), not the thread's.
        n0 = len(ins["attachments"])
        att = run(JS_CLICK, "contents", 0, "Attach", ms)
        assert att["state"] == "ready", att
        assert len(att["attachments"]) == n0 + 1, att
        want = [c for c in truth.contents
                if c.title == panel["contents"][0]["title"]][0]
        head, data = library_file(snipd, want.content_id)
        got = att["attachments"][-1]
        assert got["name"] == head.filename, (got, head)
        assert att["note"] == "Attached %s." % head.filename, att
        body = _file_bytes(got["url"])
        assert hashlib.sha256(body).hexdigest() == head.sha256 == \
            hashlib.sha256(data).hexdigest(), got
    finally:
        if mar:
            mar.close()
        procs.stop()
        snipd.stop()
