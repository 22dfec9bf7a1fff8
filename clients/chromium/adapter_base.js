// adapter_base: the DOM helpers the site adapters (gmail.js, outlook.js)
// share. Loaded first among the content scripts; it defines
// globalThis.SnipwiseDom in the extension's isolated world. A site adapter
// names its selectors in one table and looks them up through need(), which
// records the first one that is missing so the panel can say "this page
// changed" and the console names the selector.
(function () {
  "use strict";

  const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

  /** A lookup that fails loudly: throws MissingSelector when absent. */
  class MissingSelector extends Error {
    constructor(site, name, css) {
      super(site + ": the page changed: no element for " + name + " (" +
        css + ")");
      this.selectorName = name;
      this.selector = css;
    }
  }

  function need(site, table, name, root) {
    const css = table[name];
    const e = (root || document).querySelector(css);
    if (!e) throw new MissingSelector(site, name, css);
    return e;
  }

  function maybe(table, name, root) {
    return (root || document).querySelector(table[name]);
  }

  function all(table, name, root) {
    return Array.from((root || document).querySelectorAll(table[name]));
  }

  /** The addresses in a string (lowercased, in order, no repeats). */
  function emailsIn(s) {
    const out = [];
    for (const m of String(s || "").matchAll(EMAIL)) {
      const a = m[0].toLowerCase();
      if (!out.includes(a)) out.push(a);
    }
    return out;
  }

  const BLOCK = /^(DIV|P|LI|BR|TR|H[1-6]|BLOCKQUOTE|PRE|UL|OL|TABLE)$/;

  /**
   * The plain text of an element up to the first descendant matching stop
   * (the quoted message or the signature under a draft): block elements
   * become line breaks. Walks the DOM, so it needs no layout (innerText
   * would).
   */
  function textOf(el, stop) {
    const parts = [];
    let stopped = false;
    (function walk(n) {
      for (const c of n.childNodes) {
        if (stopped) return;
        if (c.nodeType === 3) {
          // Runs of source whitespace are one space, as the page shows
          // them; a no-break space is a space.
          parts.push(c.nodeValue.replace(/[ \t\r\n]+/g, " ")
            .replace(/\u00a0/g, " "));
        } else if (c.nodeType === 1) {
          if (stop && c.matches(stop)) {
            stopped = true;
            return;
          }
          const block = BLOCK.test(c.tagName);
          if (c.tagName === "BR") {
            parts.push("\n");
            continue;
          }
          if (block && parts.length && !/\n$/.test(parts[parts.length - 1]))
            parts.push("\n");
          walk(c);
          if (block) parts.push("\n");
        }
      }
    })(el);
    return parts.join("").split("\n").map((l) => l.trim()).join("\n")
      .replace(/\n{3,}/g, "\n\n").trim();
  }

  /**
   * Puts text at the caret if the caret is inside body, else at the end
   * of the rep's own text (before the element matching quote, if any).
   * Uses the editor's own insertText command (so the site's editor sees
   * an ordinary input event); a range insert if the command is refused.
   */
  function insertAtCaret(body, text, savedRange, quote) {
    let range = savedRange && body.contains(savedRange.startContainer)
      ? savedRange.cloneRange() : null;
    if (!range) {
      range = document.createRange();
      const q = quote ? body.querySelector(quote) : null;
      if (q) {
        range.setStartBefore(q);
      } else {
        range.selectNodeContents(body);
        range.collapse(false);
      }
    }
    // A word right before the caret gets a space between it and the text.
    const pre = document.createRange();
    pre.setStart(body, 0);
    pre.setEnd(range.startContainer, range.startOffset);
    const last = pre.toString().slice(-1);
    if (last && !/\s/.test(last)) text = " " + text;
    body.focus();
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    // The editor may write the spaces as no-break spaces, so "did it
    // insert" is "did the text change", not "is the text there".
    const before = body.textContent;
    const ok = document.execCommand("insertText", false, text);
    if (!ok || body.textContent === before) {
      range.deleteContents();
      const node = document.createTextNode(text);
      range.insertNode(node);
      range.setStartAfter(node);
      range.collapse(true);
      sel.removeAllRanges();
      sel.addRange(range);
      body.dispatchEvent(new InputEvent("input", { bubbles: true,
        inputType: "insertText", data: text }));
    }
  }

  /** A DataTransfer holding file (for an input's files or a drop). */
  function transferOf(file) {
    const dt = new DataTransfer();
    dt.items.add(file);
    return dt;
  }

  globalThis.SnipwiseDom = { MissingSelector, need, maybe, all, emailsIn,
    textOf, insertAtCaret, transferOf };
})();
