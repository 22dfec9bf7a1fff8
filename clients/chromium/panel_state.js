// panel_state: the pure part of the Chromium side panel that the shared
// panel_logic.js (from clients/thunderbird) does not cover: a site's
// compose state as the compose details and related message panel_logic
// takes, and what the panel says for each failure. No DOM, no chrome.*:
// tests/chromium runs it under Node.

/**
 * The {details, related} of a content script's compose state, in the
 * shapes of panel_logic.buildSuggestRequest (Thunderbird's compose details
 * and replied-to message).
 */
export function composeRequestParts(compose) {
  const c = compose || {};
  const details = {
    from: c.from || "",
    to: c.to || [],
    cc: c.cc || [],
    subject: c.subject || "",
    isPlainText: true,
    plainTextBody: c.draft || "",
  };
  const t = c.thread;
  const related = t && (t.text || t.subject) ? {
    headerMessageId: "", // the sites show no Message-ID; snipd uses the text
    subject: t.subject || "",
    author: t.author || "",
    date: t.date || "",
    text: t.text || "",
  } : null;
  return { details, related };
}

/** The panel's state name for an error of the native host or client. */
export function errorState(err) {
  const e = err || {};
  const msg = String(e.message || e);
  if (/native messaging host not found|native messaging host is forbidden/i
    .test(msg)) return "no-host";
  if (e.code === "UNAUTHENTICATED" || e.code === "PERMISSION_DENIED")
    return "key-refused";
  if (e.code === "UNAVAILABLE" || e.code === "DEADLINE_EXCEEDED")
    return "unreachable";
  return "error";
}

const SITE_NAMES = { gmail: "Gmail", outlook: "Outlook" };

/** What the panel says for a state name; err adds the detail. */
export function stateText(state, err, extra) {
  const detail = err && err.message ? err.message : "";
  switch (state) {
    case "no-host":
      return "The Snipwise helper (snipwise-nm) is not installed for this " +
        "browser. Register it with clients/nm/install_manifest.sh " +
        "--chromium (see the extension's README). " + detail;
    case "unreachable":
      return "snipd is unreachable: " + detail + ". Suggestions come " +
        "back when it answers.";
    case "key-refused":
      return "snipd refused the API key of the Snipwise helper " +
        "(~/.config/snipwise/nm.json): ask your admin for a rep key. " +
        detail;
    case "changed": {
      const x = extra || {};
      return "This page changed: Snipwise cannot read " +
        (SITE_NAMES[x.site] || x.site || "the site") + "'s compose (" +
        (x.selectorName || "?") + ": " + (x.selector || "?") +
        " not found). Update the extension.";
    }
    case "waiting":
      return "Open a compose or a reply in Gmail or Outlook: Snipwise " +
        "suggests for the draft you write.";
    default:
      return detail;
  }
}

/** Standard base64 of bytes (a Uint8Array), for messages to the page. */
export function base64Of(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
