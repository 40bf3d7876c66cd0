#!/usr/bin/env node
// spread-alert: an example trading bot on ticker.js. It follows a few
// symbols and prints a line whenever a symbol's bid-ask spread widens past
// a threshold (in basis points of the mid price), and when it narrows
// again: the same bot as examples/spread-alert (Go) and
// clients/python/examples/spread_alert.py, on the async iterator, with the
// spread compared exactly (compareDecimal on spreadBps's decimal string).
//
//   go run . &                      # the server, in the repository root
//   node --experimental-websocket clients/javascript/examples/spread-alert.mjs --symbols AAPL,NVDA,SOL-USD --bps 1
//   (node 22 and later need no flag; --help lists the flags: --url, --token, --symbols, --bps)

import { parseArgs } from "node:util";

import { Client, addDecimal, compareDecimal, isDecimal, spreadBps, subtractDecimal } from "../../../static/ticker.js";

const usage = `usage: spread-alert.mjs [flags]

Follows symbols on a ticker server and prints a line when a symbol's
bid-ask spread widens past --bps basis points of the mid, and when it
narrows again. Each line starts with the quote's own time (its ts, UTC),
not the time it printed, so two symbols' lines may show times out of
order. Connection news goes to stderr.

  --url URL        the server's WebSocket endpoint (default ws://localhost:8080/ws)
  --token TOKEN    the token, for a server run with --auth-tokens or --jwt-keys
                   (default: $TICKER_TOKEN, else none)
  --symbols LIST   comma-separated symbols, or "*" for every one (default AAPL,NVDA,SOL-USD)
  --bps N          the threshold, a positive decimal (default 1)
  -h, --help       this text

Needs a WebSocket: node 22, or node 20.10+ with --experimental-websocket.
`;

// hintAfter: after this many failed connections in a row with no status
// to go by, say what to check
const hintAfter = 3;

function main() {
  let a;
  try {
    a = parseArgs({
      options: {
        url: { type: "string", default: "ws://localhost:8080/ws" },
        token: { type: "string", default: process.env.TICKER_TOKEN || "" },
        symbols: { type: "string", default: "AAPL,NVDA,SOL-USD" },
        bps: { type: "string", default: "1" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    console.error(`spread-alert: ${err.message}\n\n${usage}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (!isDecimal(a.bps) || compareDecimal(a.bps, "0") <= 0) {
    console.error(`spread-alert: --bps ${JSON.stringify(a.bps)}: want a positive decimal, such as 1 or 2.5`);
    return 2;
  }
  if (typeof globalThis.WebSocket !== "function") {
    console.error("spread-alert: this node has no WebSocket: use node 22, or node 20 with --experimental-websocket");
    return 2;
  }
  let failed = 0, hinted = false;
  const client = new Client({
    url: a.url, token: a.token, symbols: a.symbols.split(","),
    onStatus: (s) => {
      if (s.kind === "open") { console.error("connected"); failed = 0; hinted = false; }
      else if (s.kind === "closed" && s.wait !== null) {
        console.error(`disconnected (${s.code} ${s.reason}); retrying in ${(s.wait / 1000).toFixed(3)}s`);
        if (s.opened || hinted) return;
        // ticker.js reads a refused handshake's status where it can (httpStatus)
        if (s.httpStatus === 401) console.error(a.token ? "spread-alert: the server refused the token (HTTP 401): check --token or $TICKER_TOKEN" : "spread-alert: the server needs a token (HTTP 401): pass --token or set $TICKER_TOKEN");
        else if (s.httpStatus) console.error(`spread-alert: the server refused the connection (HTTP ${s.httpStatus})`);
        else if (++failed >= hintAfter) console.error(`spread-alert: no connection after ${failed} tries: is a ticker server running at ${a.url}? (--url)`);
        else return;
        hinted = true; // once, until a connection opens
      }
      else if (s.kind === "gap") console.error("seq gap; resyncing", s.symbols);
      else if (s.kind === "new-epoch") console.error(`the stream started again (epoch ${s.epoch}): book dropped`);
    },
    onError: (e) => console.error("server:", e.code, e.message, e.symbols),
  });
  process.on("SIGINT", () => client.close());
  process.on("SIGTERM", () => client.close());
  watch(client, a.bps);
  return 0;
}

async function watch(client, bps) {
  const wide = new Map();
  for await (const u of client) {
    const q = u.quote;
    if (q.bid === undefined || q.ask === undefined || compareDecimal(addDecimal(q.bid, q.ask), "0") <= 0) continue; // no mid
    const rel = spreadBps(q.bid, q.ask, 4);
    const isWide = compareDecimal(rel, bps) > 0;
    if (isWide === (wide.get(q.s) || false)) continue;
    wide.set(q.s, isWide);
    const t = new Date(q.ts / 1000).toISOString().slice(11, 23);
    console.log(`${t} ${q.s.padEnd(8)} spread ${subtractDecimal(q.ask, q.bid)} (${rel} bps) bid ${q.bid} ask ${q.ask} seq ${q.seq}: ${isWide ? "WIDE" : "narrow again"}`);
  }
}

process.exitCode = main();
