// outlook.js: the Outlook on the web adapter (outlook.office.com,
// outlook.live.com). Reads the compose being written (recipients, subject,
// draft, and the conversation it answers), puts text at the caret and adds
// a file by dropping it on the compose, as a rep dragging it there would.
// Every selector is in SELECTORS below; a compose whose parts are missing
// throws SnipwiseDom.MissingSelector (the panel shows "this page changed"
// and the console names the selector).
(function () {
  "use strict";
  const D = globalThis.SnipwiseDom;
  const SITE = "outlook";

  // Outlook's compose by its roles and accessible labels.
  const SELECTORS = {
    composeMark: 'input[aria-label="Add a subject"], div[role="textbox"][aria-label="Message body"]',
    body: 'div[role="textbox"][aria-label="Message body"][contenteditable="true"]',
    quote: "#divRplyFwdMsg, #appendonsend",
    signature: "#Signature",
    subject: 'input[aria-label="Add a subject"]',
    to: 'div[role="textbox"][aria-label="To"]',
    cc: 'div[role="textbox"][aria-label="Cc"]',
    dropTarget: 'div[role="textbox"][aria-label="Message body"]',
    // The reading pane's conversation that the reply answers.
    conversation: 'div[data-app-section="ConversationContainer"]',
    threadSubject: '[role="heading"]',
    threadMessage: 'div[role="document"][aria-label="Message body"]',
    messageSender: '[data-app-section="MessageSender"] [title*="@"]',
  };

  function compose() {
    if (!D.maybe(SELECTORS, "composeMark")) return null;
    return { body: D.need(SITE, SELECTORS, "body") };
  }

  function addresses(name) {
    const well = D.maybe(SELECTORS, name);
    if (!well) return [];
    const titled = Array.from(well.querySelectorAll("[title]"),
      (e) => e.getAttribute("title")).join(" ");
    return D.emailsIn(titled + " " + well.textContent);
  }

  function thread() {
    const conv = D.maybe(SELECTORS, "conversation");
    if (!conv) return null; // a new mail, not a reply
    const h = D.need(SITE, SELECTORS, "threadSubject", conv);
    const msgs = D.all(SELECTORS, "threadMessage", conv);
    if (!msgs.length)
      throw new D.MissingSelector(SITE, "threadMessage",
        SELECTORS.threadMessage);
    const last = msgs[msgs.length - 1];
    const senders = D.all(SELECTORS, "messageSender", conv);
    const sender = senders[senders.length - 1];
    return {
      id: conv.getAttribute("data-convid") || "",
      subject: h.textContent.trim(),
      author: sender ? sender.getAttribute("title") : "",
      date: "",
      text: D.textOf(last),
      // Outlook's reading pane names its attachments but holds no URL to
      // fetch them by: the thread-copy fallback is Gmail's only.
      attachments: [],
    };
  }

  globalThis.SnipwiseAdapter = {
    site: SITE,
    selectors: SELECTORS,
    read() {
      const c = compose();
      if (!c) return null;
      const subject = D.need(SITE, SELECTORS, "subject");
      D.need(SITE, SELECTORS, "to");
      return {
        from: "", // a rep key names the rep; Outlook shows From only on demand
        to: addresses("to"),
        cc: addresses("cc"),
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
    /** Drops file on the compose (dragenter, dragover, drop). */
    attach(file) {
      if (!compose()) throw new Error("no compose is open");
      const target = D.need(SITE, SELECTORS, "dropTarget");
      const dt = D.transferOf(file);
      for (const type of ["dragenter", "dragover", "drop"])
        target.dispatchEvent(new DragEvent(type, { bubbles: true,
          cancelable: true, dataTransfer: dt }));
    },
  };
})();
