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
import email
import email.policy
import hashlib
import json
import mailbox
import os
import re
import shutil
import signal
import struct
import time
from urllib.parse import unquote, urlsplit

import grpc
import pytest
from snipwise.v1 import (outcome_pb2, outcome_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2, team_pb2_grpc)

from e2e_lib import Snipd, auth_md, binary, scratch_dir
from marionette import Marionette
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


def reps_sentences():
    """The decoded text of every mail the demo team's reps sent: where
    every framing snipd can suggest for this team was first written."""
    out = []
    box = mailbox.mbox(_runfiles("service", "demo", "sample.mbox"),
                       factory=lambda f: email.message_from_binary_file(
                           f, policy=email.policy.default), create=False)
    for msg in box:
        if "@northwind-analytics.example" not in str(msg["From"]):
            continue
        for part in msg.walk():
            if part.get_content_type() == "text/plain" and \
                    not part.get_filename():
                out.append(part.get_content())
    box.close()
    return "\n".join(out)


def team_contents(snipd):
    """The demo team's content library by file name (ListContents)."""
    stub = snippet_pb2_grpc.SnippetServiceStub(snipd.channel())
    r = stub.ListContents(snippet_pb2.ListContentsRequest(page_size=200),
                          metadata=auth_md(snipd.demo_key), timeout=30)
    return {c.filename: c for c in r.contents}


def feedback_kinds(snipd):
    """How many feedback records of each kind Chen has in snipd."""
    stub = outcome_pb2_grpc.OutcomeServiceStub(snipd.channel())
    r = stub.ListFeedback(outcome_pb2.ListFeedbackRequest(
        page_size=500, rep_email=REP_EMAIL),
        metadata=auth_md(snipd.demo_key), timeout=30)
    out = {}
    for f in r.feedback:
        name = outcome_pb2.FeedbackKind.Name(f.kind)
        out[name] = out.get(name, 0) + 1
    return out


class _NotYet(Exception):
    pass


def wait_demo_loaded(snipd):
    """Until the demo team has settled (no extraction job left, statistics
    current, as tests/e2e/test_demo.py waits) and Suggest for the inquiry
    answers with framings and content."""
    ch = snipd.channel()
    sug = suggest_pb2_grpc.SuggestServiceStub(ch)
    team = team_pb2_grpc.TeamServiceStub(ch)
    md = auth_md(snipd.demo_key)
    end = time.monotonic() + LOAD_TIMEOUT
    while True:
        try:
            t = team.GetMyTeam(team_pb2.GetMyTeamRequest(), metadata=md,
                               timeout=30)
            if t.pending_extraction_jobs or not t.statistics.current:
                raise _NotYet()
            r = sug.Suggest(suggest_pb2.SuggestRequest(
                in_reply_to_message_id="<%s>" % INQUIRY_ID,
                draft_text="Hi Riley,", rep_email=REP_EMAIL,
                max_framings=20, max_contents=20), metadata=md, timeout=30)
            if r.framings and r.contents:
                return r
        except _NotYet:
            pass
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

# The panel is an extension page in the extension's content process: the
# chrome side cannot touch its DOM, so a small frame script (loaded into
# the popup's browser, as Gecko loads its own ext-browser-content.js)
# answers "state" and "click" requests over the browser's message manager.
PANEL_FRAME_SCRIPT = """
addMessageListener("SwTest:do", (msg) => {
  const { id, op, args } = msg.data;
  const doc = content.document;
  const item = (list, index) => {
    const li = doc.querySelectorAll("#" + list + " > li")[index];
    if (!li) throw new Error("no item " + index + " in #" + list);
    return li;
  };
  const text = (li, sel) => {
    const e = li.querySelector(sel);
    return e ? e.textContent : "";
  };
  try {
    let result = null;
    if (op === "state") {
      const st = doc.getElementById("status");
      result = {
        state: doc.body ? doc.body.dataset.state || "" : "",
        status: st ? st.textContent : "",
        framings: [...doc.querySelectorAll("#framings > li")].map((li) => ({
          text: text(li, ".text"), evidence: text(li, ".evidence"),
          note: text(li, ".explanation")})),
        contents: [...doc.querySelectorAll("#contents > li")].map((li) => ({
          title: li.querySelector(".title") ?
            li.querySelector(".title").firstChild.textContent : "",
          evidence: text(li, ".evidence"),
          note: text(li, ".explanation")})),
      };
    } else if (op === "click") {
      const [list, index, label] = args;
      const btn = [...item(list, index).querySelectorAll("button")].find(
        (b) => b.textContent === label);
      if (!btn) throw new Error("no " + label + " button");
      btn.click();
      result = true;
    } else {
      throw new Error("unknown op " + op);
    }
    sendAsyncMessage("SwTest:done", { id, result });
  } catch (e) {
    sendAsyncMessage("SwTest:done", { id, error: String(e) });
  }
});
"""

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
  throw new Error("timed out waiting for " + what + ": " +
    (typeof last === "object" ? JSON.stringify(last) : last));
}
function composeWin() {
  return Services.wm.getMostRecentWindow("msgcompose");
}
function popupBrowser() {
  const w = composeWin();
  return w && w.document.querySelector("browser.webextension-popup-browser");
}
// One request to the popup's frame script; rejects after 10 s.
let seq = 0;
function panel(op, ...args) {
  const b = popupBrowser();
  if (!b) return Promise.reject(new Error("no popup"));
  const mm = b.messageManager;
  if (!b.swTestLoaded) {
    mm.loadFrameScript("data:application/javascript," +
      encodeURIComponent(FRAME_SCRIPT), false);
    b.swTestLoaded = true;
  }
  const id = Date.now() * 1000 + (++seq);
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(() => {
      mm.removeMessageListener("SwTest:done", listener);
      reject(new Error("no answer from the panel's frame script"));
    }, 10000);
    function listener(m) {
      if (m.data.id !== id) return;
      mm.removeMessageListener("SwTest:done", listener);
      window.clearTimeout(timer);
      if (m.data.error) reject(new Error(m.data.error));
      else resolve(m.data.result);
    }
    mm.addMessageListener("SwTest:done", listener);
    mm.sendAsyncMessage("SwTest:do", { id, op, args });
  });
}
function draftText() {
  return composeWin().GetCurrentEditorElement().contentDocument.body
    .innerText;
}
function attachments() {
  return [...composeWin().gAttachmentBucket.itemChildren].map((i) => ({
    name: i.attachment.name, url: i.attachment.url}));
}
""".replace("FRAME_SCRIPT", json.dumps(PANEL_FRAME_SCRIPT))

JS_ADDON = JS_PRELUDE + """
const { AddonManager } = ChromeUtils.importESModule(
  "resource://gre/modules/AddonManager.sys.mjs");
return until("the add-on", async () => {
  const a = await AddonManager.getAddonByID(arguments[0]);
  return a && a.isActive ? {id: a.id, version: a.version} : null;
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
  const t = draftText();
  return t.includes("security review") ? t : null;
}, ms);
return {subject: w.document.getElementById("msgSubject").value,
        from: identity.email, text,
        plain: !w.gMsgCompose.composeHTML};
"""

# Clicks the Snipwise button of the compose toolbar (a toolbarbutton's
# click, as the mouse would) and waits until the panel has finished.
JS_OPEN_PANEL = JS_PRELUDE + """
const [buttonId, ms] = arguments;
const w = composeWin();
const button = await until("the Snipwise button",
  () => w.document.getElementById(buttonId), ms);
w.focus();
button.click();
const b = await until("the panel's page", () => {
  const p = popupBrowser();
  return p && p.currentURI.spec.endsWith("/panel.html") ? p : null;
}, ms);
const st = await until("the panel to finish", async () => {
  const s = await panel("state");
  return ["ready", "empty", "error"].includes(s.state) ? s : null;
}, ms);
return Object.assign(st, {url: b.currentURI.spec, remote: b.isRemoteBrowser,
  width: b.clientWidth, height: b.clientHeight});
"""

# A picture of what the popup's browser shows: the PNG (base64) and, from
# the same pixels, what makes it a picture of the panel: how many are not
# white, the colour at the header's top left, how many are dark (text)
# below the header.
JS_SNAPSHOT = JS_PRELUDE + """
const [what] = arguments;
const wg = what === "panel" ?
  popupBrowser().browsingContext.currentWindowGlobal :
  composeWin().browsingContext.currentWindowGlobal;
const bitmap = await wg.drawSnapshot(null, 1, "white");
const doc = composeWin().document;
const canvas = doc.createElementNS("http://www.w3.org/1999/xhtml", "canvas");
canvas.width = bitmap.width;
canvas.height = bitmap.height;
const ctx = canvas.getContext("2d");
ctx.drawImage(bitmap, 0, 0);
const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let nonWhite = 0, dark = 0;
for (let i = 0; i < px.length; i += 4) {
  const sum = px[i] + px[i + 1] + px[i + 2];
  if (sum !== 765) nonWhite++;
  if (sum < 200 && i / 4 >= 60 * canvas.width) dark++;
}
const at = 4 * (5 * canvas.width + 5);
return {png: canvas.toDataURL("image/png").split(",")[1],
        width: canvas.width, height: canvas.height, nonWhite, dark,
        corner: [px[at], px[at + 1], px[at + 2]]};
"""

# Clicks the panel's button `label` in item `index` of list `listId`,
# then waits until the draft's text or its attachments have changed (and
# until want_attachments are on it, since Insert may attach a file too).
JS_CLICK = JS_PRELUDE + """
const [listId, index, label, wantAttachments, ms] = arguments;
const before = {text: draftText(), n: attachments().length};
await panel("click", listId, index, label);
await until("the draft or its attachments to change", () =>
  draftText() !== before.text || attachments().length !== before.n ?
    1 : null, ms);
await until(wantAttachments + " attachments", () =>
  attachments().length >= wantAttachments ? 1 : null, ms);
const st = await panel("state");
return Object.assign(st, {text: draftText(), attachments: attachments()});
"""


def _file_bytes(url):
    assert url.startswith("file://"), url
    with open(unquote(urlsplit(url).path), "rb") as f:
        return f.read()


def _check_png(path, shot, header=True):
    """Writes a snapshot's PNG to path and checks it: a real PNG of the
    canvas's size, not blank, text drawn; for the panel, the header bar's
    blue at the top left."""
    data = base64.b64decode(shot["png"])
    with open(path, "wb") as f:
        f.write(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR", data[:32]
    w, h = struct.unpack(">II", data[16:24])
    assert (w, h) == (shot["width"], shot["height"]), (w, h, shot["width"])
    assert w >= 250 and h >= 200, (w, h)
    assert len(data) > 5000, len(data)
    assert shot["nonWhite"] > 0.05 * w * h, "blank screenshot: %r" % (
        {k: v for k, v in shot.items() if k != "png"})
    # The panel's header bar (#1f6feb, panel.css) at the top left.
    assert not header or shot["corner"] == [0x1f, 0x6f, 0xeb], shot["corner"]
    assert shot["dark"] > 500, "no text drawn: %d dark pixels" % shot["dark"]


def _on_sigterm(signum, frame):
    # Bazel ends a test that runs out of time with SIGTERM: turn it into an
    # exception so that the finally below kills Thunderbird and Xvfb,
    # which run in sessions of their own.
    raise SystemExit("SIGTERM")


def test_reply_in_real_thunderbird():
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _reply_in_real_thunderbird()
    finally:
        signal.signal(signal.SIGTERM, old)


def _reply_in_real_thunderbird():
    for p in (THUNDERBIRD, XVFB, OPENBOX):
        assert os.access(p, os.X_OK), \
            "%s is missing: run bazel/install_deps.sh" % p
    nm = binary("SNIPWISE_NM", "clients", "nm", "snipwise-nm")
    snipd = Snipd(scratch_dir("snipd-"), sample=True).start()
    root = scratch_dir("tb-")
    procs = Procs(root)
    mar = None
    try:
        wait_demo_loaded(snipd)
        written = reps_sentences()
        home = make_home(
            root, _runfiles("clients", "nm", "install_manifest.sh"), nm,
            {"addr": snipd.addr, "key": snipd.demo_key,
             "rep_email": REP_EMAIL, "timeout_ms": 20000})
        port = free_port()
        # TB_EXTENSION_DIR: another copy of the add-on (e.g. a mutant).
        ext_dir = os.environ.get("TB_EXTENSION_DIR") or \
            _runfiles("clients", "thunderbird")
        prof = make_profile(root, ext_dir, port, REP_NAME, REP_EMAIL)
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
        assert isinstance(panel, dict) and panel.get("state") == "ready", panel
        assert panel["url"].startswith("moz-extension://") and \
            panel["url"].endswith("/panel.html"), panel
        assert panel["framings"] and panel["contents"], panel
        for f in panel["framings"]:
            assert f["text"] and f["text"] in written, f
            assert re.match(r"used by \d+ reps? in \d+ threads?",
                            f["evidence"]) or \
                f["evidence"].startswith("new:"), f
        library = team_contents(snipd)
        for c in panel["contents"]:
            assert c["title"] in library, (c, sorted(library))
            assert re.match(r"used by \d+ reps? in \d+ threads?",
                            c["evidence"]), c

        # 3. A screenshot of the panel as Thunderbird drew it.
        shot = os.path.join(_outputs(), "thunderbird_panel.png")
        _check_png(shot, run(JS_SNAPSHOT, "panel"))
        keep = os.environ.get("TB_SCREENSHOT_COPY")
        if keep:
            shutil.copyfile(shot, keep)

        # 4. Attach puts the first suggested file on the compose: the
        # bytes of the content library (ReadContent), not the thread's
        # (the inquiry has no attachment).
        att = run(JS_CLICK, "contents", 0, "Attach", 1, ms)
        assert att["state"] == "ready", att
        assert len(att["attachments"]) == 1, att
        want = library[panel["contents"][0]["title"]]
        head, data = library_file(snipd, want.content_id)
        got = att["attachments"][0]
        assert got["name"] == head.filename, (got, head)
        assert att["contents"][0]["note"] == "Attached %s." % head.filename, att
        body = _file_bytes(got["url"])
        assert len(body) == head.size_bytes and len(data) == head.size_bytes
        assert hashlib.sha256(body).hexdigest() == head.sha256 == \
            hashlib.sha256(data).hexdigest(), got
        assert att["text"] == reply["text"], "Attach changed the draft"

        # 5. Insert puts the first framing into the draft, after the rep's
        # (empty) text and before the quoted inquiry, and attaches the
        # framing's file when it goes with one.
        top = panel["framings"][0]
        # Its file, unless that is the one Attach put there (never twice).
        with_file = top["note"].startswith("goes with ") and \
            top["note"] != "goes with " + head.filename
        ins = run(JS_CLICK, "framings", 0, "Insert", 1 + int(with_file), ms)
        assert ins["state"] == "ready", ins
        text = ins["text"]
        assert top["text"] in text, text
        assert text.index(top["text"]) < text.index("> Hi Chen,"), text
        assert text.index(top["text"]) < text.index("Riley Jensen wrote:"), text
        assert len(ins["attachments"]) == 1 + int(with_file), ins

        # 6. Every click reached snipd as Chen's feedback: each item shown,
        # the file attached and the framing inserted.
        # The panel reports after the draft changes: wait (bounded).
        n_items = len(panel["framings"]) + len(panel["contents"])
        end = time.monotonic() + 15
        while True:
            kinds = feedback_kinds(snipd)
            if kinds.get("FEEDBACK_KIND_SHOWN", 0) >= n_items and \
                    kinds.get("FEEDBACK_KIND_INSERTED", 0) >= 2:
                break
            assert time.monotonic() < end, (n_items, kinds)
            time.sleep(0.2)

        # 7. The compose window as the rep sees it now (the popup is a
        # separate widget and not part of this picture).
        _check_png(os.path.join(_outputs(), "thunderbird_compose.png"),
                   run(JS_SNAPSHOT, "compose"), header=False)
    finally:
        if mar:
            mar.close()
        procs.stop()
        snipd.stop()
    # The host's stderr went to Thunderbird's: no sanitizer report there.
    log = procs.log_text("thunderbird", tail=10 ** 7)
    assert "ERROR: AddressSanitizer" not in log and \
        "ERROR: LeakSanitizer" not in log and "runtime error:" not in log, log
