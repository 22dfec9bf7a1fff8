// nm_client: requests and replies over a native messaging port. Each
// request gets an id; the host echoes it, so replies are matched even if
// they arrive out of order. A timeout and a disconnect reject every
// waiting request with a message the panel can show; nothing waits
// forever.

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
    this._pending.delete(id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else {
      const err = new Error((msg.error && msg.error.message) || "failed");
      err.code = (msg.error && msg.error.code) || "UNKNOWN";
      p.reject(err);
    }
  }

  _failAll(err) {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
  }

  /** Sends msg (an id is added if missing); resolves to the result. */
  request(msg) {
    const m = Object.assign({}, msg);
    if (m.id === undefined || m.id === null) m.id = this.nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(m.id);
        const err = new Error("no answer from the Snipwise helper within " +
          Math.round(this._timeoutMs / 1000) + " s");
        err.code = "DEADLINE_EXCEEDED";
        reject(err);
      }, this._timeoutMs);
      this._pending.set(m.id, { resolve, reject, timer });
      try {
        this._open().postMessage(m);
      } catch (e) {
        this._pending.delete(m.id);
        clearTimeout(timer);
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
