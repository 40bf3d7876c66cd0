// ticker.js: a client of ticker's WebSocket API (ticker.v1) for browsers
// and node, in one ES module with no dependency. ticker serves it at
// /ticker.js; the dashboard (app.js) is built on it. docs/javascript.md
// describes it.
//
// It reads the same messages from one of two transports: the WebSocket
// (/ws), or GET /stream (Server-Sent Events, read with fetch) for proxies
// and browsers without WebSockets. With transport "auto" it starts on the
// WebSocket and moves to the stream for good after FALLBACK_AFTER attempts
// in a row that never opened while the server answered plain HTTP. After
// a WebSocket attempt that never opened, a HEAD on the stream with the same
// token tells a refusal (401, …) from a proxy that refuses WebSockets,
// where the answer can be read (node, a page of the same origin).
//
// The client keeps a local book of the latest quote of every subscribed
// symbol. It reconnects with exponential backoff and full jitter,
// subscribes again on every connection, and checks every symbol's seq: when
// a seq skips, it resubscribes the symbol, which brings a fresh snapshot.
// When a subscribed ack or a snapshot carries a new epoch (the stream
// started again, its seqs from 1), it drops the whole book, reports
// "new-epoch", and takes what follows as the new stream's.
//
// Prices and sizes stay the exact decimal strings the server sent;
// compareDecimal, addDecimal, subtractDecimal and spreadBps work on them
// exactly (BigInt), never through a float.

/** The WebSocket subprotocol the client offers. */
export const PROTOCOL = "ticker.v1";

/** The decimal fields of a quote, as the server names them. */
export const DECIMAL_FIELDS = Object.freeze(["bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume"]);

// ---------------------------------------------------------------------------
// Exact decimals

const DECIMAL = /^([+-]?)([0-9]+)(?:\.([0-9]+))?$/;

// parse splits a decimal string, or throws a TypeError naming it.
function parse(s, what) {
  if (typeof s !== "string") {
    throw new TypeError(`ticker: ${what} must be a decimal string, not ${s === null ? "null" : typeof s}`);
  }
  const m = DECIMAL.exec(s);
  if (!m) {
    throw new TypeError(`ticker: ${what} ${JSON.stringify(s)} is not a decimal (digits, an optional sign and point; no exponent)`);
  }
  return { neg: m[1] === "-", int: m[2], frac: m[3] || "" };
}

// scaled is p as an integer count of 10^-scale (scale ≥ p's fraction length).
function scaled(p, scale) {
  const n = BigInt(p.int + p.frac.padEnd(scale, "0"));
  return p.neg ? -n : n;
}

// format writes n·10^-scale in the server's canonical form: no trailing
// zeros after the point, no point without a fraction, "0" rather than "-0".
function format(n, scale) {
  const neg = n < 0n;
  let digits = (neg ? -n : n).toString().padStart(scale + 1, "0");
  let int = digits.slice(0, digits.length - scale), frac = digits.slice(digits.length - scale);
  frac = frac.replace(/0+$/, "");
  if (int === "0" && frac === "") return "0";
  return (neg ? "-" : "") + int + (frac ? "." + frac : "");
}

/** Whether s is a decimal string as the server sends them ("-12.5", "0.001"; no exponent). */
export function isDecimal(s) {
  return typeof s === "string" && DECIMAL.test(s);
}

/**
 * compareDecimal(a, b) is -1, 0 or 1 as a < b, a = b or a > b, compared
 * exactly: "1.10" equals "1.1", "-0" equals "0", "007" equals "7". Both
 * must be decimal strings (an optional sign, digits, an optional point and
 * digits; no exponent), or it throws a TypeError.
 */
export function compareDecimal(a, b) {
  const pa = parse(a, "compareDecimal: a"), pb = parse(b, "compareDecimal: b");
  const scale = Math.max(pa.frac.length, pb.frac.length);
  const x = scaled(pa, scale), y = scaled(pb, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** addDecimal(a, b) is a + b, exact, in canonical form ("1.1" + "0.9" = "2"). */
export function addDecimal(a, b) {
  const pa = parse(a, "addDecimal: a"), pb = parse(b, "addDecimal: b");
  const scale = Math.max(pa.frac.length, pb.frac.length);
  return format(scaled(pa, scale) + scaled(pb, scale), scale);
}

/** subtractDecimal(a, b) is a − b, exact, in canonical form ("64000.2" − "64000.1" = "0.1"). */
export function subtractDecimal(a, b) {
  const pa = parse(a, "subtractDecimal: a"), pb = parse(b, "subtractDecimal: b");
  const scale = Math.max(pa.frac.length, pb.frac.length);
  return format(scaled(pa, scale) - scaled(pb, scale), scale);
}

/**
 * spreadBps(bid, ask, places = 2) is the spread in basis points of the mid,
 * (ask − bid) / ((ask + bid) / 2) · 10 000, computed exactly and rounded
 * half away from zero to `places` digits after the point (0–18), which it
 * always shows: spreadBps("99.99", "100.01") is "2.00". It throws a
 * RangeError when bid + ask is 0 (no mid to divide by).
 */
export function spreadBps(bid, ask, places = 2) {
  if (!Number.isInteger(places) || places < 0 || places > 18) {
    throw new RangeError(`ticker: spreadBps: places ${places} is not an integer from 0 to 18`);
  }
  const pb = parse(bid, "spreadBps: bid"), pa = parse(ask, "spreadBps: ask");
  const scale = Math.max(pb.frac.length, pa.frac.length);
  const b = scaled(pb, scale), a = scaled(pa, scale);
  let num = 20000n * (a - b) * 10n ** BigInt(places), den = a + b;
  if (den === 0n) throw new RangeError(`ticker: spreadBps: bid ${bid} and ask ${ask} have no mid`);
  if (den < 0n) { num = -num; den = -den; }
  const neg = num < 0n;
  if (neg) num = -num;
  let q = num / den;
  if (2n * (num % den) >= den) q += 1n;
  const digits = q.toString().padStart(places + 1, "0");
  const int = digits.slice(0, digits.length - places), frac = digits.slice(digits.length - places);
  return (neg && q !== 0n ? "-" : "") + int + (places ? "." + frac : "");
}

// ---------------------------------------------------------------------------
// Quotes

/**
 * decodeQuote checks one quote or delta as the server sends it ({s, seq,
 * ts, bid, …}) and returns a frozen copy: the decimals stay strings, and
 * fields it does not know are kept. It throws a TypeError for a quote
 * without a symbol or a positive seq, or with a decimal that is not a
 * decimal string.
 */
export function decodeQuote(v) {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new TypeError("ticker: a quote is not an object");
  if (typeof v.s !== "string" || v.s === "") throw new TypeError("ticker: a quote without a symbol (s)");
  if (!Number.isSafeInteger(v.seq) || v.seq < 1) throw new TypeError(`ticker: ${v.s}: seq ${JSON.stringify(v.seq)} is not a positive integer`);
  if (v.ts !== undefined && !Number.isSafeInteger(v.ts)) throw new TypeError(`ticker: ${v.s}: ts ${JSON.stringify(v.ts)} is not an integer`);
  if (v.from !== undefined && (!Number.isSafeInteger(v.from) || v.from < 1 || v.from > v.seq)) throw new TypeError(`ticker: ${v.s}: from ${JSON.stringify(v.from)} is not a seq at most ${v.seq}`);
  for (const f of DECIMAL_FIELDS) {
    if (v[f] !== undefined) parse(v[f], `${v.s} ${f}`);
  }
  return Object.freeze({ ...v });
}

// ---------------------------------------------------------------------------
// Backoff

/**
 * backoff(lo, hi, attempt) is a random wait in [0, min(hi, lo·2^attempt)]
 * milliseconds (full jitter), as the Go and Python clients wait.
 */
export function backoff(lo, hi, attempt, random = Math.random) {
  let d = lo;
  for (let i = 0; i < attempt && d < hi; i++) d *= 2;
  return random() * Math.min(d, hi);
}

// ---------------------------------------------------------------------------
// The client

// a request stays under the server's 4 KiB message limit
const maxRequestBytes = 3000;

/** The transports a Client can use (options.transport). */
export const TRANSPORTS = Object.freeze(["auto", "ws", "sse"]);

/**
 * With transport "auto", the client takes the stream after this many
 * WebSocket attempts in a row that never opened while the server answered
 * plain HTTP.
 */
export const FALLBACK_AFTER = 3;

// a page or a worker: where "auto" is the default transport, and where
// fetch follows CORS
const inBrowser = typeof globalThis.document === "object" || typeof globalThis.WorkerGlobalScope === "function";

// the longest event the stream reader buffers (a snapshot of every symbol
// is one event); a longer one ends the connection as a protocol error
const maxEventChars = 32 << 20;

const defaults = Object.freeze({
  symbols: [],
  token: "",
  every: "",
  transport: inBrowser ? "auto" : "ws",
  minBackoff: 250,
  maxBackoff: 30000,
  pingInterval: 15000,
  idleTimeout: 45000,
});

// options checks every option in one place and fills in the defaults.
function options(o) {
  if (o === null || typeof o !== "object") throw new TypeError("ticker: new Client(options): options must be an object");
  const c = { ...defaults };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) c[k] = v; // undefined: the default
  const fail = (name, want) => { throw new TypeError(`ticker: options.${name} ${JSON.stringify(c[name])}: ${want}`); };
  if (!TRANSPORTS.includes(c.transport)) fail("transport", `want one of ${TRANSPORTS.map((t) => JSON.stringify(t)).join(", ")}`);
  const base = globalThis.location ? globalThis.location.href : undefined;
  // url: the WebSocket endpoint; only a stream-only client given its streamURL may leave it out
  let u = null;
  if (c.url !== undefined || c.transport !== "sse" || c.streamURL === undefined) {
    if (typeof c.url !== "string" || c.url === "") fail("url", "want the server's WebSocket URL, ws://host:port/ws (or /ws in a page)");
    try {
      u = new URL(c.url, base);
    } catch (_) {
      fail("url", "not a URL");
    }
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    if (u.protocol !== "ws:" && u.protocol !== "wss:") fail("url", "want ws:// or wss://");
  }
  // streamURL: GET /stream, by default the url's /ws as /stream
  let su = null;
  if (c.transport !== "ws") {
    if (c.streamURL !== undefined) {
      if (typeof c.streamURL !== "string" || c.streamURL === "") fail("streamURL", "want the server's stream URL, http://host:port/stream");
      try {
        su = new URL(c.streamURL, base);
      } catch (_) {
        fail("streamURL", "not a URL");
      }
      if (su.protocol === "ws:") su.protocol = "http:";
      else if (su.protocol === "wss:") su.protocol = "https:";
      if (su.protocol !== "http:" && su.protocol !== "https:") fail("streamURL", "want http:// or https://");
    } else {
      su = new URL(u.href);
      su.protocol = u.protocol === "wss:" ? "https:" : "http:";
      if (!su.pathname.endsWith("/ws")) fail("streamURL", `want it given: the url's path ${u.pathname} does not end in /ws, so /stream cannot be found from it`);
      su.pathname = su.pathname.slice(0, -"ws".length) + "stream";
      su.search = "";
    }
    su.searchParams.delete("token");
    su.searchParams.delete("symbols");
  }
  if (!Array.isArray(c.symbols) || !c.symbols.every((s) => typeof s === "string" && s !== "")) fail("symbols", "want an array of symbols");
  if (typeof c.token !== "string") fail("token", "want a string");
  if (typeof c.every !== "string" || (c.every !== "" && !/^[0-9]+(ms|s)$/.test(c.every))) fail("every", 'want "" (every window) or an interval such as "1s" or "250ms"');
  for (const k of ["minBackoff", "maxBackoff", "pingInterval", "idleTimeout"]) {
    if (typeof c[k] !== "number" || !(c[k] > 0) || !Number.isFinite(c[k])) fail(k, "want a number of milliseconds above 0");
  }
  if (c.maxBackoff < c.minBackoff) fail("maxBackoff", `want at least minBackoff (${c.minBackoff})`);
  if (c.idleTimeout <= c.pingInterval) fail("idleTimeout", `want more than pingInterval (${c.pingInterval})`);
  for (const k of ["onUpdate", "onStatus", "onError", "onMessage", "retry"]) {
    if (c[k] !== undefined && typeof c[k] !== "function") fail(k, "want a function");
  }
  const WS = c.WebSocket !== undefined ? c.WebSocket : globalThis.WebSocket;
  if (c.transport === "ws" && typeof WS !== "function") {
    throw new TypeError("ticker: no WebSocket here: pass options.WebSocket (node before 22 has none; `node --experimental-websocket` on 20.10+, or the ws package), or use transport \"sse\"");
  }
  // a browser's fetch must be called on the global object
  const fetcher = c.fetch !== undefined ? c.fetch : typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : undefined;
  if (c.transport !== "ws" && typeof fetcher !== "function") {
    throw new TypeError(`ticker: no fetch here: transport ${JSON.stringify(c.transport)} reads /stream with fetch (node 18+, every current browser); pass options.fetch`);
  }
  let dialURL = null, shownURL = null, probeURL = null;
  if (u) {
    const shown = new URL(u.href);
    shown.searchParams.delete("token");
    shownURL = shown.href;
    if (c.token) u.searchParams.set("token", c.token);
    dialURL = u.href;
    // the probe after a WebSocket attempt that never opened: HEAD on the
    // stream, which runs the handshake's checks (token, Origin, limits)
    // and answers 200 or the refusal (a plain request to /ws gets 426
    // before any check); with the token the WebSocket was dialled with.
    // Without a stream URL to be found, HEAD on the WebSocket's URL, which
    // tells only whether the server answers.
    let probe = su ? new URL(su.href) : null;
    if (!probe && u.pathname.endsWith("/ws")) {
      probe = new URL(shown.href);
      probe.pathname = probe.pathname.slice(0, -"ws".length) + "stream";
      probe.search = "";
    }
    if (probe) {
      probe.protocol = u.protocol === "wss:" ? "https:" : "http:";
      probe.searchParams.set("symbols", "*");
      const token = u.searchParams.get("token");
      if (token) probe.searchParams.set("token", token);
      probeURL = { url: probe.href, stream: true };
    } else {
      const p = new URL(shown.href);
      p.protocol = u.protocol === "wss:" ? "https:" : "http:";
      probeURL = { url: p.href, stream: false };
    }
    // where the probe's status can be read: node, and a page of the same
    // origin (across origins the answer is opaque: that the server
    // answered, not what)
    probeURL.readable = !inBrowser || !globalThis.location || new URL(probeURL.url).origin === globalThis.location.origin;
  }
  return { ...c, WebSocket: WS, fetch: fetcher, dialURL, shownURL, probe: probeURL, streamURL: su && su.href };
}

// call runs a user's callback; what it throws cannot break the
// connection's state, and is reported.
function call(fn, arg) {
  if (fn === undefined) return;
  try {
    fn(arg);
  } catch (err) {
    report(err);
  }
}

// report makes a callback's error seen without letting it go further. A
// page rethrows it on its own (it shows in the console as an uncaught
// error, and the page goes on); node would end the process on an uncaught
// error, so there it is written to console.error.
function report(err) {
  if (inBrowser) {
    queueMicrotask(() => { throw err; });
    return;
  }
  try {
    console.error("ticker: a callback threw (the client goes on):", err);
  } catch (_) { /* no console */ }
}

// the refusals a probe can tell apart: what the server answers before a
// handshake or a stream, and why
const REFUSALS = Object.freeze({
  401: "the token was refused (missing, invalid or expired)",
  403: "forbidden (the page's origin is not allowed)",
  429: "too many connections from this address",
  503: "the server is full or shutting down",
});

/**
 * Client is a reconnecting ticker.v1 client. Create it with its options,
 * then start() it (or iterate it with for await); close() stops it.
 *
 *   const c = new Client({ url: "ws://localhost:8080/ws", symbols: ["BTC-USD"],
 *     onUpdate: (u) => console.log(u.symbol, u.quote.seq, u.quote.bid) });
 *   c.start();
 *
 * Options: url (required; relative to the page in a browser), symbols
 * (subscribed on every connection; "*" for every symbol), token (sent as
 * ?token=, since a browser's WebSocket cannot send headers), transport
 * ("ws", "sse" for GET /stream, or "auto": the WebSocket, and the stream
 * after FALLBACK_AFTER failures; "auto" by default in a browser, "ws"
 * elsewhere), streamURL (default: the url's /ws as /stream), WebSocket (the
 * constructor; default globalThis.WebSocket), fetch (default
 * globalThis.fetch), minBackoff and maxBackoff (ms, default 250 and 30000),
 * pingInterval (a ping after this long without a message, default 15000 ms)
 * and idleTimeout (give the connection up after this long without one,
 * default 45000 ms), and the callbacks onUpdate, onStatus, onError,
 * onMessage, and retry (see docs/javascript.md).
 *
 * Both transports carry the same messages into the same book, seq checks,
 * epochs and statuses. A stream takes no requests: a change of the symbols
 * reopens it, and a gap reopens it with Last-Event-ID, which the server
 * answers with a resync snapshot.
 */
export class Client {
  constructor(opts) {
    this._o = options(opts);
    this._symbols = new Set(this._o.symbols);
    this._book = new Map();
    this._epoch = 0;
    this._gaps = 0;
    this._nextId = 0;
    this._attempt = 0;
    this._conn = null;
    this._timer = 0;
    this._waiting = false; // between a connection's end and its redial being set (retry, the probe)
    this._running = false;
    this._queues = new Set();
    const o = this._o;
    this._transport = o.transport === "sse" || (o.transport === "auto" && typeof o.WebSocket !== "function") ? "sse" : "ws";
    this._wsFailures = 0;  // WebSocket attempts in a row that never opened while HTTP answered
    this._lastEventId = ""; // the stream's last event id, sent back as Last-Event-ID
    this._reopening = null; // a reopen of the stream, due in a microtask
  }

  // --- the book ---

  /** A copy of the book: symbol → the latest quote (frozen objects). */
  book() { return new Map(this._book); }
  /** The latest quote of symbol, or undefined. */
  quote(symbol) { return this._book.get(symbol); }
  /** The epoch of the stream the book holds (0: none announced). */
  get epoch() { return this._epoch; }
  /** How many seq gaps the client has seen (and repaired). */
  get gaps() { return this._gaps; }
  /** Whether a connection is open. */
  get connected() { return this._conn !== null && this._conn.opened && !this._conn.finished; }
  /** The symbols subscribed on every connection. */
  get symbols() { return [...this._symbols]; }
  /** Whether the client is running (between start() and close()). */
  get running() { return this._running; }
  /** The transport the client dials: "ws" or "sse" ("auto" starts on "ws" and may move to "sse" for good). */
  get transport() { return this._transport; }

  // --- subscriptions ---

  /**
   * subscribe adds symbols, now if connected and on every connection after.
   * It returns whether the request went out now (on the stream: whether
   * the stream is reopened with them).
   */
  subscribe(...symbols) {
    checkSymbols(symbols, "subscribe");
    const added = symbols.filter((s) => !this._symbols.has(s));
    for (const s of symbols) this._symbols.add(s);
    if (this._transport === "sse") return added.length > 0 && this._reopenSoon("symbols");
    const conn = this._conn;
    if (!this.connected || symbols.length === 0) return false;
    for (const s of symbols) if (!conn.fresh.has(s)) conn.awaiting.add(s);
    this._send(conn, "subscribe", symbols);
    return true;
  }

  /**
   * unsubscribe removes symbols and drops from the book what no longer has
   * a subscription ("*" is one for every symbol). It returns whether the
   * request went out now (on the stream: whether the stream is reopened
   * without them).
   */
  unsubscribe(...symbols) {
    checkSymbols(symbols, "unsubscribe");
    const removed = symbols.filter((s) => this._symbols.has(s));
    for (const s of symbols) this._symbols.delete(s);
    const conn = this._conn;
    for (const s of [...this._book.keys()]) {
      if (this._covers(s)) continue;
      this._book.delete(s);
      for (const q of this._queues) q.pending.delete(s);
      if (conn) { conn.fresh.delete(s); conn.resyncing.delete(s); conn.awaiting.delete(s); }
    }
    if (this._transport === "sse") return removed.length > 0 && this._reopenSoon("symbols");
    if (!this.connected || symbols.length === 0) return false;
    this._send(conn, "unsubscribe", symbols);
    return true;
  }

  _covers(s) { return this._symbols.has("*") || this._symbols.has(s); }

  // --- running ---

  /** start connects, and reconnects until close(). It returns the client. */
  start() {
    if (this._running) return this;
    this._running = true;
    this._dial();
    return this;
  }

  /**
   * close stops the client: it closes the connection, stops reconnecting and
   * ends every iterator (after what they hold). The promise resolves once
   * the connection is closed.
   */
  close() {
    this._running = false;
    clearTimeout(this._timer);
    this._timer = 0;
    for (const q of this._queues) q.end();
    const conn = this._conn;
    if (!conn || conn.finished) return Promise.resolve();
    if (conn.transport === "sse") { // nothing to wait for: the request is aborted
      this._finish(conn, 1000, "closed by the client", null);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      conn.onFinished = resolve;
      try { conn.ws.close(1000); } catch (_) { /* closing already */ }
      // a connection that never answers the close is let go
      conn.closeTimer = setTimeout(() => this._finish(conn, 1000, "closed by the client", null), 2000);
    });
  }

  _newConn(transport) {
    return {
      transport, ws: null, abort: null, opened: false, finished: false, delivered: false, onFinished: null,
      fresh: new Set(),     // symbols snapshotted (or begun at seq 1) on this connection
      resyncing: new Set(), // resubscribed after a gap, until their snapshot
      awaiting: new Set(),  // subscribed, their snapshot not come yet
      repairing: new Set(), // the stream's: gapped on the stream before, reported in "resync" when snapshotted
      fullResync: 0,        // the id of the "*" resubscribe in flight, until its ack
      lastRx: Date.now(), pinged: false, heartbeat: 0, closeTimer: 0,
      httpStatus: 0,        // the stream's: the status of a refused request
      closeCode: 0, closeReason: "", // the stream's: its ": closed <code> <reason>" comment
      reopen: null,         // the stream's: set when it was ended to be reopened at once
    };
  }

  // _dial opens a connection on the current transport. how (the stream's)
  // says why it is reopened ({reopen, resume, repairing}).
  _dial(how = {}) {
    if (this._transport === "sse") this._dialSSE(how);
    else this._dialWS();
  }

  _dialWS() {
    const o = this._o;
    this._status({ kind: "connecting", attempt: this._attempt, url: o.shownURL, transport: "ws", reopen: null });
    const conn = this._newConn("ws");
    this._conn = conn;
    try {
      conn.ws = new o.WebSocket(o.dialURL, PROTOCOL);
    } catch (err) {
      conn.ws = { close() {} };
      setTimeout(() => this._finish(conn, 1006, String(err && err.message || err), err), 0);
      return;
    }
    const ws = conn.ws;
    ws.onopen = () => {
      if (conn.finished) return;
      conn.opened = true;
      conn.lastRx = Date.now();
      this._wsFailures = 0;
      this._status({ kind: "open", protocol: ws.protocol || "", transport: "ws" });
      if (conn.finished) return; // the callback closed the client
      const syms = [...this._symbols];
      for (const s of syms) if (!conn.fresh.has(s)) conn.awaiting.add(s);
      if (syms.length) this._send(conn, "subscribe", syms);
      this._startHeartbeat(conn);
    };
    ws.onmessage = (ev) => {
      if (conn.finished) return;
      conn.lastRx = Date.now();
      conn.pinged = false;
      if (typeof ev.data !== "string") {
        this._fail(conn, new TypeError("ticker: the server sent a binary message"));
        return;
      }
      this._receive(conn, ev.data);
    };
    // a close follows an error, except on node 20's WebSocket, whose failed
    // handshake ends with the error: a moment later, it counts as the close
    ws.onerror = () => {
      setTimeout(() => {
        if (conn.finished) return;
        try { ws.close(); } catch (_) { /* never opened */ }
        this._finish(conn, 1006, "the connection failed", null);
      }, 100);
    };
    ws.onclose = (ev) => this._finish(conn, ev.code, ev.reason || "", null);
  }

  // _dialSSE opens GET /stream?symbols=… and reads its events. With no
  // symbols there is nothing to stream: the client holds no connection
  // until a subscribe.
  _dialSSE(how) {
    const o = this._o;
    const syms = [...this._symbols];
    if (syms.length === 0) return;
    // symbols=A,B with its commas as they are (the server splits on them)
    const u = new URL(o.streamURL);
    const query = [u.search.slice(1), "symbols=" + syms.map(encodeURIComponent).join(","), this._o.every ? "every=" + this._o.every : ""].filter((p) => p !== "");
    u.search = "?" + query.join("&");
    const shown = u.href;
    if (o.token) u.search += "&token=" + encodeURIComponent(o.token);
    this._status({ kind: "connecting", attempt: this._attempt, url: shown, transport: "sse", reopen: how.reopen || null });
    const conn = this._newConn("sse");
    this._conn = conn;
    for (const s of how.repairing || []) conn.repairing.add(s);
    const ctl = new AbortController();
    conn.abort = () => ctl.abort();
    const headers = { Accept: "text/event-stream" };
    // Last-Event-ID asks for a resync snapshot: after a drop and for a gap,
    // not for a new set of symbols. A page sends it only to its own origin:
    // across origins the header would need a CORS preflight.
    if (how.resume !== false && this._lastEventId && (!inBrowser || u.origin === globalThis.location.origin)) {
      headers["Last-Event-ID"] = this._lastEventId;
    }
    let req;
    try {
      req = Promise.resolve(o.fetch(u.href, { headers, cache: "no-store", signal: ctl.signal }));
    } catch (err) {
      req = Promise.reject(err);
    }
    req.then(async (res) => {
      if (conn.finished) { cancel(res.body); return; }
      if (res.status !== 200) {
        conn.httpStatus = res.status;
        let why = "";
        try { why = JSON.parse(await res.text()).error || ""; } catch (_) { /* not the server's JSON */ }
        this._finish(conn, 1006, `the stream was refused: HTTP ${res.status}${why ? " " + why : ""}`, null);
        return;
      }
      const type = (res.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
      if (type !== "text/event-stream" || !res.body) {
        cancel(res.body);
        this._finish(conn, 1006, `the stream answered ${JSON.stringify(type)}, not text/event-stream`, null);
        return;
      }
      conn.opened = true;
      conn.lastRx = Date.now();
      this._status({ kind: "open", protocol: PROTOCOL, transport: "sse" });
      if (conn.finished) { cancel(res.body); return; }
      for (const s of syms) if (!conn.fresh.has(s)) conn.awaiting.add(s);
      this._startHeartbeat(conn);
      await this._readStream(conn, res.body);
    }).catch((err) => {
      if (!conn.finished) this._finish(conn, 1006, `the stream failed: ${String(err && err.message || err)}`, null);
    });
  }

  // _readStream reads the stream's events (the event-stream format: lines
  // of "field: value", an empty line ending each event, ":" comments) until
  // it ends; each event's data is one ticker.v1 message.
  async _readStream(conn, body) {
    const reader = body.getReader();
    const text = new TextDecoder();
    let buf = "", data = null, id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (conn.finished) { cancel(reader); return; }
      if (done) break;
      conn.lastRx = Date.now();
      conn.pinged = false;
      buf += text.decode(value, { stream: true });
      // a "\r" at the end may be the first half of a "\r\n"
      const cut = buf.endsWith("\r") ? buf.length - 1 : buf.length;
      const lines = buf.slice(0, cut).split(/\r\n|\r|\n/);
      buf = lines.pop() + buf.slice(cut);
      for (const line of lines) {
        if (line === "") { // the end of an event
          if (data !== null) {
            const raw = data;
            data = null;
            if (!this._receive(conn, raw)) { cancel(reader); return; }
          }
          if (id !== null) { this._lastEventId = id; id = null; }
          continue;
        }
        if (line[0] === ":") { // a comment: ": ping", or ": closed <code> <reason>" at the end
          const m = /^: ?closed (\d+) ?(.*)$/.exec(line);
          if (m) { conn.closeCode = Number(m[1]); conn.closeReason = m[2]; }
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v[0] === " ") v = v.slice(1);
        if (field === "data") data = data === null ? v : data + "\n" + v;
        else if (field === "id" && !v.includes("\0")) id = v;
        // "event" repeats the message's type; "retry" is EventSource's: the client waits its own backoff
      }
      if (buf.length + (data === null ? 0 : data.length) > maxEventChars) {
        this._fail(conn, new TypeError(`ticker: the stream sent an event longer than ${maxEventChars} characters`));
        cancel(reader);
        return;
      }
    }
    this._finish(conn, conn.closeCode || 1006, conn.closeCode ? conn.closeReason : "the stream ended", null);
  }

  // _receive applies one message of conn; false when conn ended over it.
  _receive(conn, raw) {
    let m;
    try {
      m = this._handle(conn, raw);
    } catch (err) {
      this._fail(conn, err);
      return false;
    }
    call(this._o.onMessage, m);
    return !conn.finished;
  }

  // _reopenSoon ends the stream and opens it again at once, in a microtask,
  // so that changes made together (an unsubscribe and a subscribe, several
  // gaps) make one new stream. why is "symbols" (a new stream, no
  // Last-Event-ID) or "gap" (with it: a resync snapshot); repairing are the
  // gapped symbols.
  _reopenSoon(why, repairing = []) {
    if (!this._running) return false;
    let r = this._reopening;
    if (!r) {
      r = this._reopening = { why, resume: false, repairing: new Set() };
      queueMicrotask(() => {
        this._reopening = null;
        if (!this._running || this._transport !== "sse") return;
        const how = { reopen: r.why, resume: r.resume, repairing: r.repairing };
        const conn = this._conn;
        if (conn && !conn.finished) {
          conn.reopen = how;
          this._finish(conn, 1000, r.why === "gap" ? "reopened to repair a gap" : "reopened with the new symbols", null);
        } else if (!this._timer && !this._waiting) {
          this._dial(how); // no connection held (no symbols until now)
        } // else a redial is due, and it takes the symbols as they are then
      });
    }
    if (why === "gap") { r.why = "gap"; r.resume = true; }
    for (const s of repairing) r.repairing.add(s);
    return true;
  }

  _startHeartbeat(conn) {
    const every = Math.min(this._o.pingInterval / 2, 5000);
    conn.heartbeat = setInterval(() => this._beat(conn), every);
  }

  // _beat pings a connection that has been silent for pingInterval and
  // gives up one silent for idleTimeout. A stream cannot be pinged: the
  // server's ": ping" comments keep it from being silent.
  _beat(conn) {
    const silent = Date.now() - conn.lastRx;
    if (silent >= this._o.idleTimeout) {
      this._fail(conn, new Error(`ticker: nothing from the server for ${silent} ms`), 4000, "idle");
    } else if (silent >= this._o.pingInterval && !conn.pinged && conn.transport === "ws") {
      conn.pinged = true;
      this._sendRaw(conn, { op: "ping", id: ++this._nextId });
    }
  }

  // _fail ends a connection the client cannot go on with.
  _fail(conn, err, code = 4001, reason = "protocol error") {
    if (conn.ws) {
      try { conn.ws.close(code, reason); } catch (_) { /* closed already */ }
    }
    this._finish(conn, code, String(err && err.message || err), err);
  }

  _finish(conn, code, reason, err) {
    if (conn.finished) return;
    conn.finished = true;
    clearInterval(conn.heartbeat);
    clearTimeout(conn.closeTimer);
    if (conn.ws) {
      const ws = conn.ws;
      ws.onopen = ws.onmessage = ws.onclose = null;
    }
    if (conn.abort) conn.abort(); // the stream's request, if it still runs
    if (this._conn === conn) this._conn = null;
    if (conn.delivered) this._attempt = 0;
    const info = {
      kind: "closed", code, reason, opened: conn.opened, delivered: conn.delivered, error: err || null, wait: null,
      transport: conn.transport, httpStatus: conn.httpStatus, reopen: conn.reopen ? conn.reopen.reopen : null,
    };
    const done = conn.onFinished;
    if (!this._running) {
      this._status(info);
      if (done) done();
      return;
    }
    if (conn.reopen) { // ended on purpose, to be opened again at once
      info.wait = 0;
      this._status(info);
      if (this._running && !this._conn) this._dial(conn.reopen);
      return;
    }
    this._waiting = true;
    let switched = false;
    const go = (again) => {
      this._waiting = false;
      if (!this._running || !again) {
        this._running = false;
        for (const q of this._queues) q.end();
        this._status(info);
        if (switched) this._status({ kind: "fallback", from: "ws", to: "sse", failures: FALLBACK_AFTER });
        return;
      }
      info.wait = backoff(this._o.minBackoff, this._o.maxBackoff, this._attempt++);
      this._status(info);
      if (switched) this._status({ kind: "fallback", from: "ws", to: "sse", failures: FALLBACK_AFTER });
      if (this._running) this._timer = setTimeout(() => { this._timer = 0; if (this._running) this._dial(); }, info.wait);
    };
    const ask = () => {
      if (!this._o.retry) { go(true); return; }
      let verdict;
      try {
        verdict = this._o.retry({ code, reason: info.reason, opened: conn.opened, delivered: conn.delivered, error: err || null, transport: conn.transport, httpStatus: info.httpStatus });
      } catch (e) {
        report(e);
        verdict = true;
      }
      Promise.resolve(verdict).then((v) => go(v !== false), () => go(true));
    };
    // A WebSocket that never opened is probed (HEAD on the stream, with
    // its token): a refusal the probe can read (401, 403, 429, 503) is
    // reported as the stream reports its own, in httpStatus, and does not
    // count toward the fallback. With "auto", any other answer counts (the
    // server answers plain HTTP: a proxy refused the upgrade), no answer
    // does not (the server is down). A "ws" client probes only where it
    // can read the status: in node, and in a page of the same origin.
    const o = this._o;
    const auto = o.transport === "auto" && this._transport === "ws";
    if (conn.transport !== "ws" || conn.opened || !o.probe || !(auto || (o.probe.readable && o.probe.stream))) { ask(); return; }
    this._probe().then(({ up, status }) => {
      if (REFUSALS[status] && o.probe.stream) {
        conn.httpStatus = info.httpStatus = status;
        info.reason = `the WebSocket was refused: HTTP ${status} ${REFUSALS[status]}`;
      } else if (auto && up && ++this._wsFailures >= FALLBACK_AFTER) {
        this._transport = "sse";
        this._attempt = 0;
        switched = true;
      }
      ask();
    });
  }

  // _probe sends the probe: it resolves {up, status}, up when the server
  // answered at all, status when its answer could be read (else 0).
  _probe() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    const init = { method: "HEAD", cache: "no-store", signal: ctl.signal };
    if (inBrowser && !this._o.probe.readable) init.mode = "no-cors"; // any answer will do, unreadable
    let req;
    try {
      req = Promise.resolve(this._o.fetch(this._o.probe.url, init));
    } catch (err) {
      req = Promise.reject(err);
    }
    return req.then((res) => { cancel(res.body); return { up: true, status: res.status || 0 }; }, () => ({ up: false, status: 0 }))
      .finally(() => clearTimeout(timer));
  }

  _sendRaw(conn, msg) {
    try {
      conn.ws.send(JSON.stringify(msg));
      return true;
    } catch (_) {
      return false; // closing: the close follows
    }
  }

  // _send sends one request for symbols, in several when they would not fit
  // in one message; it returns the last request's id.
  _send(conn, op, symbols) {
    let chunk = [], bytes = 0, id = 0;
    const every = op === "subscribe" && this._o.every ? this._o.every : undefined;
    const flush = () => {
      id = ++this._nextId;
      this._sendRaw(conn, every ? { op, id, every, symbols: chunk } : { op, id, symbols: chunk });
      chunk = [];
      bytes = 0;
    };
    for (const s of symbols) {
      const n = JSON.stringify(s).length + 1;
      if (chunk.length && bytes + n > maxRequestBytes) flush();
      chunk.push(s);
      bytes += n;
    }
    if (chunk.length) flush();
    return id;
  }

  _status(s) { call(this._o.onStatus, s); }

  // --- reading ---

  _handle(conn, raw) {
    let m;
    try {
      m = JSON.parse(raw);
    } catch (err) {
      throw new TypeError(`ticker: the server sent bad JSON: ${err.message}`);
    }
    if (m === null || typeof m !== "object" || Array.isArray(m)) throw new TypeError("ticker: the server sent a message that is not an object");
    switch (m.type) {
      case "subscribed":
        if (conn.fullResync && m.id === conn.fullResync) conn.fullResync = 0;
        this._takeEpoch(conn, m.epoch);
        break;
      case "snapshot":
        this._takeEpoch(conn, m.epoch);
        this._snapshot(conn, m);
        conn.delivered = true;
        break;
      case "update":
        this._update(conn, m);
        conn.delivered = true;
        break;
      case "error":
        call(this._o.onError, {
          code: String(m.code || ""), message: String(m.message || ""), id: m.id,
          symbols: Array.isArray(m.symbols) ? m.symbols.map(String) : [],
        });
        break;
    }
    return m;
  }

  // _takeEpoch takes the stream's epoch from an ack or a snapshot. Another
  // epoch than the book's is a new stream: its seqs start again and nothing
  // held is comparable, so the book is dropped before the message applies.
  _takeEpoch(conn, epoch) {
    if (!Number.isSafeInteger(epoch) || epoch <= 0) return;
    const previous = this._epoch;
    this._epoch = epoch;
    if (previous === 0 || previous === epoch) return;
    this._book.clear();
    conn.fresh.clear();
    conn.resyncing.clear();
    conn.fullResync = 0;
    for (const q of this._queues) q.pending.clear();
    this._status({ kind: "new-epoch", epoch, previous });
  }

  _snapshot(conn, m) {
    const reason = typeof m.reason === "string" ? m.reason : "";
    const list = quotesOf(m);
    const repaired = [];
    for (const raw of list) {
      let q = decodeQuote(raw);
      if (!this._covers(q.s)) continue;
      const wasResyncing = conn.resyncing.delete(q.s), wasRepairing = conn.repairing.delete(q.s);
      if (wasResyncing || wasRepairing || reason === "resync") repaired.push(q.s);
      conn.awaiting.delete(q.s);
      conn.fresh.add(q.s);
      if (q.stale === false) q = withoutStale(q);
      this._book.set(q.s, q);
      this._emit({ symbol: q.s, quote: q, delta: q, snapshot: true, reason, time: m.time });
    }
    if (repaired.length) this._status({ kind: "resync", symbols: repaired, reason });
  }

  _update(conn, m) {
    const gapped = [];
    for (const raw of quotesOf(m)) {
      const d = decodeQuote(raw);
      const s = d.s;
      if (!this._covers(s) || conn.resyncing.has(s)) continue; // gone, or its snapshot is on the way
      const prev = this._book.get(s);
      // a conflated entry (every) covers from..seq: it continues the book
      // when from is the next seq
      const from = Number.isSafeInteger(d.from) ? d.from : d.seq;
      let base;
      if (conn.fresh.has(s) && prev !== undefined && from === prev.seq + 1) {
        base = prev;
      } else if (!conn.fresh.has(s) && from === 1) {
        base = undefined; // its first version
        conn.fresh.add(s);
        conn.awaiting.delete(s);
      } else if (!conn.fresh.has(s) && conn.awaiting.has(s)) {
        continue; // sent before our subscribe took effect; its snapshot follows
      } else {
        this._gaps++;
        conn.resyncing.add(s);
        gapped.push(s);
        continue;
      }
      // "stale":false clears the mark: the quote drops the key, as the
      // server's snapshots and /api/quotes do for a fresh quote
      const { from: _covered, ...change } = d; // the quote holds no from
      const q = Object.freeze(withoutStale({ ...base, ...change }));
      this._book.set(s, q);
      this._emit({ symbol: s, quote: q, delta: d, snapshot: false, reason: "", time: m.time });
    }
    if (gapped.length) this._repair(conn, gapped);
  }

  // _repair resubscribes gapped symbols: unsubscribing and subscribing again
  // brings a fresh snapshot. Under "*" an explicit unsubscribe would change
  // nothing, so "*" itself is resubscribed (every symbol gets a snapshot).
  // On the stream, which takes no requests, the stream is reopened with
  // Last-Event-ID: its resync snapshot repairs every symbol.
  _repair(conn, gapped) {
    this._status({ kind: "gap", symbols: gapped });
    if (conn.transport === "sse") {
      this._reopenSoon("gap", gapped);
      return;
    }
    if (!this._symbols.has("*")) {
      this._send(conn, "unsubscribe", gapped);
      this._send(conn, "subscribe", gapped);
      return;
    }
    if (conn.fullResync) return; // one is on the way; its snapshot covers these too
    this._send(conn, "unsubscribe", ["*", ...gapped]);
    conn.fullResync = this._send(conn, "subscribe", ["*", ...gapped.filter((s) => this._symbols.has(s))]);
  }

  _emit(u) {
    call(this._o.onUpdate, u);
    for (const q of this._queues) q.push(u);
  }

  // --- the async iterator ---

  /**
   * updates() iterates every update in order (for await). If the client is
   * not running, it starts it, and stops it when the loop ends. A loop that
   * falls behind never queues more than one update per symbol: a newer one
   * replaces the symbol's pending one (its delta merged, `missed` counting
   * the versions folded in), so it always catches up with the latest quote.
   */
  updates() {
    const client = this;
    const owns = !this._running;
    const q = {
      pending: new Map(), waiter: null, ended: false,
      push(u) {
        if (this.waiter) { const w = this.waiter; this.waiter = null; w({ value: counted(u), done: false }); return; }
        const old = this.pending.get(u.symbol);
        this.pending.set(u.symbol, old ? fold(old, u) : u);
      },
      end() {
        this.ended = true;
        if (this.waiter) { const w = this.waiter; this.waiter = null; w({ value: undefined, done: true }); }
      },
    };
    this._queues.add(q);
    if (owns) this.start();
    return {
      [Symbol.asyncIterator]() { return this; },
      next() {
        if (q.pending.size) {
          const [s, u] = q.pending.entries().next().value;
          q.pending.delete(s);
          return Promise.resolve({ value: counted(u), done: false });
        }
        if (q.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => { q.waiter = resolve; });
      },
      return() {
        client._queues.delete(q);
        q.pending.clear();
        q.end();
        return (owns ? client.close() : Promise.resolve()).then(() => ({ value: undefined, done: true }));
      },
    };
  }

  [Symbol.asyncIterator]() { return this.updates(); }
}

// withoutStale is q without a false "stale" (a fresh quote has no stale key).
function withoutStale(q) {
  if (q.stale !== false) return q;
  const { stale: _, ...fresh } = q;
  return Object.isFrozen(q) ? Object.freeze(fresh) : fresh;
}

// counted is an iterator's update with its missed count (0: none folded in).
function counted(u) {
  return u.missed === undefined ? { ...u, missed: 0 } : u;
}

// fold merges a newer update b of a symbol into its pending update a.
function fold(a, b) {
  const snapshot = a.snapshot || b.snapshot;
  return {
    symbol: b.symbol, quote: b.quote, snapshot,
    delta: b.snapshot ? b.quote : a.snapshot ? b.quote : Object.freeze({ ...a.delta, ...b.delta }),
    reason: b.snapshot ? b.reason : a.reason, time: b.time, missed: (a.missed || 0) + 1,
  };
}

function quotesOf(m) {
  if (m.quotes === undefined) return [];
  if (!Array.isArray(m.quotes)) throw new TypeError(`ticker: the server sent a ${m.type} whose quotes are not an array`);
  return m.quotes;
}

// cancel lets go of a response body or its reader, whatever state it is in.
function cancel(x) {
  if (!x) return;
  try {
    const p = x.cancel();
    if (p && typeof p.catch === "function") p.catch(() => {});
  } catch (_) { /* locked, or done */ }
}

function checkSymbols(symbols, what) {
  for (const s of symbols) {
    if (typeof s !== "string" || s === "") throw new TypeError(`ticker: ${what}(${JSON.stringify(s)}): a symbol is a non-empty string`);
  }
}
