// drive.mjs: plays a rep in Debian's chromium (headless, new mode) with
// the unpacked Snipwise extension loaded, through puppeteer-core. Opens a
// fixture page under its real site's name (mapped to 127.0.0.1 with
// --host-resolver-rules), then the extension's panel page for that tab,
// and runs one scenario; prints what it saw as JSON on stdout for the
// Python test (chromium_lib.drive) to check. Every wait is bounded.
//
// The panel is the browser's real side panel (chrome.sidePanel), opened
// as a rep opens it: by the extension's toolbar action on the mail tab
// (DevTools' Extensions.triggerAction, which needs the debugging pipe and
// --enable-unsafe-extension-debugging), with the panel behaviour and the
// per-tab path (panel.html?tab=N) that background.js set. Its page is
// then driven and photographed like any page.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const require = createRequire(path.join(cfg.nodeModules, "noop.js"));
const puppeteer = require("puppeteer-core");

const WAIT_MS = cfg.waitMs || 30000;
const log = (...a) => process.stderr.write(a.join(" ") + "\n");

const rules = cfg.sites.map((h) => "MAP " + h + " 127.0.0.1:" + cfg.port)
  .concat(["MAP * ~NOTFOUND"]).join(", ");

const browser = await puppeteer.launch({
  executablePath: cfg.chromium,
  headless: false, // the flag below asks for the new headless mode itself
  pipe: true,
  userDataDir: cfg.userDataDir,
  env: Object.assign({}, process.env, { HOME: cfg.home }),
  ignoreDefaultArgs: ["--disable-extensions"],
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--enable-unsafe-extension-debugging",
    "--ignore-certificate-errors",
    "--host-resolver-rules=" + rules,
    "--load-extension=" + cfg.ext,
    "--disable-extensions-except=" + cfg.ext,
    "--window-size=1200,900",
  ],
  protocolTimeout: 60000,
});

const out = { console: [], panelConsole: [] };

async function panelInfo(panel) {
  return panel.evaluate(() => ({
    state: document.body.dataset.state,
    suggests: Number(document.body.dataset.suggests || 0),
    status: document.getElementById("status").textContent,
    context: document.getElementById("context").textContent,
    framings: [...document.querySelectorAll("#framings li")].map((li) => ({
      text: li.querySelector(".text").textContent,
      evidence: li.querySelector(".evidence").textContent,
      dismissed: li.classList.contains("dismissed"),
    })),
    contents: [...document.querySelectorAll("#contents li")].map((li) => ({
      title: li.querySelector(".title").firstChild.textContent,
      note: li.querySelector(".explanation").textContent,
    })),
    html: document.documentElement.outerHTML,
  }));
}

// Waits until the panel is in state (with more than `after` suggest
// requests made, if given); on timeout returns what it shows.
async function waitState(panel, state, after = -1) {
  try {
    await panel.waitForFunction((s, n) =>
      document.body.dataset.state === s &&
      Number(document.body.dataset.suggests || 0) > n,
    { timeout: WAIT_MS, polling: 100 }, state, after);
  } catch (e) {
    log("waiting for panel state", state, "failed:", e.message);
  }
  return panelInfo(panel);
}

// The compose body's text (the fixtures mark the rep's first line).
async function draftText(page) {
  return page.evaluate(() => document.getElementById("fixture-draft")
    .parentElement.textContent);
}

async function click(panel, list, label, match) {
  const ok = await panel.evaluate((list, label, match) => {
    for (const li of document.querySelectorAll(list + " li")) {
      const t = li.querySelector(".text, .title");
      if (match && !t.textContent.startsWith(match)) continue;
      const b = [...li.querySelectorAll("button")]
        .find((x) => x.textContent === label);
      if (b) {
        b.click();
        return true;
      }
    }
    return false;
  }, list, label, match || "");
  if (!ok) throw new Error("no " + label + " button in " + list +
    (match ? " for " + match : ""));
}

async function attachments(page, n) {
  try {
    await page.waitForFunction((k) => window.fixtureAttachments.length >= k,
      { timeout: WAIT_MS, polling: 100 }, n);
  } catch (e) {
    log("waiting for", n, "attachments failed:", e.message);
  }
  return page.evaluate(() => window.fixtureAttachments);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  const swTarget = await browser.waitForTarget((t) =>
    t.type() === "service_worker" && t.url().endsWith("/background.js"),
  { timeout: WAIT_MS });
  out.extensionId = new URL(swTarget.url()).host;
  const worker = await swTarget.worker();
  out.workerConsole = [];
  worker.on("console", (m) => out.workerConsole.push(m.type() + ": " +
    m.text()));

  const page = await browser.newPage();
  page.on("console", (m) => out.console.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => out.console.push("pageerror: " + e.message));
  // The content script's console (an isolated world) through CDP.
  const cdp = await page.createCDPSession();
  cdp.on("Runtime.consoleAPICalled", (e) => out.console.push("cdp " +
    e.type + ": " + e.args.map((a) => a.value).join(" ")));
  cdp.on("Runtime.exceptionThrown", (e) => out.console.push("exception: " +
    JSON.stringify(e.exceptionDetails).slice(0, 600)));
  await cdp.send("Runtime.enable");
  await page.goto(cfg.url, { waitUntil: "load", timeout: WAIT_MS });
  const tabId = await worker.evaluate(async (u) => {
    const tabs = await chrome.tabs.query({});
    const t = tabs.find((x) => x.url && x.url.startsWith(u));
    return t ? t.id : 0;
  }, cfg.url.split("?")[0]);
  out.tabId = tabId;

  // background.js points this tab's side panel at panel.html?tab=N once
  // the content script reports (bounded wait), then the action opens it.
  const until = Date.now() + WAIT_MS;
  do {
    out.sidePanel = await worker.evaluate(async (id) => ({
      options: await chrome.sidePanel.getOptions({ tabId: id }),
      behavior: await chrome.sidePanel.getPanelBehavior(),
    }), tabId);
    if (/\?tab=/.test(out.sidePanel.options.path || "")) break;
    await sleep(100);
  } while (Date.now() < until);
  const panelUrl = "chrome-extension://" + out.extensionId + "/panel.html";
  await page.bringToFront();
  const ext = (await browser.extensions()).get(out.extensionId);
  await page.triggerExtensionAction(ext);
  const panelTarget = await browser.waitForTarget((t) =>
    t.url().startsWith(panelUrl), { timeout: WAIT_MS }).catch((e) => {
    throw new Error("the toolbar action opened no side panel (" +
      JSON.stringify(out.sidePanel) + "): " + e.message);
  });
  const panel = await panelTarget.asPage();
  out.panelUrl = panelTarget.url();
  out.panelOpen = await worker.evaluate(async () =>
    (await chrome.runtime.getContexts({ contextTypes: ["SIDE_PANEL"] }))
      .map((c) => ({ url: c.documentUrl, tabId: c.tabId })));
  panel.on("console", (m) => out.panelConsole.push(m.type() + ": " +
    m.text()));

  out.first = await waitState(panel, cfg.expectState);
  out.panelSize = await panel.evaluate(() => [innerWidth, innerHeight]);
  if (cfg.screenshot) {
    await panel.bringToFront();
    const png = path.join(cfg.outDir, cfg.screenshot);
    await panel.screenshot({ path: png });
    out.screenshot = png;
  }

  // The rest needs suggestions; without them the test reports out.first.
  if (cfg.scenario === "full" && out.first.state === "ready") {
    // Insert: the caret inside the rep's line (after cfg.caretAt
    // characters), then the panel's first framing's Insert.
    await page.evaluate((at) => {
      const t = document.getElementById("fixture-draft").firstChild;
      const r = document.createRange();
      r.setStart(t, at);
      r.collapse(true);
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
    }, cfg.caretAt);
    await sleep(200); // selectionchange reaches the content script
    const top = out.first.framings[0];
    const before = out.first.suggests;
    await click(panel, "#framings", "Insert", top.text);
    await page.waitForFunction((t) => document.getElementById("fixture-draft")
      .parentElement.textContent.includes(t), { timeout: WAIT_MS }, top.text)
      .catch((e) => log("the framing never reached the draft:", e.message));
    out.afterInsert = await draftText(page);
    out.insertAttachments = await attachments(page, cfg.insertFiles || 0);
    // The draft changed, so the panel suggests again (once, debounced).
    out.second = await waitState(panel, "ready", before);

    // Attach the file titled attachTitle.
    const n = out.insertAttachments.length;
    await click(panel, "#contents", "Attach", cfg.attachTitle);
    out.attachments = await attachments(page, n + 1);
    await panel.waitForFunction((t) => [...document.querySelectorAll(
      "#contents li")].some((li) => li.textContent.includes("Attached " + t)),
    { timeout: WAIT_MS }, cfg.attachTitle).catch((e) => log(e.message));
    out.afterAttach = await panelInfo(panel);

    // Copy the second framing: the clipboard gets it (the panel is in
    // front and may write the clipboard).
    const info = await panelInfo(panel);
    const copied = info.framings[1].text;
    await browser.defaultBrowserContext().overridePermissions(
      "chrome-extension://" + out.extensionId,
      ["clipboard-read", "clipboard-sanitized-write"]);
    await panel.bringToFront();
    await click(panel, "#framings", "Copy", copied);
    try {
      await panel.waitForFunction(async (t) =>
        (await navigator.clipboard.readText()) === t,
      { timeout: WAIT_MS, polling: 200 }, copied);
      out.copied = copied;
    } catch (e) {
      log("the clipboard never held the framing:", e.message);
    }

    // Dismiss the last framing.
    const last = info.framings[info.framings.length - 1];
    await click(panel, "#framings", "Dismiss", last.text);
    out.dismissed = last.text;
    await sleep(500); // the feedback request is on its way to the host

    // Typing: one suggest request after the rep pauses, not one per key.
    const typedBefore = (await panelInfo(panel)).suggests;
    await page.bringToFront();
    await page.evaluate(() => {
      const d = document.getElementById("fixture-draft");
      d.parentElement.focus();
      const r = document.createRange();
      r.selectNodeContents(d);
      r.collapse(false);
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
    });
    await page.keyboard.type(cfg.typeText, { delay: 40 });
    out.typed = await waitState(panel, "ready", typedBefore);
    await sleep(1500); // anything more the typing set off
    out.typedFinal = await panelInfo(panel);
    out.typedBefore = typedBefore;
    out.typedDraft = await draftText(page);
  }
  if (cfg.scenario === "attach" && out.first.state === "ready") {
    await click(panel, "#contents", "Attach", cfg.attachTitle);
    await panel.waitForFunction((t) => [...document.querySelectorAll(
      "#contents li")].some((li) => li.textContent.includes(t) &&
      li.querySelector(".explanation").textContent !== ""),
    { timeout: WAIT_MS }, cfg.attachTitle).catch((e) => log(e.message));
    await sleep(500); // an attachment would be on the page by now
    out.attachments = await page.evaluate(() => window.fixtureAttachments);
  }
  out.final = await panelInfo(panel);
  out.stored = await worker.evaluate(() => chrome.storage.session.get(null));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
