// content.js: the content script on Gmail and Outlook pages, after the
// site's adapter (gmail.js or outlook.js). It watches the page and sends
// the compose state to the service worker, which keeps it for the side
// panel, once the page has been still for DEBOUNCE_MS (or MAX_WAIT_MS
// after the first change) and only when it changed: {state: "compose",
// compose}, {state: "none"} without a compose, or {state: "changed",
// selector} when the adapter cannot find the compose's parts. It also
// carries out the panel's Insert and Attach on the page, Attach with the
// library's bytes or, when the library lacks the file, with the thread's
// own copy of it (fetched from the page's site, checked by SHA-256).
(function () {
  "use strict";
  const A = globalThis.SnipwiseAdapter;
  const D = globalThis.SnipwiseDom;
  const DEBOUNCE_MS = 500;
  // A page that never stops changing (Gmail redraws often) still gets its
  // compose sent this long after the first change.
  const MAX_WAIT_MS = 3000;
  let timer = null;
  let firstChange = 0;
  let lastSent = "";
  let caret = null; // the last selection inside the compose body

  function snapshot() {
    try {
      const c = A.read();
      return c ? { site: A.site, state: "compose", compose: c }
        : { site: A.site, state: "none" };
    } catch (e) {
      if (!(e instanceof D.MissingSelector)) throw e;
      return { site: A.site, state: "changed", selector: e.selector,
        selectorName: e.selectorName, message: e.message };
    }
  }

  function send() {
    timer = null;
    const s = snapshot();
    const key = JSON.stringify(s);
    if (key === lastSent) return; // nothing the panel has not seen
    lastSent = key;
    if (s.state === "changed") console.error("snipwise: " + s.message);
    chrome.runtime.sendMessage({ type: "compose", state: s })
      .catch((e) => console.warn("snipwise: cannot reach the extension", e));
  }

  function schedule() {
    const now = Date.now();
    if (timer === null) firstChange = now;
    clearTimeout(timer);
    timer = setTimeout(send,
      now - firstChange >= MAX_WAIT_MS ? 0 : DEBOUNCE_MS);
  }

  function bytesOf(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The compose body, or null (none open, or a page that changed: the
  // next snapshot reports that).
  function currentBody() {
    try {
      return A.body();
    } catch (e) {
      return null;
    }
  }

  // Remember the caret while it is in the body: a click in the side panel
  // must not lose where the rep was writing.
  document.addEventListener("selectionchange", () => {
    const sel = window.getSelection();
    const body = currentBody();
    if (body && sel.rangeCount && body.contains(sel.anchorNode))
      caret = sel.getRangeAt(0).cloneRange();
  });

  function hexOf(buf) {
    return Array.from(new Uint8Array(buf),
      (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The thread's own copy of a file (a URL of this site, fetched with the
  // rep's session), attached only when it is the file the team sent: its
  // SHA-256 must be the library's record of it.
  async function attachFromThread(msg) {
    const url = new URL(msg.url, location.href);
    if (url.origin !== location.origin)
      throw new Error("the thread's attachment is not on this site");
    const r = await fetch(url.href, { credentials: "include" });
    if (!r.ok)
      throw new Error("the thread's copy of " + msg.name + " could not be " +
        "fetched (HTTP " + r.status + ")");
    const buf = await r.arrayBuffer();
    const sum = hexOf(await crypto.subtle.digest("SHA-256", buf));
    if (!msg.sha256 || sum !== String(msg.sha256).toLowerCase())
      return { ok: false, mismatch: true, error: "the thread's copy of " +
        msg.name + " is not the file your team sent (SHA-256 " +
        sum.slice(0, 12) + "…)" };
    A.attach(new File([buf], msg.name,
      { type: msg.mediaType || r.headers.get("Content-Type") || "" }));
    return { ok: true, size: buf.byteLength };
  }

  function failed(e) {
    console.error("snipwise: " + e.message);
    return { ok: false, error: e.message, selector: e.selector || "" };
  }

  chrome.runtime.onMessage.addListener((msg, sender, reply) => {
    try {
      if (msg.type === "insert") {
        A.insert(msg.text, caret);
        schedule();
        reply({ ok: true });
      } else if (msg.type === "attach") {
        A.attach(new File([bytesOf(msg.data)], msg.name,
          { type: msg.mediaType }));
        reply({ ok: true });
      } else if (msg.type === "attach-thread") {
        attachFromThread(msg).then(reply, (e) => reply(failed(e)));
        return true; // the reply comes after the fetch
      } else if (msg.type === "snapshot") {
        lastSent = "";
        send();
        reply({ ok: true });
      }
    } catch (e) {
      reply(failed(e));
    }
    return false;
  });

  new MutationObserver(schedule).observe(document.documentElement,
    { subtree: true, childList: true, characterData: true });
  document.addEventListener("input", schedule, true);
  document.addEventListener("change", schedule, true);
  schedule();
})();
