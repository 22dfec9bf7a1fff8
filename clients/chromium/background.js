// background.js: the extension's service worker. It keeps each tab's
// latest compose state (sent by content.js, already debounced) in
// chrome.storage.session, where the side panel reads and watches it, and
// points the tab's side panel at panel.html?tab=ID. It holds no other
// state: a worker that was stopped loses nothing.
chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true })
  .catch((e) => console.warn("snipwise: side panel behaviour", e));

chrome.runtime.onMessage.addListener((msg, sender) => {
  if (!msg || msg.type !== "compose" || !sender.tab) return;
  const tabId = sender.tab.id;
  const state = Object.assign({ tabId, at: Date.now() }, msg.state);
  chrome.storage.session.set({ ["compose:" + tabId]: state })
    .catch((e) => console.warn("snipwise: keep compose state", e));
  chrome.sidePanel.setOptions({ tabId, path: "panel.html?tab=" + tabId,
    enabled: true }).catch((e) => console.warn("snipwise: side panel", e));
});

chrome.tabs.onRemoved.addListener((tabId) => {
  chrome.storage.session.remove("compose:" + tabId).catch(() => {});
});
