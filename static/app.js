// ticker dashboard: subscribes to every symbol over ticker.v1 and keeps a
// watchlist and a live chart. Exposes window.__ticker for the browser test.
//
// The connection is ticker.js's (the JavaScript client, also served to
// other pages at /ticker.js): it connects, reconnects with backoff and
// jitter, resubscribes, repairs seq gaps, handles epochs and keeps the book,
// and it falls back to /stream (Server-Sent Events) when the WebSocket
// cannot connect (transport "auto"). This page only draws what it reports.
//
// The render budget: messages only fold into the state (a map of the latest
// quote per symbol) and mark symbols dirty; the DOM is touched once per
// animation frame at most, only for the rows on screen and only in the cells
// whose text changed; the chart moves at most four times a second. However
// fast updates come, nothing queues behind the page: intermediate states
// that no frame showed are simply never drawn.
import { Client, TRANSPORTS, compareDecimal, subtractDecimal } from "./ticker.js";

(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // With --auth-tokens the page is opened as /?token=…; the token goes on to
  // /ws and /api the same way (a browser cannot set headers on a WebSocket).
  const pageToken = new URLSearchParams(location.search).get("token");
  // /?transport=sse forces the stream (and ws the WebSocket only); by
  // default "auto": the WebSocket, and the stream when it cannot connect
  const asked = new URLSearchParams(location.search).get("transport");
  const transport = TRANSPORTS.includes(asked) && !(asked === "ws" && typeof WebSocket !== "function") ? asked : "auto";
  if (asked !== null && asked !== transport) console.warn("ticker: ?transport=" + asked + ": want one of " + TRANSPORTS.join(", ") + "; using auto");
  const withToken = (path, params) => {
    const q = new URLSearchParams(params || {});
    if (pageToken) q.set("token", pageToken);
    const s = q.toString();
    return path + (s ? "?" + s : "");
  };
  const quotes = new Map();   // symbol -> entry (see ensureRow)
  const dirty = new Set();    // symbols whose state changed since their row was drawn
  let selected = null;
  let client = null, retryAt = 0, closeCode = 0;
  let latencySum = 0, latencyN = 0, latencyShown = null, updatesInSecond = 0, totalUpdates = 0;
  let frames = 0, chartUpdates = 0, historyBars = 0, historyFirst = 0;
  let epochs = 0; // how many new stream epochs were seen
  const status = { state: "connecting", connects: 0, snapshots: 0 };
  // preferences, kept in localStorage: the watchlist (null: every symbol)
  // and the chart kind ("line" or "candles")
  const store = {
    get(k, d) { try { const v = localStorage.getItem(k); return v === null ? d : JSON.parse(v); } catch (_) { return d; } },
    set(k, v) { try { if (v === null) localStorage.removeItem(k); else localStorage.setItem(k, JSON.stringify(v)); } catch (_) {} },
  };
  let watch = store.get("ticker.watchlist", null);
  if (watch !== null && !Array.isArray(watch)) watch = null;
  let chartKind = store.get("ticker.chart", "line") === "candles" ? "candles" : "line";
  let allSymbols = [];

  // --- formatting ---
  function decimals(s) { const i = s ? s.indexOf(".") : -1; return i < 0 ? 0 : s.length - i - 1; }
  function mid(q) {
    const d = Math.max(decimals(q.bid), decimals(q.ask)) + 1;
    return ((Number(q.bid) + Number(q.ask)) / 2).toFixed(d);
  }
  // the chart's price of a quote: its last trade, or its mid until it trades
  function price(q) { return q.last !== undefined ? q.last : (q.bid !== undefined && q.ask !== undefined ? mid(q) : undefined); }
  // pad an exact decimal string with zeros to d places (display only; the
  // server trims trailing zeros)
  function pad(s, d) {
    if (s === undefined || s === "") return "";
    const f = decimals(s);
    if (f >= d) return s;
    return (f === 0 ? s + "." : s) + "0".repeat(d - f);
  }
  function signed(n, d) {
    const t = n.toFixed(d);
    if (Number(t) === 0) return (0).toFixed(d);
    return (n > 0 ? "+" : "") + t;
  }
  // one format for every volume: compact (6.29M, 2.5K, 130, 5.64); the
  // exact value is the cell's title
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
  function fmtVol(v) { return v === undefined ? "" : compact.format(Number(v)); }

  // --- chart ---
  const chart = LightweightCharts.createChart($("chart"), {
    autoSize: true,
    // the attribution is a line under the chart (.attribution), not a logo over the data
    layout: { background: { color: "#0d1117" }, textColor: "#8b949e", fontSize: 12, attributionLogo: false },
    grid: { vertLines: { color: "#1c222b" }, horzLines: { color: "#1c222b" } },
    rightPriceScale: { borderColor: "#2a313c", scaleMargins: { top: 0.1, bottom: 0.1 } },
    timeScale: { borderColor: "#2a313c", timeVisible: true, secondsVisible: true, rightOffset: 6, fixLeftEdge: true },
    crosshair: { mode: 0 },
  });
  let series = null;
  function makeSeries() {
    if (series) chart.removeSeries(series);
    series = chartKind === "candles"
      ? chart.addSeries(LightweightCharts.CandlestickSeries, {
          upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350" })
      : chart.addSeries(LightweightCharts.AreaSeries, {
          lineColor: "#58a6ff", topColor: "rgba(88,166,255,.35)", bottomColor: "rgba(88,166,255,0)", lineWidth: 2 });
    $("chart-kind").textContent = chartKind === "candles" ? "Line" : "Candles";
    $("chart-kind").title = "Show the chart as " + (chartKind === "candles" ? "a line" : "1-second candles");
  }
  // a point of the series from a 1-second bar {time, open, high, low, close}
  function point(b) { return chartKind === "candles" ? b : { time: b.time, value: b.close }; }
  makeSeries();
  let chartDirty = false, chartFit = false;

  // fold one price at event time ts (µs) into the entry's 1-second bars
  function addToBars(e, p, ts) {
    const t = Math.floor(ts / 1e6), v = Number(p);
    const last = e.hist[e.hist.length - 1];
    if (last && t <= last.time) {
      last.high = Math.max(last.high, v); last.low = Math.min(last.low, v); last.close = v;
    } else {
      e.hist.push({ time: t, open: v, high: v, low: v, close: v });
      if (e.hist.length > 1800) e.hist.splice(0, e.hist.length - 900);
    }
    if (e.base === null) e.base = e.hist[0].open;
    if (e.sym === selected) chartDirty = true;
  }

  // the server's history of sym (GET /api/bars), merged under what arrived live
  function loadHistory(sym) {
    const e = quotes.get(sym);
    if (!e || e.historyLoading) return;
    e.historyLoading = true;
    fetch(withToken("/api/bars/" + encodeURIComponent(sym), { interval: "1s", limit: 900 }))
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((j) => {
        const old = (j.bars || []).map((b) => ({ time: b.time, open: Number(b.open), high: Number(b.high), low: Number(b.low), close: Number(b.close) }));
        const lastOld = old.length ? old[old.length - 1].time : -Infinity;
        const live = e.hist.filter((b) => b.time >= lastOld);
        if (live.length && live[0].time === lastOld) {
          const o = old[old.length - 1], l = live.shift();
          o.high = Math.max(o.high, l.high); o.low = Math.min(o.low, l.low); o.close = l.close;
        }
        e.hist = old.concat(live);
        e.history = true;
        if (e.hist.length) e.base = e.hist[0].open;
        if (sym === selected) {
          historyBars = old.length; historyFirst = old.length ? old[0].time : 0;
          series.setData(e.hist.map(point));
          chart.timeScale().fitContent();
          chartFit = true;
        }
        markDirty(sym);
      })
      .catch(() => { e.historyLoading = false; })
      .finally(() => { if (!e.history) e.historyLoading = false; });
  }

  // --- rows ---
  const visible = new Set(); // rows on screen (IntersectionObserver)
  const observer = new IntersectionObserver((entries) => {
    for (const en of entries) {
      const sym = en.target.dataset.symbol;
      if (en.isIntersecting) { visible.add(sym); markDirty(sym); } else visible.delete(sym);
    }
  }, { root: document.querySelector(".watchlist") });

  function ensureRow(sym) {
    let e = quotes.get(sym);
    if (e) return e;
    const tr = document.createElement("tr");
    tr.dataset.symbol = sym;
    const cells = {};
    for (const k of ["sym", "bid", "ask", "last", "chg", "pct", "vol"]) {
      const td = document.createElement("td");
      td.className = k === "sym" ? "sym" : "num" + (k === "vol" ? " hide-narrow" : k === "chg" ? " hide-mid" : "");
      td.appendChild(document.createTextNode("")); // its text changes in place (nodeValue), no new node per change
      tr.appendChild(td); cells[k] = td;
    }
    cells.sym.firstChild.nodeValue = sym;
    const rm = document.createElement("button");
    rm.className = "rm";
    rm.textContent = "×";
    rm.title = "Remove " + sym + " from the watchlist";
    rm.addEventListener("click", (ev) => { ev.stopPropagation(); removeSymbol(sym); });
    cells.sym.appendChild(rm);
    tr.addEventListener("click", () => select(sym));
    // q: the latest full quote; shown: the text each cell shows; hist: 1-second bars
    e = { sym, q: null, base: null, row: tr, cells, shown: {}, hist: [], dec: 0, history: false, historyLoading: false };
    quotes.set(sym, e);
    // keep rows sorted by symbol
    const rows = $("rows");
    const after = [...rows.children].find((r) => r.dataset.symbol > sym);
    rows.insertBefore(tr, after || null);
    visible.add(sym); // drawn at first; the observer soon says whether it is on screen
    observer.observe(tr);
    $("count").textContent = quotes.size;
    filterOne(e);
    if (!selected) select(sym);
    return e;
  }

  function markDirty(sym) {
    dirty.add(sym);
    schedule();
  }
  // the DOM is drawn in an animation frame, at most ten times a second:
  // plenty for a reader, and half the work of following every 50 ms window
  const minFlushMs = 100;
  let scheduled = false, lastFlush = -Infinity;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    const wait = lastFlush + minFlushMs - performance.now();
    if (wait > 4) setTimeout(() => requestAnimationFrame(flush), wait);
    else requestAnimationFrame(flush);
  }

  // flashes: a class on the cell until its time is up
  const flashing = new Map(); // td -> expiry (ms)
  function flash(td, dir, now) {
    td.classList.toggle("up", dir > 0);
    td.classList.toggle("down", dir < 0);
    flashing.set(td, now + 450);
  }
  function unflash(now) {
    for (const [td, until] of flashing) {
      if (until <= now) { td.classList.remove("up", "down"); flashing.delete(td); }
    }
    if (flashing.size && !unflashTimer) unflashTimer = setTimeout(() => { unflashTimer = 0; schedule(); }, 150);
  }
  let unflashTimer = 0, chartTimer = 0;

  function setCell(e, k, text, now, cls) {
    const sh = e.shown;
    if (sh[k] === text) return;
    const prev = sh[k];
    sh[k] = text;
    const td = e.cells[k];
    td.firstChild.nodeValue = text;
    if (cls !== undefined && td.className !== cls) td.className = cls;
    if (prev !== undefined && prev !== "" && text !== "" && (k === "bid" || k === "ask" || k === "last")) {
      const dir = compareDecimal(text, prev);
      if (dir !== 0) flash(td, dir, now);
    }
  }

  // stale: the symbol's feed is down (q.stale from a snapshot, or from the
  // delta that changed it); the row is greyed, its values the last known
  function renderStale(e) {
    const stale = e.q.stale === true;
    if (e.row.classList.contains("stale") === stale) return;
    e.row.classList.toggle("stale", stale);
    e.row.title = stale ? "feed down: last known values" : "";
  }

  function renderRow(e, now) {
    const q = e.q;
    if (!q) return;
    renderStale(e);
    e.dec = Math.max(e.dec, decimals(q.bid), decimals(q.ask), decimals(q.last));
    setCell(e, "bid", pad(q.bid, e.dec), now);
    setCell(e, "ask", pad(q.ask, e.dec), now);
    setCell(e, "last", pad(q.last, e.dec), now);
    const p = price(q);
    if (p !== undefined && e.base !== null) {
      const d = Number(p) - e.base;
      const cls = d > 0 ? "num pos" : d < 0 ? "num neg" : "num";
      setCell(e, "chg", signed(d, Math.max(e.dec, 2)), now, cls + " hide-mid");
      setCell(e, "pct", e.base ? signed(100 * d / e.base, 2) + "%" : "", now, cls);
    }
    const vol = fmtVol(q.volume);
    if (e.shown.vol !== vol) { setCell(e, "vol", vol, now); e.cells.vol.title = q.volume === undefined ? "" : q.volume; }
    else if (q.volume !== undefined && e.shown.volExact !== q.volume) { e.cells.vol.title = q.volume; }
    e.shown.volExact = q.volume;
  }

  let lastDetail = "";
  function renderDetail(e) {
    const q = e.q || {};
    const sp = q.bid !== undefined && q.ask !== undefined
      ? pad(subtractDecimal(q.ask, q.bid), Math.max(decimals(q.bid), decimals(q.ask))) : "–";
    const vals = [
      q.bid !== undefined ? pad(q.bid, e.dec) : "–", q.ask !== undefined ? pad(q.ask, e.dec) : "–",
      q.bid_size ? "× " + q.bid_size : "", q.ask_size ? "× " + q.ask_size : "",
      q.last !== undefined ? pad(q.last, e.dec) : "–", q.last_size ? "× " + q.last_size : "",
      q.seq ?? "–", sp, fmtVol(q.volume) || "–",
    ];
    const key = vals.join("|");
    if (key === lastDetail) return;
    lastDetail = key;
    ["sel-bid", "sel-ask", "sel-bid-size", "sel-ask-size", "sel-last", "sel-last-size", "sel-seq", "sel-spread", "sel-vol"]
      .forEach((id, i) => { const el = $(id); if (el.textContent !== String(vals[i])) el.textContent = vals[i]; });
    $("sel-vol").title = q.volume || "";
  }

  // once per animation frame at most: the dirty rows on screen, the
  // selected symbol's quote line; the chart at most every 250 ms
  let lastChart = 0;
  function flush() {
    scheduled = false;
    frames++;
    const t = performance.now();
    lastFlush = t;
    for (const sym of dirty) {
      if (!visible.has(sym)) continue; // drawn when it scrolls into view
      const e = quotes.get(sym);
      dirty.delete(sym);
      if (e && !e.row.hidden) renderRow(e, t);
    }
    const e = selected && quotes.get(selected);
    if (e && e.q) renderDetail(e);
    if (chartDirty) {
      if (t - lastChart >= 250) {
        lastChart = t;
        chartDirty = false;
        const b = e && e.hist[e.hist.length - 1];
        if (b) { series.update(point(b)); chartUpdates++; }
      } else if (!chartTimer) chartTimer = setTimeout(() => { chartTimer = 0; schedule(); }, 250 - (t - lastChart));
    }
    unflash(t);
  }

  function select(sym) {
    const e = quotes.get(sym);
    if (!e) return;
    if (selected && quotes.get(selected)) quotes.get(selected).row.classList.remove("selected");
    selected = sym;
    e.row.classList.add("selected");
    $("sel-symbol").textContent = sym;
    lastDetail = "";
    series.setData(e.hist.map(point));
    chart.timeScale().fitContent();
    historyBars = 0; historyFirst = 0;
    if (!e.history) loadHistory(sym);
    else { historyBars = e.hist.length; historyFirst = e.hist.length ? e.hist[0].time : 0; }
    if (e.q) renderDetail(e);
  }

  // --- protocol: ticker.js's client reports, the page draws ---

  // a trade changed: last, last_size or volume is in the delta
  const traded = (d) => d.last !== undefined || d.last_size !== undefined || d.volume !== undefined;

  // one symbol's quote changed: a snapshot (subscribe, resync, gap repair) or an update
  function applyQuote(u) {
    const e = ensureRow(u.symbol);
    const q = u.quote, d = u.delta;
    e.q = q;
    // the chart's bars follow trades, or the mid of a symbol that never traded
    if (u.snapshot || traded(d) || (q.last === undefined && (d.bid !== undefined || d.ask !== undefined))) {
      const p = price(q);
      if (p !== undefined) addToBars(e, p, q.ts);
    }
    markDirty(u.symbol);
  }

  function setStatus(state, text) {
    status.state = state;
    const el = $("status");
    if (el.className !== "pill " + state) el.className = "pill " + state;
    if (el.textContent !== text) el.textContent = text;
  }

  // on the stream, the status says so: "SSE" when asked for, "SSE fallback" when "auto" fell back
  const onStream = () => client !== null && client.transport === "sse";
  const streamNote = () => (transport === "sse" ? "SSE" : "SSE fallback");

  function onStatus(s) {
    if (s.kind === "connecting") {
      if (s.reopen) return; // the stream reopened for the watchlist or a gap: still live
      retryAt = 0;
      setStatus("connecting", (s.attempt ? "reconnecting…" : "connecting…") + (s.transport === "sse" ? " (" + streamNote() + ")" : ""));
    } else if (s.kind === "open") {
      status.connects++;
      loadSymbols();
      // "live" waits for the first snapshot (or first quote, when none is due)
    } else if (s.kind === "closed") {
      if (s.reopen) return;
      closeCode = s.code;
      if (s.wait !== null) { retryAt = Date.now() + s.wait; showRetry(); } // else: stopped for a token
    } else if (s.kind === "new-epoch") {
      // a new stream: its seqs start again, so every quote held is dropped
      epochs++;
      for (const e of quotes.values()) e.q = null;
    }
  }

  function onMessage(m) {
    const arrived = Date.now();
    if (m.time) { latencySum += arrived - m.time / 1000; latencyN++; }
    if (m.type === "snapshot") { status.snapshots++; goLive(); }
    else if (m.type === "update") { updatesInSecond++; totalUpdates++; goLive(); }
  }
  function goLive() { if (status.state !== "live") setStatus("live", onStream() ? "live · " + streamNote() : "live"); }

  function connect() {
    client = new Client({
      // "auto" (unless ?transport= says otherwise): the WebSocket, or /stream
      // after three WebSocket attempts that never opened while the server
      // answered HTTP (a proxy that refuses the upgrade), or at once in a
      // browser without WebSocket; for good
      url: "/ws", transport, token: pageToken || "", symbols: watch === null ? ["*"] : watch,
      onUpdate: applyQuote, onStatus, onMessage,
      onError: (e) => console.warn("ticker:", e.code, e.message, e.symbols),
      // a refused handshake looks the same as a dead server to a page
      // (1006); /api/symbols needs the same token and says 401 plainly (a
      // refused stream says its status itself)
      retry: (c) => c.opened || (c.httpStatus ? c.httpStatus !== 401 || stopForToken() : probeToken().then((needs) => !needs || stopForToken())),
    });
    client.start();
  }

  function showRetry() {
    if (!retryAt) return;
    const left = Math.max(0, (retryAt - Date.now()) / 1000);
    setStatus("down", "offline · retry in " + left.toFixed(left < 10 ? 1 : 0) + "s" + (closeCode ? " (" + closeCode + ")" : ""));
  }
  setInterval(showRetry, 200); // the countdown counts

  function stopForToken() { askToken(); return false; }
  function probeToken() {
    return fetch(withToken("/api/symbols")).then((r) => r.status === 401, () => false);
  }
  function askToken() {
    setStatus("token", "token needed");
    const p = $("token-prompt");
    $("token-text").innerHTML = pageToken
      ? "This server does not accept that token: open <code>/?token=…</code> with a valid one"
      : "This server needs a token: open <code>/?token=…</code>";
    p.hidden = false;
    $("token-input").focus();
  }
  $("token-prompt").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("token-input").value.trim();
    if (!v) return;
    const u = new URL(location.href);
    u.searchParams.set("token", v);
    location.assign(u.toString());
  });

  setInterval(() => {
    if (latencyN) latencyShown = latencySum / latencyN;
    latencySum = 0; latencyN = 0;
    const r = String(updatesInSecond);
    if ($("rate").textContent !== r) $("rate").textContent = r;
    updatesInSecond = 0;
    const l = latencyShown === null ? "–" : Math.max(0, latencyShown).toFixed(0) + " ms";
    if ($("latency").textContent !== l) $("latency").textContent = l;
  }, 1000);

  // --- watchlist ---
  function saveWatch() {
    store.set("ticker.watchlist", watch);
    $("show-all").hidden = watch === null;
  }
  function dropRow(sym) {
    const e = quotes.get(sym);
    if (!e) return;
    observer.unobserve(e.row);
    visible.delete(sym); dirty.delete(sym);
    e.row.remove();
    quotes.delete(sym);
    $("count").textContent = quotes.size;
    if (selected === sym) {
      selected = null;
      const next = [...quotes.keys()].sort()[0];
      if (next) select(next); else { series.setData([]); $("sel-symbol").textContent = "–"; }
    }
  }
  function removeSymbol(sym) {
    if (watch === null) {
      // from "every symbol" to an explicit list: all there is, less this one
      watch = [...new Set([...allSymbols, ...quotes.keys()])].filter((s) => s !== sym).sort();
      client.unsubscribe(...client.symbols); // "*", and what "Show all" was added to
      client.subscribe(...watch);
    } else {
      watch = watch.filter((s) => s !== sym);
      client.unsubscribe(sym);
    }
    saveWatch();
    dropRow(sym);
  }
  function addSymbol(sym) {
    if (!allSymbols.includes(sym)) return false;
    if (watch !== null && !watch.includes(sym)) {
      watch = [...watch, sym].sort();
      saveWatch();
      client.subscribe(sym);
    }
    ensureRow(sym);
    select(sym);
    return true;
  }
  function showAll() {
    watch = null;
    saveWatch();
    client.subscribe("*");
    for (const s of allSymbols) ensureRow(s);
  }
  function loadSymbols() {
    fetch(withToken("/api/symbols")).then((r) => r.json()).then((j) => {
      allSymbols = j.symbols || [];
      const list = $("all-symbols");
      list.textContent = "";
      for (const s of allSymbols) { const o = document.createElement("option"); o.value = s; list.appendChild(o); }
      for (const s of (watch === null ? allSymbols : watch.filter((x) => allSymbols.includes(x)))) ensureRow(s);
    }).catch(() => {});
  }

  // --- search: filters the rows; Enter adds or selects the symbol typed ---
  function filterOne(e) {
    const f = $("search").value.trim().toUpperCase();
    const hide = f !== "" && !e.sym.toUpperCase().includes(f);
    if (e.row.hidden !== hide) e.row.hidden = hide;
    if (!hide) markDirty(e.sym);
  }
  function filterRows() { for (const e of quotes.values()) filterOne(e); }
  $("search").addEventListener("input", filterRows);
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const v = $("search").value.trim();
    const sym = allSymbols.find((s) => s.toUpperCase() === v.toUpperCase());
    if (sym && addSymbol(sym)) { $("search").value = ""; filterRows(); }
  });
  $("show-all").addEventListener("click", showAll);
  $("show-all").hidden = watch === null;
  $("chart-kind").addEventListener("click", () => {
    chartKind = chartKind === "candles" ? "line" : "candles";
    store.set("ticker.chart", chartKind);
    makeSeries();
    const e = selected && quotes.get(selected);
    series.setData(e ? e.hist.map(point) : []);
    chart.timeScale().fitContent();
  });

  connect();

  const rect = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  window.__ticker = {
    rows: () => [...quotes.values()].filter((e) => e.q && e.q.seq > 0).length,
    chartPoints: () => chartUpdates,
    chartLength: () => (selected && quotes.get(selected) ? quotes.get(selected).hist.length : 0),
    historyBars: () => historyBars,     // bars the server gave the selected symbol's chart
    historyFirst: () => historyFirst,   // the first one's time, Unix seconds
    frames: () => frames,               // animation frames that drew something
    latency: () => $("latency").textContent,
    updates: () => totalUpdates,
    status: () => status.state,
    statusText: () => $("status").textContent,
    connects: () => status.connects,
    transport: () => (client ? client.transport : "none"), // "ws", or "sse" on the fallback
    gaps: () => client.gaps,
    epoch: () => client.epoch,
    epochs: () => epochs,
    client: () => client, // the test checks it is ticker.js's Client
    staleRows: () => [...document.querySelectorAll("#rows tr.stale")].map((r) => r.dataset.symbol).sort(),
    selected: () => selected,
    visibleRows: () => [...quotes.values()].filter((e) => !e.row.hidden).length,
    symbols: () => [...quotes.keys()].sort(),
    watchlist: () => watch,
    chartKind: () => chartKind,
    panes: () => ({ header: rect("header"), watchlist: rect(".watchlist"), detail: rect(".detail"), chart: rect("#chart") }),
  };
})();
