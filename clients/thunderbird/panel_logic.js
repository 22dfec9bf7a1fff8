// panel_logic: the pure part of the Snipwise panel. It turns compose
// details into a native-host request, a Suggest response into a render
// model, clicks into feedback requests and framings into draft edits, and
// a file's chunk frames back into its checked bytes.
// No DOM and no browser APIs here, so Node's test runner covers it.

/** Percentage text of a 0..1 rate, rounded: 0.4123 -> "41%". */
export function percent(rate) {
  const r = Number(rate);
  if (!Number.isFinite(r) || r < 0) return "0%";
  return Math.round(Math.min(r, 1) * 100) + "%";
}

function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many);
}

/**
 * The one-line evidence of an item, e.g.
 * "used by 9 reps in 37 threads, 41% positive vs 18% team".
 * Items nobody used yet say so instead of showing 0%.
 */
export function evidenceText(ev) {
  const e = ev || {};
  const used = Number(e.times_used || 0);
  if (used <= 0) return "new: no track record yet";
  const reps = Number(e.reps || 0);
  const threads = Number(e.threads || 0);
  let s = "used by " + plural(reps, "rep", "reps") + " in " +
    plural(threads, "thread", "threads") + ", " +
    percent(e.positive_rate) + " positive vs " +
    percent(e.team_baseline_rate) + " team";
  const extra = [];
  if (Number(e.meetings || 0) > 0)
    extra.push(plural(Number(e.meetings), "meeting", "meetings"));
  if (Number(e.deals_won || 0) > 0)
    extra.push(plural(Number(e.deals_won), "deal won", "deals won"));
  if (extra.length) s += " (" + extra.join(", ") + ")";
  return s;
}

const KIND_LABELS = {
  CONTENT_KIND_PDF: "PDF",
  CONTENT_KIND_DOCUMENT: "Document",
  CONTENT_KIND_PRESENTATION: "Slides",
  CONTENT_KIND_SPREADSHEET: "Spreadsheet",
  CONTENT_KIND_HTML: "Web page",
  CONTENT_KIND_TEXT: "Text",
  CONTENT_KIND_IMAGE: "Image",
  CONTENT_KIND_OTHER: "File",
};

/** A short label for a ContentKind enum name. */
export function kindLabel(kind) {
  return KIND_LABELS[kind] || "File";
}

/**
 * The render model of a SuggestResponse (the JSON mirror the native host
 * sends): what the panel shows, in order, with evidence text.
 */
export function renderModel(resp) {
  const r = resp || {};
  const titles = new Map();
  const contents = (r.contents || []).map((c) => {
    titles.set(c.content_id, c.title || c.content_id);
    return {
      itemId: c.item_id,
      contentId: c.content_id,
      title: c.title || c.content_id || "(untitled)",
      kind: kindLabel(c.kind),
      keyPassage: c.key_passage || "",
      evidence: evidenceText(c.evidence),
      explanation: c.explanation || "",
      score: Number((c.score && c.score.total) || 0),
    };
  });
  const framings = (r.framings || []).map((f) => ({
    itemId: f.item_id,
    snippetId: f.snippet_id,
    text: f.text || "",
    contentId: f.content_id || "",
    contentTitle: f.content_id ? titles.get(f.content_id) || "" : "",
    evidence: evidenceText(f.evidence),
    explanation: f.explanation || "",
    score: Number((f.score && f.score.total) || 0),
  }));
  return {
    suggestionId: r.suggestion_id || "",
    modelVersion: r.model_version || "",
    topics: (r.query && r.query.topics) || [],
    contents,
    framings,
    empty: contents.length === 0 && framings.length === 0,
  };
}

/** The bare address of "Name <a@b.example>" (lowercased), or "". */
export function bareAddress(s) {
  if (typeof s !== "string") return "";
  const m = s.match(/<([^<>\s]+@[^<>\s]+)>/);
  const a = m ? m[1] : s.trim();
  return /^[^@\s]+@[^@\s]+$/.test(a) ? a.toLowerCase() : "";
}

/** Plain text of an HTML fragment: tags dropped, breaks kept. */
export function htmlToText(html) {
  if (typeof html !== "string") return "";
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, "")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|li|tr|h[1-6]|blockquote)>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&nbsp;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, "\"")
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

const QUOTE_HEADER = /^(On .+ wrote:|Am .+ schrieb .+:|Le .+ a écrit ?:|-----Original Message-----)\s*$/;

/** The rep's own text of a draft: quoted history and the signature cut. */
export function draftOwnText(text) {
  const out = [];
  for (const line of String(text || "").split(/\r?\n/)) {
    if (QUOTE_HEADER.test(line.trim()) || line === "-- ") break;
    if (line.startsWith(">")) continue;
    out.push(line);
  }
  return out.join("\n").trim();
}

/**
 * The native host's suggest request for a compose window.
 * details: browser.compose.getComposeDetails(); related: the message being
 * replied to as {headerMessageId, subject, author, date, text} or null.
 */
export function buildSuggestRequest(details, related, id) {
  const d = details || {};
  const body = typeof d.plainTextBody === "string" && d.plainTextBody !== ""
    ? d.plainTextBody
    : htmlToText(d.body || "");
  const recipients = []
    .concat(d.to || [], d.cc || [])
    .map((x) => bareAddress(typeof x === "string" ? x : ""))
    .filter((x) => x);
  const req = {
    id,
    type: "suggest",
    draft: draftOwnText(body),
    recipients,
    max_contents: 3,
    max_framings: 5,
  };
  const rep = bareAddress(d.from || "");
  if (rep) req.rep_email = rep;
  if (related) {
    const t = { subject: related.subject || d.subject || "" };
    if (related.headerMessageId)
      t.in_reply_to_message_id = related.headerMessageId;
    t.messages = [{
      from: bareAddress(related.author || ""),
      text: related.text || "",
      sent_time_unix_ms: related.date ? new Date(related.date).getTime() || 0 : 0,
    }];
    req.thread = t;
  } else if (d.subject) {
    req.thread = { subject: d.subject, messages: [] };
  }
  return req;
}

/** A feedback request for one item of the model. */
export function feedbackRequest(model, itemId, kind, repEmail, id) {
  const kinds = ["shown", "inserted", "copied", "dismissed", "thumbs_up",
    "thumbs_down"];
  if (!kinds.includes(kind)) throw new Error("unknown feedback kind " + kind);
  if (!model || !model.suggestionId) throw new Error("no suggestion shown");
  const req = {
    id,
    type: "feedback",
    suggestion_id: model.suggestionId,
    item_id: itemId,
    kind,
  };
  if (repEmail) req.rep_email = repEmail;
  return req;
}

/** The "shown" feedback requests for every item of a fresh model. */
export function shownRequests(model, repEmail, nextId) {
  const ids = model.framings.map((f) => f.itemId)
    .concat(model.contents.map((c) => c.itemId));
  return ids.map((item) => feedbackRequest(model, item, "shown", repEmail,
    nextId()));
}

function escapeHtml(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * The compose details that insert a framing into the draft: after the
 * rep's own text and before the quoted message and the signature.
 * Returns {plainTextBody} or {body} (whichever the draft uses).
 */
export function insertFraming(details, text) {
  const d = details || {};
  if (d.isPlainText) {
    const lines = String(d.plainTextBody || "").split("\n");
    let at = lines.findIndex((l) =>
      QUOTE_HEADER.test(l.trim()) || l.startsWith(">") || l === "-- ");
    if (at < 0) at = lines.length;
    while (at > 0 && lines[at - 1].trim() === "") at--;
    const before = lines.slice(0, at);
    const after = lines.slice(at);
    const gapAfter = after.length && after[0].trim() === "" ? [] : [""];
    const block = (before.length ? [""] : []).concat([text], gapAfter);
    return { plainTextBody: before.concat(block, after).join("\n") };
  }
  const html = String(d.body || "");
  const para = "<p>" + escapeHtml(text) + "</p>";
  const marks = [/<div class="moz-cite-prefix"/i, /<blockquote/i,
    /<div class="moz-signature"/i, /<pre class="moz-signature"/i,
    /<\/body>/i];
  for (const m of marks) {
    const i = html.search(m);
    if (i >= 0) return { body: html.slice(0, i) + para + html.slice(i) };
  }
  return { body: html + para };
}

/**
 * The attachment of the thread that is the suggested content, if the mail
 * client has it: matched by file name (case-insensitive) and, when both
 * are known, by size. attachments: [{name, size, partName, messageId}].
 */
export function findAttachment(content, attachments) {
  if (!content) return null;
  const name = String(content.filename || content.title || "").toLowerCase();
  const size = Number(content.size_bytes || 0);
  for (const a of attachments || []) {
    if (String(a.name || "").toLowerCase() !== name) continue;
    if (size && a.size && Number(a.size) !== size) continue;
    return a;
  }
  return null;
}

/** The native host's request for a content item's file (ReadContent). */
export function readContentRequest(contentId, id) {
  const req = { type: "read_content", content_id: contentId };
  if (id !== undefined) req.id = id;
  return req;
}

/** The bytes of standard base64 text (the host's chunk data). */
export function base64Bytes(text) {
  if (typeof text !== "string")
    throw new Error("a chunk without base64 data");
  const bin = atob(text); // throws on characters outside base64
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Lowercase hex of bytes (an ArrayBuffer or a typed array). */
export function hex(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(bytes) {
  return hex(await globalThis.crypto.subtle.digest("SHA-256", bytes));
}

/**
 * Reassembles a read_content reply: add() each chunk frame's chunk
 * ({seq, offset, data}) as it comes, then finish(result) with the final
 * reply's result ({filename, media_type, size_bytes, sha256, chunks}).
 * Chunks out of order, a missing or extra chunk, a size or a SHA-256 that
 * does not match throw, so a damaged file is never attached.
 */
export class ContentAssembler {
  constructor({ digest = sha256Hex } = {}) {
    this._parts = [];
    this._size = 0;
    this._digest = digest;
  }

  add(chunk) {
    const c = chunk || {};
    if (c.seq !== this._parts.length || c.offset !== this._size)
      throw new Error("the Snipwise helper sent the file out of order " +
        "(chunk " + c.seq + " at " + c.offset + ", expected " +
        this._parts.length + " at " + this._size + ")");
    const bytes = base64Bytes(c.data);
    this._parts.push(bytes);
    this._size += bytes.length;
  }

  /** The file's bytes (a Uint8Array), checked against result. */
  async finish(result) {
    const r = result || {};
    if (Number(r.chunks) !== this._parts.length ||
        Number(r.size_bytes) !== this._size)
      throw new Error("the file from the Snipwise helper is incomplete (" +
        this._size + " of " + r.size_bytes + " bytes)");
    const out = new Uint8Array(this._size);
    let at = 0;
    for (const p of this._parts) {
      out.set(p, at);
      at += p.length;
    }
    if ((await this._digest(out)) !== String(r.sha256 || "").toLowerCase())
      throw new Error("the file from the Snipwise helper does not match " +
        "its SHA-256");
    return out;
  }
}

/** The name and media type to attach a read_content result as. */
export function attachmentOf(result) {
  const r = result || {};
  return {
    name: r.filename || r.content_id || "attachment",
    type: r.media_type || "application/octet-stream",
  };
}

/**
 * The content item ({filename, size_bytes, ...}) to look for among the
 * thread's attachments when the host says the library does not keep its
 * file; null for any other error (which the panel shows instead).
 */
export function notKeptContent(err) {
  if (!err || err.reason !== "CONTENT_FILE_NOT_KEPT") return null;
  return (err.detail && err.detail.content) || {};
}

/** The text of an error reply or exception for the panel. */
export function errorText(err) {
  if (!err) return "";
  if (err.code && err.message) return err.message + " (" + err.code + ")";
  return String(err.message || err);
}
