// nm_client: requests and replies over a native messaging port. Each
// request gets an id; the host echoes it, so replies are matched even if
// they arrive out of order. A reply too large for one message (a file)
// comes as chunk frames ("more": true) before the final reply; each chunk
// goes to the request's onChunk and restarts its timeout. A timeout and a
// disconnect reject every waiting request with a message the panel can
// show; nothing waits forever.

export class NativeClient {
  /**
   * connect: () => port with postMessage, onMessage.addListener,
   * onDisconnect.addListener, disconnect (browser.runtime.connectNative).
   */
  constructor(connect, { timeoutMs = 15000, lastError = () => null } = {}) {
    this._connect = connect;
    this._timeoutMs = timeoutMs;
    this._lastError = lastError;
    this._port = null;
    this._pending = new Map();
    this._next = 1;
  }

  nextId() {
    return this._next++;
  }

  _open() {
    if (this._port) return this._port;
    const port = this._connect();
    port.onMessage.addListener((msg) => this._onMessage(msg));
    port.onDisconnect.addListener((p) => {
      const e = (p && p.error) || this._lastError();
      this._port = null;
      this._failAll(new Error("the Snipwise helper (snipwise-nm) stopped" +
        (e && e.message ? ": " + e.message : "") +
        "; see the add-on's README for installing it"));
    });
    this._port = port;
    return port;
  }

  _onMessage(msg) {
    const id = msg && msg.id;
    const p = this._pending.get(id);
    if (!p) return; // a reply to nothing we wait for (e.g. null id)
    if (msg.ok && msg.more === true) {
      try {
        if (!p.onChunk) throw new Error("a chunked reply to a request " +
          "that expects one reply");
        p.onChunk(msg.chunk);
      } catch (e) {
        this._pending.delete(id); // later chunks are replies to nothing
        clearTimeout(p.timer);
        p.reject(e);
        return;
      }
      this._arm(id, p); // progress: the timeout counts from now
      return;
    }
    this._pending.delete(id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else {
      const e = msg.error || {};
      const err = new Error(e.message || "failed");
      err.code = e.code || "UNKNOWN";
      if (e.reason) err.reason = e.reason;
      err.detail = e; // e.g. the content of CONTENT_FILE_NOT_KEPT
      p.reject(err);
    }
  }

  // _arm (re)starts the timeout of the waiting request p.
  _arm(id, p) {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      this._pending.delete(id);
      const err = new Error("no answer from the Snipwise helper within " +
        Math.round(this._timeoutMs / 1000) + " s");
      err.code = "DEADLINE_EXCEEDED";
      p.reject(err);
    }, this._timeoutMs);
  }

  _failAll(err) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
  }

  /**
   * Sends msg (an id is added if missing); resolves to the final reply's
   * result. onChunk(chunk) gets each chunk frame's chunk, in order; if it
   * throws, the request rejects with that error.
   */
  request(msg, { onChunk = null } = {}) {
    const m = Object.assign({}, msg);
    if (m.id === undefined || m.id === null) m.id = this.nextId();
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, onChunk, timer: null };
      this._arm(m.id, p);
      this._pending.set(m.id, p);
      try {
        this._open().postMessage(m);
      } catch (e) {
        this._pending.delete(m.id);
        clearTimeout(p.timer);
        reject(new Error("cannot reach the Snipwise helper: " +
          (e && e.message ? e.message : e)));
      }
    });
  }

  close() {
    if (this._port) this._port.disconnect();
    this._port = null;
    this._failAll(new Error("closed"));
  }
}
