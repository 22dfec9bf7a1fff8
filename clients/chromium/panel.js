// panel.js: the side panel's DOM and chrome.* glue. It follows one tab's
// compose (the state content.js sends, kept by background.js in
// chrome.storage.session), asks the native host for suggestions whenever
// that state changes, renders them, carries out Insert, Attach, Copy and
// Dismiss through the page's content script, and reports each as feedback.
// The logic is the Thunderbird panel's (panel_logic.js, nm_client.js, the
// same files, copied into the extension at build time) plus
// panel_state.js.
import {
  ContentAssembler, attachmentOf, buildSuggestRequest, errorText,
  feedbackRequest, findAttachment, notKeptContent, readContentRequest,
  renderModel, shownRequests,
} from "./panel_logic.js";
import { NativeClient } from "./nm_client.js";
import {
  base64Of, composeRequestParts, errorState, stateText,
} from "./panel_state.js";

const HOST = "com.snipwise.nm";
const client = new NativeClient(() => chrome.runtime.connectNative(HOST), {
  lastError: () => chrome.runtime.lastError,
});

const state = { tabId: 0, compose: null, model: null, rep: "", seq: 0,
  suggests: 0 };

function $(id) {
  return document.getElementById(id);
}

function setStatus(text, kind) {
  $("status").textContent = text;
  document.body.dataset.state = kind;
}

function showError(e) {
  const kind = errorState(e);
  setStatus(kind === "error" ? errorText(e) : stateText(kind, e), kind);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label, onClick) {
  const b = el("button", "", label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// Feedback is best effort: a lost report must not disturb the rep.
function report(itemId, kind) {
  if (!state.model) return Promise.resolve();
  return client.request(feedbackRequest(state.model, itemId, kind, state.rep,
    client.nextId())).catch((e) => console.warn("snipwise feedback", e));
}

// A request to the page's content script; its error is the panel's.
async function toPage(msg) {
  const r = await chrome.tabs.sendMessage(state.tabId, msg);
  if (!r || (!r.ok && !r.mismatch)) {
    const e = new Error((r && r.error) || "the page did not answer");
    if (r && r.selector) e.selector = r.selector;
    throw e;
  }
  return r;
}

function note(li, text) {
  const n = li && li.querySelector(".explanation");
  if (n) n.textContent = text;
}

async function insert(f, li) {
  await toPage({ type: "insert", text: f.text });
  li.classList.add("used");
  await report(f.itemId, "inserted");
  if (f.contentId) await attach(f.contentId, null);
}

// The thread's attachments as the page's adapter read them (Gmail's
// carry a URL of the site; Outlook's none).
function threadAttachments() {
  const c = state.compose && state.compose.compose;
  return (c && c.thread && c.thread.attachments) || [];
}

// The suggested file from the team's content library, through the host's
// read_content (chunk frames, checked against the file's SHA-256). When
// the library does not keep the file, the thread's own attachment of that
// name (panel_logic's findAttachment, as in Thunderbird), fetched by the
// page and attached only if its SHA-256 is the library's record of the
// file; else the rep is told to attach it by hand.
async function attach(contentId, li) {
  const asm = new ContentAssembler();
  let result;
  try {
    result = await client.request(readContentRequest(contentId),
      { onChunk: (c) => asm.add(c) });
  } catch (e) {
    const content = notKeptContent(e);
    if (!content) throw e;
    await attachFromThread(contentId, content, li);
    return;
  }
  const bytes = await asm.finish(result);
  const { name, type } = attachmentOf(result);
  await toPage({ type: "attach", name, mediaType: type,
    data: base64Of(bytes) });
  note(li, "Attached " + name + ".");
  await reportAttached(contentId);
}

async function attachFromThread(contentId, content, li) {
  const name = content.filename || content.title || "it";
  const a = findAttachment(content, threadAttachments());
  if (!a || !a.url) {
    note(li, "Your team's library does not keep this file: attach " +
      name + " from your files or the thread.");
    return;
  }
  const r = await toPage({ type: "attach-thread", url: a.url, name: a.name,
    mediaType: content.media_type || a.type || "", sha256: content.sha256 });
  if (!r.ok) {
    note(li, "Not attached: " + r.error + ". Attach " + name +
      " from your files.");
    return;
  }
  note(li, "Attached " + a.name + " from this thread (your team's " +
    "library does not keep it).");
  await reportAttached(contentId);
}

async function reportAttached(contentId) {
  const c = state.model.contents.find((x) => x.contentId === contentId);
  if (c) await report(c.itemId, "inserted");
}

function failing(fn) {
  return () => fn().catch((e) => {
    if (e.selector)
      setStatus(stateText("changed", e, Object.assign({},
        state.compose, { selector: e.selector })), "changed");
    else showError(e);
  });
}

function renderFraming(f) {
  const li = el("li");
  const ev = el("div", "evidence", f.evidence);
  ev.title = f.explanation;
  li.append(el("p", "text", f.text), ev);
  if (f.contentTitle)
    li.append(el("div", "explanation", "goes with " + f.contentTitle));
  const actions = el("div", "actions");
  actions.append(
    button("Insert", failing(() => insert(f, li))),
    button("Copy", failing(() => navigator.clipboard.writeText(f.text)
      .then(() => report(f.itemId, "copied")))),
    button("Dismiss", () => {
      li.classList.add("dismissed");
      report(f.itemId, "dismissed");
    }));
  li.append(actions);
  return li;
}

function renderContent(c) {
  const li = el("li");
  const title = el("div", "title", c.title);
  title.append(el("span", "kind", c.kind));
  li.append(title);
  if (c.keyPassage) li.append(el("p", "passage", c.keyPassage));
  const ev = el("div", "evidence", c.evidence);
  ev.title = c.explanation;
  li.append(ev, el("div", "explanation"));
  const actions = el("div", "actions");
  actions.append(
    button("Attach", failing(() => attach(c.contentId, li))),
    button("Dismiss", () => {
      li.classList.add("dismissed");
      report(c.itemId, "dismissed");
    }));
  li.append(actions);
  return li;
}

function clear() {
  $("framings").replaceChildren();
  $("contents").replaceChildren();
  $("framings-section").hidden = true;
  $("contents-section").hidden = true;
}

function render(model) {
  $("framings").replaceChildren(...model.framings.map(renderFraming));
  $("contents").replaceChildren(...model.contents.map(renderContent));
  $("framings-section").hidden = model.framings.length === 0;
  $("contents-section").hidden = model.contents.length === 0;
  $("footer").textContent = model.modelVersion
    ? "model " + model.modelVersion : "";
  if (model.empty)
    setStatus("No suggestions yet for this thread: your team's history " +
      "has nothing close.", "empty");
  else setStatus(model.framings.length + " framings, " +
    model.contents.length + " files, ranked by what worked", "ready");
}

function showContext(c) {
  const who = [].concat(c.to || [], c.cc || []).join(", ");
  $("context").textContent = (c.subject || "(no subject)") +
    (who ? " · to " + who : "") + (c.draft ? " · draft: " + c.draft : "");
}

async function suggest() {
  const s = state.compose;
  if (!s || s.state === "none") {
    clear();
    $("context").textContent = "";
    setStatus(stateText("waiting"), "waiting");
    return;
  }
  if (s.state === "changed") {
    clear();
    setStatus(stateText("changed", null, s), "changed");
    return;
  }
  const seq = ++state.seq;
  setStatus("Looking for suggestions…", "loading");
  showContext(s.compose);
  const { details, related } = composeRequestParts(s.compose);
  const req = buildSuggestRequest(details, related, client.nextId());
  state.suggests++;
  document.body.dataset.suggests = String(state.suggests);
  const resp = await client.request(req);
  if (seq !== state.seq) return; // a newer draft is on its way
  state.rep = req.rep_email || "";
  state.model = renderModel(resp);
  render(state.model);
  await Promise.all(shownRequests(state.model, state.rep,
    () => client.nextId()).map((r) => client.request(r).catch(() => null)));
}

function run() {
  suggest().catch((e) => {
    clear();
    showError(e);
  });
}

async function start() {
  const q = Number(new URLSearchParams(location.search).get("tab"));
  if (q) state.tabId = q;
  else {
    const [tab] = await chrome.tabs.query({ active: true,
      currentWindow: true });
    state.tabId = tab ? tab.id : 0;
  }
  const key = "compose:" + state.tabId;
  chrome.storage.session.onChanged.addListener((changes) => {
    if (!changes[key]) return;
    state.compose = changes[key].newValue || null;
    run();
  });
  const got = await chrome.storage.session.get(key);
  state.compose = got[key] || null;
  $("refresh").addEventListener("click", () => {
    // Ask the page again (a compose opened before the extension was).
    chrome.tabs.sendMessage(state.tabId, { type: "snapshot" })
      .catch(() => null);
    run();
  });
  run();
}

start().catch(showError);
