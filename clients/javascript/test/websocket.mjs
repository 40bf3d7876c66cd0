// A minimal RFC 6455 WebSocket client with the browser's interface (onopen,
// onmessage, onclose, send, close, readyState, protocol), for the tests
// only, on a node that has no WebSocket of its own (Debian's node 18; node 20
// without --experimental-websocket). It speaks text frames, answers pings,
// offers no extension, and is not part of the client: ticker.js takes
// whatever WebSocket constructor it is given.

import crypto from "node:crypto";
import http from "node:http";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export class TestWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(url, protocols) {
    this.url = url;
    this.readyState = 0;
    this.protocol = "";
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._buf = Buffer.alloc(0);
    this._frags = null;
    this._closeSent = false;
    this._closeCode = 1006;
    this._closeReason = "";
    this._ended = false;
    const u = new URL(url);
    if (u.protocol !== "ws:") throw new SyntaxError(`TestWebSocket: ${url}: only ws:// here`);
    const key = crypto.randomBytes(16).toString("base64");
    const headers = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13" };
    if (protocols) headers["Sec-WebSocket-Protocol"] = [].concat(protocols).join(", ");
    this._req = http.request({ host: u.hostname, port: u.port || 80, path: u.pathname + u.search, headers });
    this._req.on("upgrade", (res, socket, head) => {
      const want = crypto.createHash("sha1").update(key + GUID).digest("base64");
      if (res.headers["sec-websocket-accept"] !== want) { socket.destroy(); this._end(); return; }
      this.protocol = res.headers["sec-websocket-protocol"] || "";
      this._socket = socket;
      socket.setNoDelay(true);
      socket.on("data", (d) => this._read(d));
      socket.on("close", () => this._end());
      socket.on("error", () => {});
      this.readyState = 1;
      this._fire("onopen", {});
      if (head.length) this._read(head);
    });
    this._req.on("response", (res) => { res.resume(); this._fire("onerror", {}); this._end(); }); // refused: no upgrade
    this._req.on("error", () => { this._fire("onerror", {}); this._end(); });
    this._req.end();
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("TestWebSocket: not open");
    this._write(1, Buffer.from(String(text), "utf8"));
  }

  close(code = 1000, reason = "") {
    if (this.readyState === 0) { this._req.destroy(); this._end(); return; }
    if (this.readyState !== 1) return;
    this.readyState = 2;
    const r = Buffer.from(reason, "utf8");
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this._write(8, p);
    this._closeSent = true;
    this._closeCode = code;
    this._closeReason = reason;
    setTimeout(() => this._socket.destroy(), 1000).unref();
  }

  _fire(name, ev) {
    const f = this[name];
    if (f) f.call(this, ev);
  }

  _write(op, payload) {
    const n = payload.length;
    const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = 0x80 | op;
    if (n < 126) head[1] = 0x80 | n;
    else if (n < 65536) { head[1] = 0x80 | 126; head.writeUInt16BE(n, 2); }
    else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
    const mask = crypto.randomBytes(4);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
    this._socket.write(Buffer.concat([head, mask, body]));
  }

  _read(d) {
    this._buf = this._buf.length ? Buffer.concat([this._buf, d]) : d;
    for (;;) {
      const b = this._buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0, op = b[0] & 0x0f;
      let n = b[1] & 0x7f, at = 2;
      if (n === 126) { if (b.length < 4) return; n = b.readUInt16BE(2); at = 4; }
      else if (n === 127) { if (b.length < 10) return; n = Number(b.readBigUInt64BE(2)); at = 10; }
      if (b.length < at + n) return;
      const payload = b.subarray(at, at + n);
      this._buf = b.subarray(at + n);
      this._frame(fin, op, payload);
    }
  }

  _frame(fin, op, payload) {
    if (op === 1 || op === 0) {
      this._frags = op === 1 ? [Buffer.from(payload)] : (this._frags || []).concat([Buffer.from(payload)]);
      if (!fin) return;
      const text = Buffer.concat(this._frags).toString("utf8");
      this._frags = null;
      if (this.readyState === 1) this._fire("onmessage", { data: text });
    } else if (op === 8) {
      this._closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this._closeReason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
      this._wasClean = true;
      if (!this._closeSent) {
        this._closeSent = true;
        this.readyState = 2;
        this._write(8, payload.subarray(0, 2));
      }
      this._socket.end();
    } else if (op === 9) {
      this._write(10, payload);
    }
  }

  _end() {
    if (this._ended) return;
    this._ended = true;
    this.readyState = 3;
    const clean = !!this._wasClean;
    this._fire("onclose", { code: clean ? this._closeCode : 1006, reason: clean ? this._closeReason : "", wasClean: clean });
  }
}
