// harness_shim: stands in for the mail client's extension APIs when the
// Snipwise panel is served over http://127.0.0.1 by panel_harness.py.
// runtime.connectNative gives a port whose messages go to the harness
// (POST /nm), which passes them to a real snipwise-nm process; compose and
// messages answer with the compose window and thread the test set up.
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
          .then((reply) => onMsg.forEach((f) => f(reply)))
          .catch((e) => onDisc.forEach((f) => f({ error: { message: String(e) } })));
      },
      disconnect() {},
    };
  }
  const related = () => getJson("/harness/related.json");
  globalThis.browser = {
    runtime: { lastError: null, connectNative },
    tabs: { query: async () => [{ id: 1, type: "messageCompose" }] },
    compose: {
      getComposeDetails: () => getJson("/harness/compose.json"),
      setComposeDetails: (tabId, d) => postJson("/harness/set-compose", d),
      addAttachment: (tabId, a) => postJson("/harness/add-attachment",
        { name: a.name }),
    },
    messages: {
      get: async () => (await related()).header,
      getFull: async () => (await related()).full,
      listAttachments: async () => (await related()).attachments,
      getAttachmentFile: async () => new Blob(["%PDF-1.3"]),
    },
  };
})();

// With ?act=insert the harness plays the rep: once the panel shows its
// suggestions, it clicks the first Insert button.
(function () {
  "use strict";
  if (!/[?&]act=insert\b/.test(location.search)) return;
  const obs = new MutationObserver(() => {
    if (document.body && document.body.dataset.state === "ready") {
      const b = [...document.querySelectorAll("button")]
        .find((x) => x.textContent === "Insert");
      if (b) {
        obs.disconnect();
        b.click();
      }
    }
  });
  obs.observe(document, { attributes: true, subtree: true, childList: true });
})();
