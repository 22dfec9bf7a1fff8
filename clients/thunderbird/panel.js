// panel: the DOM and mail-client glue of the Snipwise panel. It reads the
// compose window (browser.compose, browser.messages), asks the native host
// for suggestions, renders them, and reports what the rep does. The logic
// lives in panel_logic.js; this file only wires it to the page and APIs.
import {
  ContentAssembler, attachmentOf, buildSuggestRequest, errorText,
  feedbackRequest, findAttachment, insertFraming, notKeptContent,
  readContentRequest, renderModel, shownRequests,
} from "./panel_logic.js";
import { NativeClient } from "./nm_client.js";

const HOST = "com.snipwise.nm";
const api = globalThis.browser || globalThis.messenger;
const client = new NativeClient(() => api.runtime.connectNative(HOST), {
  lastError: () => api.runtime.lastError,
});

const state = { tab: null, details: null, related: null, model: null,
  rep: "", attachments: [] };

function $(id) {
  return document.getElementById(id);
}

function setStatus(text, kind) {
  $("status").textContent = text;
  document.body.dataset.state = kind;
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

// The message being replied to, as panel_logic wants it, or null.
async function relatedMessage(details) {
  const id = details.relatedMessageId;
  if (!id || !api.messages) return null;
  const hdr = await api.messages.get(id);
  let text = "";
  try {
    const full = await api.messages.getFull(id);
    const stack = [full];
    while (stack.length && !text) {
      const p = stack.pop();
      if (p.contentType === "text/plain" && p.body) text = p.body;
      for (const c of p.parts || []) stack.push(c);
    }
  } catch (e) {
    console.warn("snipwise: cannot read the replied-to message", e);
  }
  let attachments = [];
  try {
    attachments = (await api.messages.listAttachments(id))
      .map((a) => Object.assign({ messageId: id }, a));
  } catch (e) {
    attachments = [];
  }
  state.attachments = attachments;
  return { headerMessageId: hdr.headerMessageId, subject: hdr.subject,
    author: hdr.author, date: hdr.date, text };
}

async function insert(f, li) {
  const details = await api.compose.getComposeDetails(state.tab.id);
  await api.compose.setComposeDetails(state.tab.id,
    insertFraming(details, f.text));
  li.classList.add("used");
  await report(f.itemId, "inserted");
  if (f.contentId) await attach(f.contentId, null);
}

function note(li, text) {
  if (li) li.querySelector(".explanation").textContent = text;
}

// The suggested file from the team's content library, through the host's
// read_content (chunk frames, checked against the file's SHA-256).
async function libraryFile(contentId) {
  const asm = new ContentAssembler();
  const result = await client.request(readContentRequest(contentId),
    { onChunk: (c) => asm.add(c) });
  const bytes = await asm.finish(result);
  const { name, type } = attachmentOf(result);
  return new File([bytes], name, { type });
}

// The same file from the thread being answered, when the library does not
// keep it; null (with a note for the rep) when the thread lacks it too.
async function threadFile(content, li) {
  const a = findAttachment(content, state.attachments);
  if (!a) {
    note(li, "Not in the library or this thread's attachments: attach " +
      (content.filename || "the file") + " from your files.");
    return null;
  }
  const file = await api.messages.getAttachmentFile(a.messageId, a.partName);
  return new File([file], a.name, { type: file.type });
}

// onDraft says whether the draft carries file already (the same name and
// size): Insert of a framing attaches its file, which Attach may have put
// there before.
async function onDraft(file) {
  if (!api.compose.listAttachments) return false;
  const have = await api.compose.listAttachments(state.tab.id);
  return have.some((a) => a.name === file.name && a.size === file.size);
}

async function attach(contentId, li) {
  let file;
  try {
    file = await libraryFile(contentId);
  } catch (e) {
    const content = notKeptContent(e);
    if (!content) {
      setStatus(errorText(e), "error");
      return;
    }
    file = await threadFile(content, li);
    if (!file) return;
  }
  if (await onDraft(file)) {
    note(li, file.name + " is attached already.");
    return;
  }
  await api.compose.addAttachment(state.tab.id, { file, name: file.name });
  note(li, "Attached " + file.name + ".");
  const item = contentIdItem(contentId);
  if (item) await report(item, "inserted");
}

function contentIdItem(contentId) {
  const c = state.model.contents.find((x) => x.contentId === contentId);
  return c ? c.itemId : "";
}

function renderFraming(f) {
  const li = el("li");
  const ev = el("div", "evidence", f.evidence);
  ev.title = f.explanation; // the server's longer wording, on hover
  li.append(el("p", "text", f.text), ev);
  if (f.contentTitle)
    li.append(el("div", "explanation", "goes with " + f.contentTitle));
  const actions = el("div", "actions");
  actions.append(
    button("Insert", () => insert(f, li).catch((e) =>
      setStatus(errorText(e), "error"))),
    button("Copy", () => navigator.clipboard.writeText(f.text)
      .then(() => report(f.itemId, "copied"))
      .catch((e) => setStatus(errorText(e), "error"))),
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
  li.append(ev, el("div", "explanation")); // for notes such as "not here"
  const actions = el("div", "actions");
  actions.append(
    button("Attach", () => attach(c.contentId, li).catch((e) =>
      setStatus(errorText(e), "error"))),
    button("Dismiss", () => {
      li.classList.add("dismissed");
      report(c.itemId, "dismissed");
    }));
  li.append(actions);
  return li;
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

async function suggest() {
  setStatus("Looking for suggestions…", "loading");
  const [tab] = await api.tabs.query({ active: true, currentWindow: true });
  state.tab = tab;
  state.details = await api.compose.getComposeDetails(tab.id);
  state.related = await relatedMessage(state.details);
  const req = buildSuggestRequest(state.details, state.related,
    client.nextId());
  state.rep = req.rep_email || "";
  const resp = await client.request(req);
  state.model = renderModel(resp);
  render(state.model);
  await Promise.all(shownRequests(state.model, state.rep,
    () => client.nextId()).map((r) => client.request(r).catch(() => null)));
}

function run() {
  suggest().catch((e) => setStatus(errorText(e), "error"));
}

$("refresh").addEventListener("click", run);
run();
