// harness_shim: stands in for the mail client's extension APIs when the
// Snipwise panel is served over http://127.0.0.1 by panel_harness.py.
// runtime.connectNative gives a port whose messages go to the harness
// (POST /nm), which passes them to a real snipwise-nm process (a reply in
// several frames comes back as an array, delivered frame by frame);
// compose and messages answer with the compose window and thread the test
// set up, and compose.addAttachment hands the file's bytes to the harness.
(function () {
  "use strict";
  async function getJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }
  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }
  function connectNative(name) {
    if (name !== "com.snipwise.nm") throw new Error("no native host " + name);
    const onMsg = [];
    const onDisc = [];
    return {
      onMessage: { addListener: (f) => onMsg.push(f) },
      onDisconnect: { addListener: (f) => onDisc.push(f) },
      postMessage(m) {
        postJson("/nm", m)
          .then((r) => {
            if (!r.ok) throw new Error("the native host is gone");
            return r.json();
          })
          .then((reply) => (Array.isArray(reply) ? reply : [reply])
            .forEach((frame) => onMsg.forEach((f) => f(frame))))
          .catch((e) => onDisc.forEach((f) => f({ error: { message: String(e) } })));
      },
      disconnect() {},
    };
  }
  const related = () => getJson("/harness/related.json");
  const added = []; // what compose.addAttachment put on the draft
  globalThis.browser = {
    runtime: { lastError: null, connectNative },
    tabs: { query: async () => [{ id: 1, type: "messageCompose" }] },
    compose: {
      getComposeDetails: () => getJson("/harness/compose.json"),
      setComposeDetails: (tabId, d) => postJson("/harness/set-compose", d),
      addAttachment: async (tabId, a) => {
        const q = "?name=" + encodeURIComponent(a.name || a.file.name) +
          "&type=" + encodeURIComponent(a.file.type);
        const r = await fetch("/harness/add-attachment" + q,
          { method: "POST", body: a.file });
        if (!r.ok) throw new Error("add-attachment: HTTP " + r.status);
        const att = { id: added.length + 1, name: a.name || a.file.name,
          size: a.file.size };
        added.push(att);
        return att;
      },
      listAttachments: async () => added.slice(),
    },
    messages: {
      get: async () => (await related()).header,
      getFull: async () => (await related()).full,
      listAttachments: async () => (await related()).attachments,
      getAttachmentFile: async (messageId, partName) => {
        const r = await fetch("/harness/attachment?part=" +
          encodeURIComponent(partName));
        if (!r.ok) throw new Error("attachment " + partName + ": HTTP " +
          r.status);
        const b = await r.blob();
        return new File([b], "attachment", { type: b.type });
      },
    },
  };
})();

// With ?act=insert (or attach) the harness plays the rep: once the panel
// shows its suggestions, it clicks the first Insert (or Attach) button;
// with &title=T, the Attach button of the file titled T.
(function () {
  "use strict";
  const q = new URLSearchParams(location.search);
  const act = q.get("act");
  if (act !== "insert" && act !== "attach") return;
  const label = act === "insert" ? "Insert" : "Attach";
  const title = q.get("title");
  const mine = (x) => !title || x.closest("li").querySelector(".title")
    .firstChild.textContent === title;
  const obs = new MutationObserver(() => {
    if (document.body && document.body.dataset.state === "ready") {
      const b = [...document.querySelectorAll("button")]
        .find((x) => x.textContent === label && mine(x));
      if (b) {
        obs.disconnect();
        b.click();
      }
    }
  });
  obs.observe(document, { attributes: true, subtree: true, childList: true });
})();
