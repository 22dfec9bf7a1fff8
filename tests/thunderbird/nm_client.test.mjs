// Tests of the native messaging client (clients/thunderbird/nm_client.js)
// against a fake messaging API: a port whose host side the test plays.
import assert from "node:assert/strict";
import test from "node:test";

import { NativeClient } from "../../clients/thunderbird/nm_client.js";

/** A fake runtime.connectNative port; the test answers for the host. */
function fakePort() {
  const port = {
    sent: [],
    msgListeners: [],
    discListeners: [],
    disconnected: false,
    postMessage(m) {
      if (this.disconnected) throw new Error("port closed");
      this.sent.push(JSON.parse(JSON.stringify(m)));
    },
    onMessage: { addListener(f) { port.msgListeners.push(f); } },
    onDisconnect: { addListener(f) { port.discListeners.push(f); } },
    disconnect() { this.disconnected = true; },
    reply(m) { for (const f of this.msgListeners) f(m); },
    die(error) {
      this.disconnected = true;
      for (const f of this.discListeners) f({ error });
    },
  };
  return port;
}

function fakeApi() {
  const api = { ports: [], connects: 0 };
  api.connect = () => {
    api.connects++;
    const p = fakePort();
    api.ports.push(p);
    return p;
  };
  return api;
}

test("replies are matched by id, in any order", async () => {
  const api = fakeApi();
  const c = new NativeClient(api.connect, { timeoutMs: 5000 });
  const a = c.request({ type: "ping" });
  const b = c.request({ type: "content", content_id: "x" });
  const port = api.ports[0];
  assert.equal(api.connects, 1, "one port for many requests");
  assert.deepEqual(port.sent.map((m) => m.type), ["ping", "content"]);
  const [ida, idb] = port.sent.map((m) => m.id);
  assert.notEqual(ida, idb);
  port.reply({ id: idb, ok: true, result: { filename: "f.pdf" } });
  port.reply({ id: 999, ok: true, result: {} }); // nobody waits: ignored
  port.reply({ id: ida, ok: true, result: { host: "snipwise-nm" } });
  assert.deepEqual(await a, { host: "snipwise-nm" });
  assert.deepEqual(await b, { filename: "f.pdf" });
  c.close();
});

test("an error reply rejects with the host's code and message", async () => {
  const api = fakeApi();
  const c = new NativeClient(api.connect, { timeoutMs: 5000 });
  const p = c.request({ id: "s1", type: "suggest" });
  api.ports[0].reply({ id: "s1", ok: false, error: { code: "UNAVAILABLE",
    message: "snipd is not reachable at 127.0.0.1:1: refused" } });
  await assert.rejects(p, (e) => e.code === "UNAVAILABLE" &&
    /not reachable/.test(e.message));
});

test("a host that dies fails every waiting request, then reconnects",
  async () => {
    const api = fakeApi();
    const c = new NativeClient(api.connect, { timeoutMs: 5000 });
    const p1 = c.request({ type: "ping" });
    const p2 = c.request({ type: "ping" });
    api.ports[0].die({ message: "No such native application com.snipwise.nm" });
    await assert.rejects(p1, /stopped: No such native application/);
    await assert.rejects(p2, /snipwise-nm/);
    const p3 = c.request({ type: "ping" });
    assert.equal(api.connects, 2);
    const sent = api.ports[1].sent[0];
    api.ports[1].reply({ id: sent.id, ok: true, result: { ok: 1 } });
    assert.deepEqual(await p3, { ok: 1 });
  });

test("no answer ends in a timeout, never a hang", async () => {
  const api = fakeApi();
  const c = new NativeClient(api.connect, { timeoutMs: 50 });
  const t0 = Date.now();
  await assert.rejects(c.request({ type: "suggest" }),
    (e) => e.code === "DEADLINE_EXCEEDED");
  assert.ok(Date.now() - t0 < 2000);
  // A late reply after the timeout is ignored.
  api.ports[0].reply({ id: api.ports[0].sent[0].id, ok: true, result: {} });
});

test("a port that cannot be opened rejects at once", async () => {
  const c = new NativeClient(() => { throw new Error("nativeMessaging denied"); },
    { timeoutMs: 5000 });
  await assert.rejects(c.request({ type: "ping" }), /denied/);
});

test("chunk frames go to onChunk in order, each restarting the timeout",
  async () => {
    const api = fakeApi();
    const c = new NativeClient(api.connect, { timeoutMs: 80 });
    const got = [];
    const p = c.request({ type: "read_content", content_id: "ct_1" },
      { onChunk: (ch) => got.push(ch.seq) });
    const port = api.ports[0];
    const id = port.sent[0].id;
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    const t0 = Date.now();
    for (const seq of [0, 1, 2]) {
      await wait(50); // each gap is under the timeout, the sum is not
      port.reply({ id, ok: true, more: true, chunk: { seq, offset: 0,
        data: "" } });
    }
    await wait(50);
    port.reply({ id, ok: true, result: { chunks: 3 } });
    assert.deepEqual(await p, { chunks: 3 });
    assert.deepEqual(got, [0, 1, 2]);
    assert.ok(Date.now() - t0 > 80, "the chunks kept the request alive");
  });

test("a bad chunk rejects the request; its later frames are ignored",
  async () => {
    const api = fakeApi();
    const c = new NativeClient(api.connect, { timeoutMs: 5000 });
    const p = c.request({ type: "read_content" }, { onChunk: () => {
      throw new Error("out of order");
    } });
    const port = api.ports[0];
    const id = port.sent[0].id;
    port.reply({ id, ok: true, more: true, chunk: { seq: 5 } });
    await assert.rejects(p, /out of order/);
    port.reply({ id, ok: true, result: {} }); // nobody waits: ignored
    // Without onChunk a chunked reply is refused, not mistaken for the end.
    const q = c.request({ type: "ping" });
    const qid = port.sent[1].id;
    port.reply({ id: qid, ok: true, more: true, chunk: { seq: 0 } });
    await assert.rejects(q, /chunked reply/);
  });

test("an error reply keeps the host's reason and details", async () => {
  const api = fakeApi();
  const c = new NativeClient(api.connect, { timeoutMs: 5000 });
  const p = c.request({ id: "r", type: "read_content", content_id: "ct_1" },
    { onChunk: () => {} });
  api.ports[0].reply({ id: "r", ok: false, error: {
    code: "FAILED_PRECONDITION", message: "no file to read",
    reason: "CONTENT_FILE_NOT_KEPT", content: { filename: "a.pdf" } } });
  await assert.rejects(p, (e) => e.code === "FAILED_PRECONDITION" &&
    e.reason === "CONTENT_FILE_NOT_KEPT" &&
    e.detail.content.filename === "a.pdf");
});
