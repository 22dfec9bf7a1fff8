// gmail.js: the Gmail adapter. Reads the compose being written (its
// recipients, subject, sender, draft, and the thread it answers when the
// reply is inline), puts text at the caret and adds a file through the
// compose's own file input. Every selector is in SELECTORS below; a compose
// whose parts are missing throws SnipwiseDom.MissingSelector (the panel
// shows "this page changed" and the console names the selector).
(function () {
  "use strict";
  const D = globalThis.SnipwiseDom;
  const SITE = "gmail";

  // Gmail's compose as extension libraries (InboxSDK, gmail.js) read it.
  const SELECTORS = {
    // Any of these marks an open compose (pop-out dialog or inline reply).
    composeMark: 'input[name="subjectbox"], div[role="textbox"][aria-label="Message Body"]',
    compose: 'div[role="dialog"], div.M9',
    body: 'div[role="textbox"][aria-label="Message Body"][contenteditable="true"]',
    quote: "div.gmail_quote",
    signature: "div.gmail_signature",
    subject: 'input[name="subjectbox"]',
    from: 'input[name="from"]',
    to: 'div[aria-label="To"] [email], div[aria-label="To"] [data-hovercard-id*="@"]',
    cc: 'div[aria-label="Cc"] [email], div[aria-label="Cc"] [data-hovercard-id*="@"]',
    fileInput: 'input[type="file"][name="Filedata"]',
    // The thread view around an inline reply.
    threadSubject: "h2.hP",
    threadMessage: "div.adn",
    messageSender: "span.gD[email]",
    messageBody: "div.a3s",
    messageDate: "span.g3[title]",
    // A message's attachment chips; download_url is "type:name:url"
    // (as gmail.js's parse_attachment_url and InboxSDK read it).
    messageAttachment: "span.aZo[download_url]",
  };

  /** The thread's attachments: [{name, type, url}], url on this site. */
  function threadAttachments() {
    const out = [];
    for (const m of D.all(SELECTORS, "threadMessage"))
      for (const a of D.all(SELECTORS, "messageAttachment", m)) {
        const parts = String(a.getAttribute("download_url")).split(":");
        if (parts.length < 3) continue;
        let url;
        try {
          url = new URL(parts.slice(2).join(":"), location.href);
        } catch (e) {
          continue;
        }
        if (url.origin !== location.origin) continue; // fetched same-origin
        out.push({ name: parts[1], type: parts[0], url: url.href });
      }
    return out;
  }

  function chips(root, name) {
    const out = [];
    for (const e of D.all(SELECTORS, name, root)) {
      const a = (e.getAttribute("email") ||
        e.getAttribute("data-hovercard-id") || "").toLowerCase();
      if (a.includes("@") && !out.includes(a)) out.push(a);
    }
    return out;
  }

  function compose() {
    if (!D.maybe(SELECTORS, "composeMark")) return null;
    const body = D.need(SITE, SELECTORS, "body");
    const root = body.closest(SELECTORS.compose);
    if (!root) throw new D.MissingSelector(SITE, "compose", SELECTORS.compose);
    return { root, body };
  }

  function thread() {
    const h = D.maybe(SELECTORS, "threadSubject");
    const msgs = D.all(SELECTORS, "threadMessage");
    if (!h && !msgs.length) return null; // a new mail, not a reply
    const last = msgs[msgs.length - 1];
    const sender = last && D.maybe(SELECTORS, "messageSender", last);
    const text = last && D.maybe(SELECTORS, "messageBody", last);
    const date = last && D.maybe(SELECTORS, "messageDate", last);
    if (last && !text)
      throw new D.MissingSelector(SITE, "messageBody", SELECTORS.messageBody);
    return {
      id: (h && (h.getAttribute("data-thread-perm-id") ||
        h.getAttribute("data-legacy-thread-id"))) || "",
      subject: h ? h.textContent.trim() : "",
      author: sender ? sender.getAttribute("email") : "",
      date: date ? date.getAttribute("title") : "",
      text: text ? D.textOf(text) : "",
      attachments: threadAttachments(),
    };
  }

  globalThis.SnipwiseAdapter = {
    site: SITE,
    selectors: SELECTORS,
    /** The compose state, or null when no compose is open. */
    read() {
      const c = compose();
      if (!c) return null;
      const subject = D.need(SITE, SELECTORS, "subject", c.root);
      const from = D.maybe(SELECTORS, "from", c.root);
      return {
        from: from ? from.value : "",
        to: chips(c.root, "to"),
        cc: chips(c.root, "cc"),
        subject: subject.value,
        draft: D.textOf(c.body, SELECTORS.quote + ", " + SELECTORS.signature),
        thread: thread(),
      };
    },
    body() {
      const c = compose();
      return c ? c.body : null;
    },
    insert(text, savedRange) {
      const c = compose();
      if (!c) throw new Error("no compose is open");
      D.insertAtCaret(c.body, text, savedRange, SELECTORS.quote);
    },
    /** Adds file through the compose's file input, as picking it would. */
    attach(file) {
      const c = compose();
      if (!c) throw new Error("no compose is open");
      const input = D.need(SITE, SELECTORS, "fileInput", c.root);
      input.files = D.transferOf(file).files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    },
  };
})();
