// ticker.js against the real server binary. Run through
// `go test -run TestJSClient .` at the repository root, which builds ticker,
// starts it (TICKER_ADDR) and gives the binary (TICKER_BIN) and the
// repository (TICKER_REPO) for the tests that start servers of their own.
//
// The WebSocket is node's own (node 22, or 20.10+ with
// --experimental-websocket), or else the tests' TestWebSocket; set
// TICKER_JS_WEBSOCKET=test to use the latter anyway. The stream transport
// (GET /stream) needs nothing more: ticker.js reads it with node's fetch.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";

import {
  Client as TickerClient, FALLBACK_AFTER, addDecimal, backoff, compareDecimal, decodeQuote, isDecimal, spreadBps, subtractDecimal,
} from "../../../static/ticker.js";
import { TestWebSocket } from "./websocket.mjs";

const useTest = process.env.TICKER_JS_WEBSOCKET === "test" || typeof globalThis.WebSocket !== "function";
const WS = useTest ? TestWebSocket : globalThis.WebSocket;
console.log(`# WebSocket: ${useTest ? "the tests' TestWebSocket" : "node's own"} (node ${process.version})`);

// Client is ticker.js's, each one closed once the tests are done: a test
// that fails with its client running would otherwise keep node alive.
const clients = new Set();
class Client extends TickerClient {
  constructor(o) { super(o); clients.add(this); }
}
const servers = new Set();
after(() => Promise.all([...clients].map((c) => c.close()).concat([...servers].map((s) => s.stop()))));

function need(v) {
  const s = process.env[v];
  if (!s) throw new Error(`${v} is not set: run these tests through \`go test -run TestJSClient .\` at the repository root`);
  return s;
}

// --- helpers ---

async function until(cond, within, what) {
  const end = Date.now() + within;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${within} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freeAddr() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(`127.0.0.1:${port}`));
    });
  });
}

// Server is one ticker process on a loopback port, started and stopped by a test.
class Server {
  constructor(args, addr) { this.args = args; this.addr = addr; this.logs = ""; }
  get url() { return `ws://${this.addr}/ws`; }
  async start() {
    this.addr = this.addr || await freeAddr();
    servers.add(this);
    const p = spawn(need("TICKER_BIN"), ["--addr", this.addr, ...this.args], { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = p;
    p.stderr.on("data", (d) => { this.logs += d; });
    this.exited = new Promise((r) => p.on("exit", r));
    const end = Date.now() + 15000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`ticker exited ${p.exitCode}: ${this.logs}`);
      try {
        if ((await fetch(`http://${this.addr}/healthz`)).ok) return this;
      } catch (_) { /* not yet */ }
      if (Date.now() > end) throw new Error(`ticker not serving on ${this.addr} within 15 s: ${this.logs}`);
      await sleep(50);
    }
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 15000);
    await this.exited;
    clearTimeout(t);
  }
}

async function server(t, args) {
  const s = await new Server(args).start();
  t.after(() => s.stop());
  return s;
}

async function restQuotes(addr) {
  const r = await fetch(`http://${addr}/api/quotes`);
  const j = await r.json();
  return new Map(j.quotes.map((q) => [q.s, q]));
}

// tapped wraps a WebSocket constructor: receive(data) may change or drop
// (null) each message before the client sees it; every message the client
// sends is recorded in sent.
function tapped(receive) {
  const sent = [];
  class Tapped {
    constructor(url, protocols) {
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      const ws = new WS(url, protocols);
      this._ws = ws;
      ws.onopen = (e) => this.onopen && this.onopen(e);
      ws.onclose = (e) => this.onclose && this.onclose(e);
      ws.onerror = (e) => this.onerror && this.onerror(e);
      ws.onmessage = (e) => {
        const data = receive ? receive(e.data) : e.data;
        if (data !== null && this.onmessage) this.onmessage({ data });
      };
    }
    get protocol() { return this._ws.protocol; }
    get readyState() { return this._ws.readyState; }
    send(d) { sent.push(JSON.parse(d)); this._ws.send(d); }
    close(code, reason) { this._ws.close(code, reason); }
  }
  return { WebSocket: Tapped, sent };
}

// tappedFetch wraps node's fetch for the stream transport: every /stream
// request is recorded ({symbols, lastEventId, token}), and edit(event) may
// change or drop (null) each event of a stream (its lines, without the
// empty line that ends it) before the client reads it.
function tappedFetch(edit) {
  const requests = [];
  const tapped = async (url, init = {}) => {
    const u = new URL(url);
    if (u.pathname !== "/stream") return fetch(url, init);
    requests.push({ symbols: u.searchParams.get("symbols"), lastEventId: new Headers(init.headers).get("Last-Event-ID"), token: u.searchParams.get("token") });
    const res = await fetch(url, init);
    if (!edit || res.status !== 200) return res;
    const text = new TextDecoder(), bytes = new TextEncoder();
    let buf = "";
    const body = res.body.pipeThrough(new TransformStream({
      transform(chunk, out) {
        buf += text.decode(chunk, { stream: true });
        const events = buf.split("\n\n");
        buf = events.pop();
        for (const e of events) {
          const changed = edit(e);
          if (changed !== null) out.enqueue(bytes.encode(changed + "\n\n"));
        }
      },
      flush(out) { if (buf) out.enqueue(bytes.encode(buf)); },
    }));
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: tapped, requests };
}

// eventMessage is the ticker.v1 message of one stream event, or null.
function eventMessage(e) {
  const data = e.split("\n").find((l) => l.startsWith("data: "));
  return data ? JSON.parse(data.slice("data: ".length)) : null;
}

// noUpgradeProxy is an HTTP proxy in front of addr that refuses every
// WebSocket upgrade with 502 (as some corporate proxies do) and passes
// everything else on, streamed; it counts what it saw.
async function noUpgradeProxy(t, addr) {
  const [host, port] = addr.split(":");
  const seen = { upgrades: 0, probes: 0, streams: 0 };
  const srv = http.createServer((req, res) => {
    if (req.method === "HEAD" && req.url.startsWith("/stream")) seen.probes++;
    else if (req.url.startsWith("/stream")) seen.streams++;
    const up = http.request({ host, port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  srv.on("upgrade", (req, sock) => {
    seen.upgrades++;
    sock.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }));
  return { url: `ws://127.0.0.1:${srv.address().port}/ws`, seen };
}

// checkSequence asserts what a consumer saw of each symbol: a snapshot
// first, then seq+1 by seq+1, each update's quote the previous one with its
// delta applied; a later snapshot restarts the sequence.
function checkSequence(updates) {
  const last = new Map();
  for (const u of updates) {
    const prev = last.get(u.symbol);
    if (u.snapshot) {
      assert.deepEqual(u.delta, u.quote);
    } else {
      assert.ok(prev, `${u.symbol}: an update before any snapshot: ${JSON.stringify(u)}`);
      assert.equal(u.quote.seq, prev.seq + 1, `${u.symbol}: seq ${prev.seq} then ${u.quote.seq}`);
      assert.deepEqual(u.quote, { ...prev, ...u.delta });
    }
    for (const f of ["bid", "ask", "bid_size", "ask_size", "last", "last_size", "volume"]) {
      if (u.quote[f] !== undefined) assert.ok(isDecimal(u.quote[f]), `${u.symbol} ${f} ${JSON.stringify(u.quote[f])}`);
    }
    last.set(u.symbol, u.quote);
  }
  return last;
}

// --- exact decimals ---

test("compareDecimal: signs, leading zeros, fraction lengths, exactly", () => {
  for (const [a, b, want] of [
    ["1", "1", 0], ["1.10", "1.1", 0], ["007.50", "7.5", 0], ["-0", "0", 0], ["+0.0", "-0.000", 0], ["+3", "3", 0],
    ["1", "2", -1], ["2", "1", 1], ["-1", "1", -1], ["-2", "-1", -1], ["-1.5", "-1.25", -1],
    ["0.1", "0.09", 1], ["0.00001234", "0.00001235", -1],
    ["64000.15", "64000.149999999999999999999999", 1],
    ["123456789012345678901234567890.1", "123456789012345678901234567890.10000000000000000001", -1],
    ["9007199254740993", "9007199254740992", 1], // equal as floats
    ["0.30000000000000004", "0.3", 1], ["0.1", "0.10000000000000001", -1], // equal as floats
  ]) {
    assert.equal(compareDecimal(a, b), want, `compareDecimal(${a}, ${b})`);
    assert.equal(compareDecimal(b, a), want === 0 ? 0 : -want, `compareDecimal(${b}, ${a})`);
  }
  for (const bad of ["", " 1", "1 ", "1e5", "1E-3", "0x10", ".5", "5.", "1.2.3", "--1", "+-1", "NaN", "Infinity", "1,5", "١", 1.5, 1n, null, undefined, {}]) {
    assert.throws(() => compareDecimal(bad, "1"), TypeError, `compareDecimal(${String(bad)}, "1")`);
    assert.throws(() => compareDecimal("1", bad), TypeError);
    assert.equal(isDecimal(bad), false, String(bad));
  }
  assert.throws(() => compareDecimal("1e5", "1"), /"1e5" is not a decimal/);
});

test("addDecimal, subtractDecimal, spreadBps: exact, canonical", () => {
  for (const [a, b, sum, diff] of [
    ["64000.2", "64000.1", "128000.3", "0.1"], ["0.1", "0.2", "0.3", "-0.1"], ["1.10", "0.1", "1.2", "1"],
    ["-0.5", "0.5", "0", "-1"], ["0.00001234", "0", "0.00001234", "0.00001234"], ["007", "-3.000", "4", "10"],
    ["123456789012345678901234567890.1", "0.00001234", "123456789012345678901234567890.10001234", "123456789012345678901234567890.09998766"],
  ]) {
    assert.equal(addDecimal(a, b), sum, `${a} + ${b}`);
    assert.equal(subtractDecimal(a, b), diff, `${a} - ${b}`);
  }
  for (const [bid, ask, places, want] of [
    ["99.99", "100.01", 2, "2.00"], ["64000.1", "64000.2", 4, "0.0156"], ["189.13", "189.16", 2, "1.59"],
    ["100", "100", 2, "0.00"], ["1.0", "1.1", 0, "952"], ["100.01", "99.99", 2, "-2.00"], ["0.99", "1.01", 1, "200.0"],
    ["3", "5", 0, "5000"], ["1", "2", 3, "6666.667"], ["2", "1", 3, "-6666.667"],
  ]) {
    assert.equal(spreadBps(bid, ask, places), want, `spreadBps(${bid}, ${ask}, ${places})`);
  }
  assert.throws(() => spreadBps("-1", "1"), RangeError);
  assert.throws(() => spreadBps("1", "2", -1), RangeError);
  assert.throws(() => subtractDecimal("1", 0.5), TypeError);
});

test("decodeQuote keeps decimals as strings and refuses floats", () => {
  const q = decodeQuote({ s: "SHIB-USD", seq: 1, ts: 1, bid: "0.00001234", ask: "123456789012345678901234567890.1", stale: true });
  assert.equal(q.bid, "0.00001234");
  assert.equal(q.stale, true); // a field the client does not know is kept
  assert.ok(Object.isFrozen(q));
  for (const bad of [{ s: "X", seq: 1, bid: 1.5 }, { s: "X", seq: 1, bid: "NaN" }, { s: "X", bid: "1" }, { seq: 1 }, { s: "X", seq: 0 }, { s: "X", seq: 1.5 }, []]) {
    assert.throws(() => decodeQuote(bad), TypeError, JSON.stringify(bad));
  }
});

test("backoff doubles from min to max with full jitter", () => {
  for (const [n, cap] of [[0, 250], [1, 500], [2, 1000], [6, 16000], [7, 30000], [20, 30000]]) {
    assert.equal(backoff(250, 30000, n, () => 1), cap, `attempt ${n}`);
    assert.equal(backoff(250, 30000, n, () => 0), 0);
    const draws = Array.from({ length: 300 }, () => backoff(250, 30000, n));
    assert.ok(draws.every((d) => d >= 0 && d <= cap), `attempt ${n}`);
    assert.ok(Math.max(...draws) > cap * 0.8 && Math.min(...draws) < cap * 0.2, `attempt ${n}: ${Math.min(...draws)}…${Math.max(...draws)}`);
  }
});

test("options are checked in one place, with the option's name", () => {
  for (const [o, re] of [
    [{}, /options\.url/], [{ url: "http//x" }, /options\.url/], [{ url: "ftp://x/ws" }, /ws:\/\/ or wss:\/\//],
    [{ url: "ws://x/ws", symbols: "AAPL" }, /options\.symbols/], [{ url: "ws://x/ws", minBackoff: 0 }, /options\.minBackoff/],
    [{ url: "ws://x/ws", minBackoff: 500, maxBackoff: 100 }, /options\.maxBackoff/],
    [{ url: "ws://x/ws", pingInterval: 5000, idleTimeout: 5000 }, /options\.idleTimeout/],
    [{ url: "ws://x/ws", onUpdate: 1 }, /options\.onUpdate/], [{ url: "ws://x/ws", WebSocket: null }, /no WebSocket here/],
    [{ url: "ws://x/ws", transport: "websocket" }, /options\.transport "websocket": want one of "auto", "ws", "sse"/],
    [{ url: "ws://x/feed", transport: "sse" }, /options\.streamURL/], [{ url: "ws://x/ws", transport: "auto", streamURL: "ftp://x/stream" }, /options\.streamURL/],
    [{ transport: "sse" }, /options\.url/], [{ url: "ws://x/ws", transport: "sse", fetch: null }, /no fetch here/],
  ]) {
    assert.throws(() => new Client({ WebSocket: WS, ...o }), re, JSON.stringify(o));
  }
  assert.throws(() => new Client({ url: "ws://x/ws", WebSocket: WS }).subscribe(""), /a symbol is a non-empty string/);
  // an option given as undefined takes its default (a token from an unset environment variable)
  assert.deepEqual(new Client({ url: "ws://x/ws", WebSocket: WS, token: undefined, symbols: undefined, minBackoff: undefined }).symbols, []);
  // the transports: "ws" by default outside a browser; "auto" without a WebSocket takes the stream
  assert.equal(new Client({ url: "ws://x/ws", WebSocket: WS }).transport, "ws");
  assert.equal(new Client({ url: "ws://x/ws", WebSocket: WS, transport: "auto" }).transport, "ws");
  assert.equal(new Client({ url: "ws://x/ws", WebSocket: null, transport: "auto" }).transport, "sse");
  assert.equal(new Client({ transport: "sse", streamURL: "http://x/stream" }).transport, "sse");
});

// --- against the server ---

test("a snapshot per symbol, then updates seq+1 by seq+1, decimals as strings", async () => {
  const addr = need("TICKER_ADDR");
  const got = [], statuses = [], messages = [];
  const c = new Client({
    url: `ws://${addr}/ws`, symbols: ["AAPL", "BTC-USD"], WebSocket: WS,
    onUpdate: (u) => got.push(u), onStatus: (s) => statuses.push(s), onMessage: (m) => messages.push(m.type),
  });
  c.start();
  await until(() => got.filter((u) => !u.snapshot).length >= 20, 15000, "20 updates");
  assert.ok(c.connected && c.epoch > 0 && c.gaps === 0);
  await c.close();
  assert.equal(c.connected, false);
  assert.deepEqual(statuses.slice(0, 2).map((s) => s.kind), ["connecting", "open"]);
  assert.equal(statuses[0].attempt, 0);
  assert.equal(statuses[1].protocol, "ticker.v1");
  assert.equal(statuses.at(-1).kind, "closed");
  assert.equal(statuses.at(-1).wait, null); // closed by the client: no retry
  assert.ok(messages.includes("subscribed") && messages.includes("snapshot") && messages.includes("update"));
  const first = new Map();
  for (const u of got) if (!first.has(u.symbol)) first.set(u.symbol, u);
  assert.deepEqual([...first.keys()].sort(), ["AAPL", "BTC-USD"]);
  for (const u of first.values()) assert.ok(u.snapshot && u.reason === "subscribe", JSON.stringify(u));
  const last = checkSequence(got);
  for (const [s, q] of last) {
    assert.deepEqual(c.quote(s), q);
    assert.equal(typeof q.bid, "string");
    assert.equal(compareDecimal(q.bid, q.ask), -1, `${s}: bid ${q.bid} ask ${q.ask}`);
    assert.equal(compareDecimal(subtractDecimal(q.ask, q.bid), "0"), 1);
    assert.ok(q.ts > 1.7e15, `${s} ts ${q.ts}`);
  }
  for (const u of got) assert.ok(u.time > 1.7e15, `time ${u.time}`);
});

for (const transport of ["ws", "sse"]) test(`the book ends equal to the server's quotes (a replay, every symbol; transport ${transport})`, async (t) => {
  const fixture = path.join(need("TICKER_REPO"), "fixtures", "crypto.ndjson");
  const srv = await server(t, ["--feed", `replay:${fixture}?speed=10`, "--coalesce", "10ms"]);
  let updates = 0;
  const c = new Client({ url: srv.url, symbols: ["*"], WebSocket: WS, transport, onUpdate: (u) => { updates += !u.snapshot; } });
  c.start();
  let last = -1, quietSince = Date.now();
  while (Date.now() - quietSince < 1000) { // until the replay has ended
    await sleep(100);
    if (updates !== last) { last = updates; quietSince = Date.now(); }
  }
  const want = await restQuotes(srv.addr);
  assert.equal(c.gaps, 0);
  assert.deepEqual(new Map([...c.book()].map(([s, q]) => [s, { ...q }])), want);
  assert.ok(updates > 100, `${updates} updates`);
  assert.equal(c.transport, transport);
  await c.close();
});

for (const transport of ["ws", "sse"]) test(`stale: q.stale is true while a symbol's feed is down, and the key goes when it is fresh again, as in /api/quotes (transport ${transport})`, async (t) => {
  // a replay that marks BTC-USD and AAPL stale 1.5 s in, then AAPL fresh again
  const t0 = 1764000000000000;
  const lines = [
    { ts: t0, s: "AAPL", bid: "189.12", bid_size: "100", ask: "189.14", ask_size: "200" },
    { ts: t0, s: "BTC-USD", bid: "64000.1", bid_size: "1", ask: "64000.2", ask_size: "2" },
    { ts: t0, s: "ETH-USD", bid: "3000.1", bid_size: "1", ask: "3000.2", ask_size: "2" },
    { ts: t0 + 1500000, s: "BTC-USD", stale: true },
    { ts: t0 + 1500000, s: "AAPL", stale: true },
    { ts: t0 + 2500000, s: "AAPL", last: "189.13", last_size: "10" },
  ];
  const fixture = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ticker-js-")), "stale.ndjson");
  fs.writeFileSync(fixture, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const srv = await server(t, ["--feed", `replay:${fixture}`]);
  const seen = []; // AAPL's [delta.stale, quote.stale, "stale" in quote]
  const c = new Client({
    url: srv.url, symbols: ["*"], WebSocket: WS, transport,
    onUpdate: (u) => { if (u.symbol === "AAPL") seen.push([u.delta.stale, u.quote.stale, "stale" in u.quote]); },
  });
  c.start();
  await until(() => c.quote("AAPL") && c.quote("AAPL").last === "189.13", 10000, "AAPL fresh again");
  assert.deepEqual(seen.slice(-2), [[true, true, true], [false, undefined, false]], JSON.stringify(seen));
  assert.equal(c.quote("BTC-USD").stale, true);
  assert.ok(!("stale" in c.quote("ETH-USD")));
  assert.deepEqual(new Map([...c.book()].map(([s, q]) => [s, { ...q }])), await restQuotes(srv.addr));
  await c.close();
});

test('every: "1s" gets conflated updates, each entry from the next seq, at most one a symbol a second', async () => {
  const addr = need("TICKER_ADDR");
  const got = [], acks = [];
  const c = new Client({
    url: `ws://${addr}/ws`, symbols: ["AAPL", "BTC-USD"], every: "1s", WebSocket: WS,
    onUpdate: (u) => got.push(u), onMessage: (m) => { if (m.type === "subscribed") acks.push(m); },
  });
  c.start();
  await until(() => got.filter((u) => !u.snapshot).length >= 4, 20000, "4 conflated updates");
  await c.close();
  assert.equal(c.gaps, 0);
  assert.ok(acks.length > 0 && acks[0].every === "1s", JSON.stringify(acks));
  const lastTime = new Map(), lastSeq = new Map();
  let covered = 0;
  for (const u of got) {
    assert.equal(u.quote.from, undefined, "the book's quote holds no from");
    if (u.snapshot) { lastSeq.set(u.symbol, u.quote.seq); continue; }
    const from = u.delta.from ?? u.delta.seq;
    assert.equal(from, lastSeq.get(u.symbol) + 1, `${u.symbol}: from ${from} after seq ${lastSeq.get(u.symbol)}`);
    if (u.delta.seq > from) covered++;
    // ticks are every 20 windows of 50 ms, counted by the server: in its
    // own time, apart by the interval less one window's jitter at most
    if (lastTime.has(u.symbol)) assert.ok(u.time - lastTime.get(u.symbol) >= 950000, `${u.symbol}: two updates ${u.time - lastTime.get(u.symbol)} µs apart in server time`);
    lastTime.set(u.symbol, u.time);
    lastSeq.set(u.symbol, u.delta.seq);
  }
  assert.ok(covered > 0, "no entry covered more than one version");
  assert.throws(() => new Client({ url: `ws://${addr}/ws`, every: "1.5s", WebSocket: WS }), /every/);
});

test("a seq gap resubscribes the symbol and repairs it from a fresh snapshot", async () => {
  const addr = need("TICKER_ADDR");
  // the transport loses one BTC-USD delta, once: the server is real, the gap too
  let seen = 0, dropped = null;
  const tap = tapped((data) => {
    const m = JSON.parse(data);
    if (m.type !== "update" || dropped) return data;
    const i = m.quotes.findIndex((q) => q.s === "BTC-USD");
    if (i < 0 || ++seen < 5) return data;
    dropped = m.quotes[i];
    m.quotes.splice(i, 1);
    return JSON.stringify(m);
  });
  const got = [], statuses = [];
  const c = new Client({ url: `ws://${addr}/ws`, symbols: ["AAPL", "BTC-USD"], WebSocket: tap.WebSocket, onUpdate: (u) => got.push(u), onStatus: (s) => statuses.push(s) });
  c.start();
  await until(() => statuses.some((s) => s.kind === "resync"), 15000, "the repair");
  const at = got.length;
  await until(() => got.slice(at).filter((u) => u.symbol === "BTC-USD").length >= 5, 15000, "BTC-USD updates after the repair");
  await c.close();
  assert.ok(dropped, "no update was dropped");
  assert.equal(c.gaps, 1);
  const gap = statuses.find((s) => s.kind === "gap"), resync = statuses.find((s) => s.kind === "resync");
  assert.deepEqual(gap.symbols, ["BTC-USD"]);
  assert.deepEqual(resync.symbols, ["BTC-USD"]);
  assert.equal(resync.reason, "subscribe");
  const reqs = tap.sent.map((r) => [r.op, r.symbols]);
  assert.deepEqual(reqs, [["subscribe", ["AAPL", "BTC-USD"]], ["unsubscribe", ["BTC-USD"]], ["subscribe", ["BTC-USD"]]]);
  // nothing of BTC-USD reached the consumer between the gap and the snapshot,
  // and the snapshot came after the lost version
  const btc = got.filter((u) => u.symbol === "BTC-USD");
  const snaps = btc.filter((u) => u.snapshot);
  assert.equal(snaps.length, 2);
  assert.ok(snaps[1].quote.seq >= dropped.seq, `repaired at ${snaps[1].quote.seq}, lost ${dropped.seq}`);
  assert.equal(btc[btc.indexOf(snaps[1]) - 1].quote.seq, dropped.seq - 1);
  assert.equal(got.filter((u) => u.symbol === "AAPL" && u.snapshot).length, 1); // AAPL was left alone
  checkSequence(got);
});

test("a seq gap under \"*\" resubscribes \"*\" (an explicit resubscribe would change nothing)", async () => {
  const addr = need("TICKER_ADDR");
  let seen = 0, dropped = null;
  const tap = tapped((data) => {
    const m = JSON.parse(data);
    if (m.type !== "update" || dropped || ++seen < 5 || !m.quotes.length) return data;
    dropped = m.quotes.shift();
    return JSON.stringify(m);
  });
  const got = [], statuses = [];
  const c = new Client({ url: `ws://${addr}/ws`, symbols: ["*"], WebSocket: tap.WebSocket, onUpdate: (u) => got.push(u), onStatus: (s) => statuses.push(s) });
  c.start();
  await until(() => statuses.some((s) => s.kind === "resync"), 15000, "the repair");
  const at = got.length;
  await until(() => got.slice(at).filter((u) => u.symbol === dropped.s).length >= 3, 15000, "updates after the repair");
  await c.close();
  assert.equal(c.gaps, 1);
  assert.deepEqual(statuses.find((s) => s.kind === "gap").symbols, [dropped.s]);
  assert.deepEqual(tap.sent.map((r) => [r.op, r.symbols]), [["subscribe", ["*"]], ["unsubscribe", ["*", dropped.s]], ["subscribe", ["*"]]]);
  const snaps = got.filter((u) => u.symbol === dropped.s && u.snapshot);
  assert.equal(snaps.length, 2);
  assert.ok(snaps[1].quote.seq >= dropped.seq);
  assert.ok(c.book().size >= 20, `${c.book().size} symbols in the book`);
  checkSequence(got);
});

// --- the stream transport (GET /stream) ---

test("the stream transport: the same snapshot and updates from GET /stream, read with fetch", async () => {
  const addr = need("TICKER_ADDR");
  const got = [], statuses = [], messages = [];
  const c = new Client({
    url: `ws://${addr}/ws`, transport: "sse", symbols: ["AAPL", "BTC-USD"],
    onUpdate: (u) => got.push(u), onStatus: (s) => statuses.push(s), onMessage: (m) => messages.push(m.type),
  });
  assert.equal(c.transport, "sse");
  c.start();
  await until(() => got.filter((u) => !u.snapshot).length >= 20, 15000, "20 updates");
  assert.ok(c.connected && c.epoch > 0 && c.gaps === 0);
  await c.close();
  assert.equal(c.connected, false);
  assert.deepEqual(statuses.slice(0, 2).map((s) => [s.kind, s.transport]), [["connecting", "sse"], ["open", "sse"]]);
  assert.equal(statuses[0].url, `http://${addr}/stream?symbols=AAPL,BTC-USD`);
  assert.equal(statuses[1].protocol, "ticker.v1");
  assert.deepEqual([statuses.at(-1).kind, statuses.at(-1).wait], ["closed", null]);
  assert.deepEqual(messages.slice(0, 2), ["subscribed", "snapshot"]);
  assert.ok(messages.includes("update"));
  const first = new Map();
  for (const u of got) if (!first.has(u.symbol)) first.set(u.symbol, u);
  assert.deepEqual([...first.keys()].sort(), ["AAPL", "BTC-USD"]);
  for (const u of first.values()) assert.ok(u.snapshot && u.reason === "subscribe", JSON.stringify(u));
  for (const [s, q] of checkSequence(got)) {
    assert.deepEqual(c.quote(s), q);
    assert.equal(compareDecimal(q.bid, q.ask), -1, `${s}: bid ${q.bid} ask ${q.ask}`);
  }
});

test("on the stream, symbols changed together reopen it once, with the new symbols and no Last-Event-ID", async () => {
  const addr = need("TICKER_ADDR");
  const tap = tappedFetch();
  const statuses = [];
  const c = new Client({ url: `ws://${addr}/ws`, transport: "sse", symbols: ["AAPL"], fetch: tap.fetch, onStatus: (s) => statuses.push(s) });
  c.start();
  await until(() => c.quote("AAPL"), 10000, "AAPL");
  assert.equal(c.subscribe("BTC-USD", "ETH-USD"), true);
  assert.equal(c.unsubscribe("AAPL"), true);
  assert.equal(c.quote("AAPL"), undefined); // dropped at once
  await until(() => c.quote("BTC-USD") && c.quote("ETH-USD"), 10000, "the new stream's symbols");
  assert.deepEqual([...c.book().keys()].sort(), ["BTC-USD", "ETH-USD"]);
  assert.deepEqual(tap.requests, [
    { symbols: "AAPL", lastEventId: null, token: null },
    { symbols: "BTC-USD,ETH-USD", lastEventId: null, token: null },
  ]);
  const reopened = statuses.find((s) => s.kind === "closed");
  assert.deepEqual([reopened.reopen, reopened.wait, reopened.code, reopened.opened], ["symbols", 0, 1000, true]);
  assert.equal(statuses.filter((s) => s.kind === "connecting" && s.reopen === "symbols").length, 1);
  // nothing to stream: no connection; a subscribe opens one again
  c.unsubscribe("BTC-USD", "ETH-USD");
  await until(() => !c.connected, 5000, "the stream to close");
  await sleep(200);
  assert.equal(tap.requests.length, 2);
  assert.equal(c.running, true);
  c.subscribe("SOL-USD");
  await until(() => c.quote("SOL-USD"), 10000, "SOL-USD");
  assert.deepEqual(tap.requests.at(-1), { symbols: "SOL-USD", lastEventId: null, token: null });
  await c.close();
  assert.equal(c.gaps, 0);
});

test("a seq gap on the stream reopens it with Last-Event-ID, and the resync snapshot repairs it", async () => {
  const addr = need("TICKER_ADDR");
  // the stream loses one BTC-USD delta on its way from the real server, once
  let seen = 0, dropped = null, droppedAt = null;
  const tap = tappedFetch((e) => {
    const m = eventMessage(e);
    if (!m || m.type !== "update" || dropped) return e;
    const i = m.quotes.findIndex((q) => q.s === "BTC-USD");
    if (i < 0 || ++seen < 5) return e;
    dropped = m.quotes[i];
    droppedAt = e.split("\n").find((l) => l.startsWith("id: ")).slice("id: ".length);
    m.quotes.splice(i, 1);
    return e.split("\n").map((l) => (l.startsWith("data: ") ? "data: " + JSON.stringify(m) : l)).join("\n");
  });
  const got = [], statuses = [];
  const c = new Client({
    url: `ws://${addr}/ws`, transport: "sse", symbols: ["AAPL", "BTC-USD"], fetch: tap.fetch,
    onUpdate: (u) => got.push(u),
    onStatus: (s) => statuses.push(s),
  });
  c.start();
  await until(() => statuses.some((s) => s.kind === "resync"), 15000, "the repair");
  const at = got.length;
  await until(() => got.slice(at).filter((u) => u.symbol === "BTC-USD").length >= 5, 15000, "BTC-USD updates after the repair");
  await c.close();
  assert.ok(dropped, "no update was dropped");
  assert.equal(c.gaps, 1);
  assert.deepEqual(statuses.find((s) => s.kind === "gap").symbols, ["BTC-USD"]);
  // the stream was reopened with the id of the last event read (the one
  // that showed the gap, or a later one): the server answered with a resync snapshot
  assert.equal(tap.requests.length, 2);
  assert.equal(tap.requests[1].symbols, "AAPL,BTC-USD");
  assert.match(tap.requests[1].lastEventId, new RegExp(`^${c.epoch}:\\d+$`));
  const time = (id) => Number(id.split(":")[1]);
  assert.ok(time(tap.requests[1].lastEventId) >= time(droppedAt), `${tap.requests[1].lastEventId} before ${droppedAt}`);
  const closed = statuses.find((s) => s.kind === "closed");
  assert.deepEqual([closed.reopen, closed.wait], ["gap", 0]);
  const resync = statuses.find((s) => s.kind === "resync");
  assert.equal(resync.reason, "resync");
  assert.deepEqual([...resync.symbols].sort(), ["AAPL", "BTC-USD"]);
  // nothing of BTC-USD reached the consumer between the gap and the snapshot
  const btc = got.filter((u) => u.symbol === "BTC-USD");
  const snaps = btc.filter((u) => u.snapshot);
  assert.equal(snaps.length, 2);
  assert.equal(snaps[1].reason, "resync");
  assert.ok(snaps[1].quote.seq >= dropped.seq, `repaired at ${snaps[1].quote.seq}, lost ${dropped.seq}`);
  assert.equal(btc[btc.indexOf(snaps[1]) - 1].quote.seq, dropped.seq - 1);
  checkSequence(got);
});

test(`"auto": after ${FALLBACK_AFTER} WebSocket failures while the server answers HTTP, the stream for good`, async (t) => {
  const proxy = await noUpgradeProxy(t, need("TICKER_ADDR"));
  const statuses = [];
  const c = new Client({ url: proxy.url, transport: "auto", symbols: ["AAPL"], WebSocket: WS, minBackoff: 20, maxBackoff: 100, onStatus: (s) => statuses.push(s) });
  assert.equal(c.transport, "ws");
  c.start();
  await until(() => c.quote("AAPL"), 15000, "AAPL from the stream");
  assert.equal(c.transport, "sse");
  await c.close();
  const seq = statuses.map((s) => s.kind + (s.transport ? ":" + s.transport : ""));
  const ws = Array(FALLBACK_AFTER).fill(["connecting:ws", "closed:ws"]).flat();
  assert.deepEqual(seq.slice(0, ws.length + 3), [...ws, "fallback", "connecting:sse", "open:sse"]);
  assert.ok(statuses.filter((s) => s.kind === "closed" && s.transport === "ws").every((s) => !s.opened && s.wait !== null));
  assert.deepEqual(statuses.find((s) => s.kind === "fallback"), { kind: "fallback", from: "ws", to: "sse", failures: FALLBACK_AFTER });
  assert.ok(statuses[ws.length - 1].wait <= 20, JSON.stringify(statuses[ws.length - 1])); // the stream's backoff starts over
  // each refused upgrade was followed by a plain HTTP probe (HEAD /stream), then one stream
  assert.deepEqual(proxy.seen, { upgrades: FALLBACK_AFTER, probes: FALLBACK_AFTER, streams: 1 });
});

test(`"auto": a server that is down does not count toward the fallback; without a WebSocket, the stream at once`, async () => {
  const statuses = [];
  const c = new Client({ url: `ws://${await freeAddr()}/ws`, transport: "auto", symbols: ["AAPL"], WebSocket: WS, minBackoff: 10, maxBackoff: 40, onStatus: (s) => statuses.push(s) });
  c.start();
  await until(() => statuses.filter((s) => s.kind === "closed").length >= FALLBACK_AFTER + 2, 10000, "refused dials");
  await c.close();
  assert.equal(c.transport, "ws");
  assert.ok(!statuses.some((s) => s.kind === "fallback" || s.transport === "sse"), JSON.stringify(statuses));

  const addr = need("TICKER_ADDR");
  const seen = [];
  const bare = new Client({ url: `ws://${addr}/ws`, transport: "auto", WebSocket: null, symbols: ["AAPL"], onStatus: (s) => seen.push(s) });
  bare.start();
  await until(() => bare.quote("AAPL"), 10000, "AAPL");
  await bare.close();
  assert.deepEqual(seen.slice(0, 2).map((s) => [s.kind, s.transport]), [["connecting", "sse"], ["open", "sse"]]);
});

test("the async iterator; subscribe and unsubscribe on the open connection; server errors", async () => {
  const addr = need("TICKER_ADDR");
  const errors = [];
  const c = new Client({ url: `ws://${addr}/ws`, symbols: ["AAPL"], WebSocket: WS, onError: (e) => errors.push(e) });
  const syms = new Set();
  let asked = false, n = 0;
  for await (const u of c) { // starts the client
    n++;
    syms.add(u.symbol);
    assert.ok(c.running);
    if (!asked) assert.ok(asked = c.subscribe("EUR-USD", "NO-SUCH"));
    if (syms.has("EUR-USD") && errors.length) break; // stops it
  }
  assert.equal(c.running, false);
  assert.ok(n >= 2);
  assert.equal(errors[0].code, "unknown_symbol");
  assert.deepEqual(errors[0].symbols, ["NO-SUCH"]);
  assert.ok(c.quote("EUR-USD"));
  assert.deepEqual(c.symbols, ["AAPL", "EUR-USD", "NO-SUCH"]);
  assert.equal(c.unsubscribe("EUR-USD"), false); // not connected any more: from the next connection on
  assert.equal(c.quote("EUR-USD"), undefined);
});

test("a slow iterator gets each symbol's latest quote, one pending update per symbol", async () => {
  const addr = need("TICKER_ADDR");
  const c = new Client({ url: `ws://${addr}/ws`, symbols: ["*"], WebSocket: WS });
  const it = c.updates(); // starts the client
  const first = await it.next();
  assert.ok(first.value.snapshot);
  assert.equal(first.value.missed, 0); // taken at once: nothing folded in
  await sleep(1500); // the loop takes nothing meanwhile: 1.5 s of updates pile up
  await c.close(); // the iterator ends after what it holds
  const seen = new Map();
  let folded = 0;
  for await (const u of it) {
    assert.ok(!seen.has(u.symbol), `${u.symbol} twice in what piled up`);
    seen.set(u.symbol, u);
    assert.ok(Number.isSafeInteger(u.missed) && u.missed >= 0, `missed ${u.missed}`);
    if (u.missed) folded++;
    // what is left of a symbol is its latest quote, and the delta from the last one the loop saw
    assert.deepEqual(u.quote, c.quote(u.symbol), u.symbol);
    if (!u.snapshot) assert.deepEqual({ ...u.quote, ...u.delta }, u.quote);
  }
  assert.ok(seen.size >= 10, `${seen.size} symbols piled up`);
  assert.ok(folded > 0, "nothing was folded in 1.5 s");
});

test("a callback that throws does not end a node program: console.error, and the client goes on", async () => {
  const addr = need("TICKER_ADDR");
  const ticker = new URL("../../../static/ticker.js", import.meta.url).href;
  // a bot of its own process: node ends a process on an uncaught error
  const bot = `
    import { Client } from ${JSON.stringify(ticker)};
    let n = 0, statuses = 0;
    const c = new Client({
      url: "ws://${addr}/ws", transport: typeof WebSocket === "function" ? "ws" : "sse", symbols: ["AAPL"],
      onStatus: () => { statuses++; throw new Error("boom in onStatus"); },
      onUpdate: () => { if (++n === 5) { c.close().then(() => console.log("updates", n, "statuses", statuses)); } throw new Error("boom in onUpdate " + n); },
    });
    c.start();
  `;
  const p = spawn(process.execPath, [...process.execArgv, "--input-type=module", "-e", bot], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  p.stdout.on("data", (d) => { stdout += d; });
  p.stderr.on("data", (d) => { stderr += d; });
  const timer = setTimeout(() => p.kill(), 20000);
  const code = await new Promise((r) => p.on("exit", (c) => r(c)));
  clearTimeout(timer);
  assert.equal(code, 0, `exit ${code}; stderr: ${stderr}`);
  assert.match(stdout, /^updates 5 statuses [2-9]/);
  assert.match(stderr, /ticker: a callback threw \(the client goes on\): Error: boom in onStatus/);
  for (let i = 1; i <= 4; i++) assert.match(stderr, new RegExp(`ticker: a callback threw \\(the client goes on\\): Error: boom in onUpdate ${i}\\b`));
});

test("a subscribe too big for one message goes out in several", async (t) => {
  const srv = await server(t, ["--feed", "synthetic:?symbols=600&rate=2000&seed=3"]);
  const { symbols } = await (await fetch(`http://${srv.addr}/api/symbols`)).json();
  assert.ok(JSON.stringify({ op: "subscribe", id: 1, symbols }).length > 4096);
  const tap = tapped();
  const statuses = [];
  const c = new Client({ url: srv.url, symbols, WebSocket: tap.WebSocket, onStatus: (s) => statuses.push(s) });
  c.start();
  await until(() => c.book().size === symbols.length, 15000, "every symbol's snapshot");
  await c.close();
  assert.ok(tap.sent.length >= 2 && tap.sent.every((r) => JSON.stringify(r).length < 4096));
  assert.deepEqual(tap.sent.flatMap((r) => r.symbols), symbols);
  assert.equal(statuses.filter((s) => s.kind === "closed").length, 1);
});

test("a token: refused without, streaming with; retry() can stop the client", async (t) => {
  const tokens = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ticker-js-")), "tokens");
  fs.writeFileSync(tokens, "s3cret-token\n");
  const srv = await server(t, ["--auth-tokens", tokens]);
  for (const token of ["", "wrong"]) {
    const statuses = [], asked = [];
    const c = new Client({ url: srv.url, symbols: ["AAPL"], token, WebSocket: WS, onStatus: (s) => statuses.push(s), retry: (info) => { asked.push(info); return asked.length < 2; } });
    c.start();
    await until(() => !c.running, 10000, "the client to give up");
    assert.equal(asked.length, 2);
    assert.ok(asked.every((i) => !i.opened && !i.delivered), JSON.stringify(asked));
    assert.deepEqual(statuses.map((s) => s.kind), ["connecting", "closed", "connecting", "closed"]);
    assert.equal(statuses[3].wait, null);
    assert.equal(statuses[2].attempt, 1);
    // node can read the probe's answer: the refusal is reported as the stream reports its own
    assert.deepEqual(asked.map((i) => i.httpStatus), [401, 401], JSON.stringify(asked));
    assert.deepEqual(statuses.filter((s) => s.kind === "closed").map((s) => [s.code, s.httpStatus]), [[1006, 401], [1006, 401]]);
    assert.match(statuses[1].reason, /^the WebSocket was refused: HTTP 401 the token was refused/);
  }
  const statuses = [];
  const c = new Client({ url: srv.url, symbols: ["AAPL"], token: "s3cret-token", WebSocket: WS, onStatus: (s) => statuses.push(s) });
  assert.ok(!statuses.length);
  let u;
  for await (u of c) break;
  assert.equal(u.symbol, "AAPL");
  assert.ok(u.snapshot || u.quote.seq === 1, JSON.stringify(u));
  assert.equal(statuses[0].url.includes("s3cret"), false); // the token stays out of what is reported
  const m = await (await fetch(`http://${srv.addr}/metrics`)).text();
  assert.match(m, /ticker_handshakes_refused_total\{reason="token"\} (?:[2-9]|[1-9]\d+)\n/);
});

test(`"auto" with a refused token: no fallback to the stream, the 401 reported on every attempt`, async (t) => {
  const tokens = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ticker-js-")), "tokens");
  fs.writeFileSync(tokens, "s3cret-token\n");
  const srv = await server(t, ["--auth-tokens", tokens]);
  const proxy = await noUpgradeProxy(t, srv.addr);
  // straight to the server (the handshake refused with 401), and behind a
  // proxy that refuses every upgrade (the probe alone says 401)
  for (const url of [srv.url, proxy.url]) {
    const statuses = [], asked = [];
    const c = new Client({
      url, transport: "auto", symbols: ["AAPL"], token: "wrong", WebSocket: WS, minBackoff: 10, maxBackoff: 40,
      onStatus: (s) => statuses.push(s), retry: (info) => { asked.push(info); return asked.length < FALLBACK_AFTER + 2; },
    });
    c.start();
    await until(() => !c.running, 15000, "the client to give up");
    assert.equal(c.transport, "ws", url);
    assert.ok(!statuses.some((s) => s.kind === "fallback" || s.transport === "sse"), JSON.stringify(statuses));
    assert.equal(asked.length, FALLBACK_AFTER + 2);
    assert.ok(asked.every((i) => i.transport === "ws" && i.httpStatus === 401 && /HTTP 401/.test(i.reason)), JSON.stringify(asked));
  }
  assert.equal(proxy.seen.probes, FALLBACK_AFTER + 2); // each probe carried the token: /stream refused it
  assert.equal(proxy.seen.streams, 0);
});

test("a token on the stream: ?token=, a refusal reported with its HTTP status", async (t) => {
  const tokens = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ticker-js-")), "tokens");
  fs.writeFileSync(tokens, "s3cret-token\n");
  const srv = await server(t, ["--auth-tokens", tokens]);
  for (const token of ["", "wrong"]) {
    const statuses = [], asked = [];
    const c = new Client({ url: srv.url, transport: "sse", symbols: ["AAPL"], token, onStatus: (s) => statuses.push(s), retry: (info) => { asked.push(info); return false; } });
    c.start();
    await until(() => !c.running, 10000, "the client to give up");
    assert.deepEqual(asked.map((i) => [i.transport, i.httpStatus, i.opened]), [["sse", 401, false]]);
    assert.match(asked[0].reason, /HTTP 401/);
    assert.deepEqual(statuses.map((s) => [s.kind, s.httpStatus]), [["connecting", undefined], ["closed", 401]]);
  }
  const tap = tappedFetch();
  const statuses = [];
  const c = new Client({ url: srv.url, transport: "sse", symbols: ["AAPL"], token: "s3cret-token", fetch: tap.fetch, onStatus: (s) => statuses.push(s) });
  let u;
  for await (u of c) break;
  assert.equal(u.symbol, "AAPL");
  assert.equal(tap.requests[0].token, "s3cret-token"); // sent as ?token=, like the WebSocket's
  assert.equal(statuses[0].url.includes("s3cret"), false); // and kept out of what is reported
  const m = await (await fetch(`http://${srv.addr}/metrics`)).text();
  assert.match(m, /ticker_handshakes_refused_total\{reason="token"\} 2\n/);
});

for (const transport of ["ws", "sse"]) test(`the server restarts: reconnect with backoff, resubscribe, a new epoch drops the book (transport ${transport})`, async (t) => {
  const srv = await server(t, ["--feed", "synthetic:?symbols=5&rate=50"]);
  // quotes first, so that the subscribe is answered by snapshots (a server
  // without quotes yet sends each symbol's first version as an update, seq 1)
  for (const end = Date.now() + 10000; (await restQuotes(srv.addr)).size < 5;) {
    if (Date.now() > end) throw new Error("the server has no quotes");
    await sleep(20);
  }
  const events = [];
  let c = null;
  const bookAtNewEpoch = [];
  c = new Client({
    url: srv.url, symbols: ["AAPL", "BTC-USD"], WebSocket: WS, transport, minBackoff: 50, maxBackoff: 400,
    onStatus: (s) => {
      events.push(s);
      if (s.kind === "new-epoch") bookAtNewEpoch.push(c.book().size);
    },
    onUpdate: (u) => { if (u.snapshot) events.push({ kind: "snapshot", symbol: u.symbol }); },
  });
  c.start();
  await until(() => c.quote("AAPL") && c.quote("BTC-USD"), 10000, "both snapshots");
  const firstEpoch = c.epoch;
  const kinds = () => events.map((e) => e.kind);
  await srv.stop();
  await until(() => kinds().includes("closed"), 10000, "the disconnect");
  const down = events.find((e) => e.kind === "closed");
  assert.equal(down.code, 1001); // the server's shutdown (on the stream, its ": closed 1001 …" comment)
  assert.equal(down.transport, transport);
  assert.ok(down.opened && down.delivered);
  await sleep(300); // a few refused redials
  await srv.start(); // the same address
  await until(() => kinds().includes("new-epoch"), 15000, "the new epoch");
  await until(() => c.book().size === 2, 10000, "both symbols again");
  assert.notEqual(c.epoch, firstEpoch);
  await c.close();
  const k = kinds();
  assert.deepEqual(k.slice(0, 4), ["connecting", "open", "snapshot", "snapshot"], JSON.stringify(events.slice(0, 6)));
  const closed = events.filter((e) => e.kind === "closed" && e.wait !== null);
  assert.ok(closed.length >= 2, JSON.stringify(closed));
  assert.ok(closed.every((e) => e.wait >= 0 && e.wait <= 400), JSON.stringify(closed));
  const i = k.indexOf("new-epoch");
  assert.equal(k[i - 1], "open");
  assert.deepEqual(bookAtNewEpoch, [0]); // dropped before the new stream's quotes
  const ne = events[i];
  assert.equal(ne.previous, firstEpoch);
  assert.equal(ne.epoch, c.epoch);
  const redials = events.filter((e) => e.kind === "connecting").map((e) => e.attempt);
  assert.deepEqual(redials, redials.map((_, j) => j)); // 0, then 1, 2, … until one delivers
});

for (const transport of ["ws", "sse"]) test(`a server that goes silent is given up after idleTimeout, and redialled (transport ${transport})`, async (t) => {
  const srv = await server(t, ["--feed", "synthetic:?symbols=5&rate=50"]);
  const events = [];
  const c = new Client({ url: srv.url, symbols: ["AAPL"], WebSocket: WS, transport, pingInterval: 300, idleTimeout: 1200, minBackoff: 50, maxBackoff: 200, onStatus: (s) => events.push(s) });
  c.start();
  await until(() => c.quote("AAPL"), 10000, "AAPL");
  srv.proc.kill("SIGSTOP"); // alive, its socket open, and silent
  try {
    await until(() => events.some((e) => e.kind === "closed"), 5000, "the idle close");
  } finally {
    srv.proc.kill("SIGCONT");
  }
  const closed = events.find((e) => e.kind === "closed");
  assert.equal(closed.code, 4000);
  assert.match(closed.reason, /nothing from the server for \d+ ms/);
  const opens = () => events.filter((e) => e.kind === "open").length;
  await until(() => opens() === 2, 10000, "the redial");
  await c.close();
});

test("examples/spread-alert.mjs prints a WIDE line for every symbol it follows", async () => {
  const addr = need("TICKER_ADDR");
  const example = new URL("../examples/spread-alert.mjs", import.meta.url).pathname;
  const symbols = ["AAPL", "NVDA", "SOL-USD"];
  const p = spawn(process.execPath, [...process.execArgv, example, "--url", `ws://${addr}/ws`, "--symbols", symbols.join(","), "--bps", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  p.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((r) => p.on("exit", (code) => r(code)));
  if (typeof globalThis.WebSocket !== "function") { // a node without a WebSocket: the example says so
    assert.equal(await exited, 2);
    assert.match(stderr, /this node has no WebSocket/);
    return;
  }
  const fired = new Set(), lines = [];
  const timer = setTimeout(() => p.kill(), 30000);
  for await (const line of readline.createInterface({ input: p.stdout })) {
    lines.push(line);
    if (/: WIDE$/.test(line)) fired.add(line.split(/\s+/)[1]);
    if (fired.size === symbols.length) break;
  }
  clearTimeout(timer);
  p.kill("SIGTERM");
  await exited;
  assert.deepEqual([...fired].sort(), symbols, `alerts ${lines.join("\n")}\nstderr: ${stderr}`);
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} \S+ +spread [0-9.]+ \([0-9]+\.[0-9]{4} bps\) bid [0-9.]+ ask [0-9.]+ seq \d+: WIDE$/);
});

test("examples/spread-alert.mjs: --help lists its flags and defaults; a refused token is named", async (t) => {
  const example = new URL("../examples/spread-alert.mjs", import.meta.url).pathname;
  const run = (args, until) => new Promise((resolve) => {
    const p = spawn(process.execPath, [...process.execArgv, example, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TICKER_TOKEN: "" } });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; if (until && until.test(stderr)) p.kill("SIGTERM"); });
    const timer = setTimeout(() => p.kill(), 20000);
    p.on("exit", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
  for (const flag of ["--help", "-h"]) {
    const h = await run([flag]);
    assert.equal(h.code, 0, h.stderr);
    for (const want of [/--url URL .*default ws:\/\/localhost:8080\/ws/, /--token TOKEN/, /\$TICKER_TOKEN/, /--symbols LIST .*default AAPL,NVDA,SOL-USD/, /--bps N .*default 1\)/]) {
      assert.match(h.stdout, want);
    }
  }
  const bad = await run(["--bogus"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--bogus'[\s\S]*usage: spread-alert/);
  if (typeof globalThis.WebSocket !== "function") return; // the example needs one (tested above)
  const tokens = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ticker-js-")), "tokens");
  fs.writeFileSync(tokens, "s3cret-token\n");
  const srv = await server(t, ["--auth-tokens", tokens]);
  const none = await run(["--url", srv.url], /HTTP 401/);
  assert.match(none.stderr, /spread-alert: the server needs a token \(HTTP 401\): pass --token or set \$TICKER_TOKEN/);
  const wrong = await run(["--url", srv.url, "--token", "wrong"], /HTTP 401/);
  assert.match(wrong.stderr, /spread-alert: the server refused the token \(HTTP 401\)/);
  const down = await run(["--url", `ws://${await freeAddr()}/ws`], /no connection after/);
  assert.match(down.stderr, /spread-alert: no connection after 3 tries: is a ticker server running at ws:\/\/127\.0\.0\.1:\d+\/ws\? \(--url\)/);
});
