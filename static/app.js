// ticker dashboard: subscribes to every symbol over ticker.v1 and keeps a
// watchlist and a live chart. Exposes window.__ticker for the browser test.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // With --auth-tokens the page is opened as /?token=…; the token goes on to
  // /ws and /api the same way (a browser cannot set headers on a WebSocket).
  const pageToken = new URLSearchParams(location.search).get("token");
  const tokenQuery = pageToken ? "?token=" + encodeURIComponent(pageToken) : "";
  const quotes = new Map();   // symbol -> {q: full quote, base: first price seen, row, cells, hist: []}
  let selected = null;
  let ws = null, attempt = 0, reconnectTimer = null, nextId = 1;
  let latencyMs = null, updatesInSecond = 0, totalUpdates = 0, chartPoints = 0, gaps = 0;
  let epoch = 0, epochs = 0; // the stream's epoch (from snapshots) and how many new ones were seen
  const status = { state: "connecting", connects: 0 };
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

  // --- chart ---
  const chart = LightweightCharts.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "#0d1117" }, textColor: "#8b949e", fontSize: 12 },
    grid: { vertLines: { color: "#1c222b" }, horzLines: { color: "#1c222b" } },
    rightPriceScale: { borderColor: "#2a313c" },
    timeScale: { borderColor: "#2a313c", timeVisible: true, secondsVisible: true },
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

  function decimals(s) { const i = s ? s.indexOf(".") : -1; return i < 0 ? 0 : s.length - i - 1; }
  function price(q) { return q.last !== undefined ? q.last : (q.bid !== undefined && q.ask !== undefined ? mid(q) : q.bid); }
  function mid(q) {
    const d = Math.max(decimals(q.bid), decimals(q.ask)) + 1;
    return ((Number(q.bid) + Number(q.ask)) / 2).toFixed(d);
  }
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
  function fmtVol(v) {
    if (v === undefined) return "";
    const n = Number(v);
    if (n >= 1e9) return (n / 1e9).toFixed(2) + "B";
    if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "K";
    return v;
  }

  function ensureRow(sym) {
    let e = quotes.get(sym);
    if (e) return e;
    const tr = document.createElement("tr");
    tr.dataset.symbol = sym;
    const cells = {};
    for (const k of ["sym", "bid", "ask", "last", "chg", "pct", "vol"]) {
      const td = document.createElement("td");
      td.className = k === "sym" ? "sym" : "num" + (k === "vol" ? " hide-narrow" : k === "chg" ? " hide-phone" : "");
      tr.appendChild(td); cells[k] = td;
    }
    cells.sym.textContent = sym;
    const rm = document.createElement("button");
    rm.className = "rm";
    rm.textContent = "×";
    rm.title = "Remove " + sym + " from the watchlist";
    rm.addEventListener("click", (ev) => { ev.stopPropagation(); removeSymbol(sym); });
    cells.sym.appendChild(rm);
    tr.addEventListener("click", () => select(sym));
    e = { q: null, base: null, row: tr, cells, hist: [], dec: 0 };
    quotes.set(sym, e);
    // keep rows sorted by symbol
    const rows = $("rows");
    const after = [...rows.children].find((r) => r.dataset.symbol > sym);
    rows.insertBefore(tr, after || null);
    $("count").textContent = quotes.size;
    filterRows();
    if (!selected) select(sym);
    return e;
  }

  function flash(td, dir) {
    td.classList.remove("flash-up", "flash-down");
    void td.offsetWidth; // restart the animation
    td.classList.add(dir > 0 ? "flash-up" : "flash-down");
  }

  function setCell(td, text, prev) {
    if (td.textContent === text) return;
    const dir = prev !== undefined && prev !== "" && text !== "" ? Math.sign(Number(text) - Number(prev)) : 0;
    td.textContent = text;
    if (dir !== 0) flash(td, dir);
  }

  function render(sym, e, prev) {
    const q = e.q, c = e.cells;
    e.dec = Math.max(e.dec, decimals(q.bid), decimals(q.ask), decimals(q.last));
    setCell(c.bid, pad(q.bid, e.dec), prev && prev.bid);
    setCell(c.ask, pad(q.ask, e.dec), prev && prev.ask);
    setCell(c.last, pad(q.last, e.dec), prev && prev.last);
    const p = price(q);
    if (p !== undefined) {
      if (e.base === null) e.base = Number(p);
      const d = Number(p) - e.base;
      c.chg.textContent = signed(d, Math.max(e.dec, 2));
      c.pct.textContent = e.base ? signed(100 * d / e.base, 2) + "%" : "";
      const cls = d > 0 ? "num pos" : d < 0 ? "num neg" : "num";
      c.chg.className = cls + " hide-phone"; c.pct.className = cls;
      // one bar per second: open, high, low and close of that second
      const t = Math.floor(q.ts / 1e6);
      const v = Number(p);
      const last = e.hist[e.hist.length - 1];
      let bar;
      if (last && last.time === t) {
        bar = { time: t, open: last.open, high: Math.max(last.high, v), low: Math.min(last.low, v), close: v };
        e.hist[e.hist.length - 1] = bar;
      } else if (!last || t > last.time) {
        bar = { time: t, open: last ? last.close : v, high: v, low: v, close: v };
        bar.high = Math.max(bar.high, bar.open); bar.low = Math.min(bar.low, bar.open);
        e.hist.push(bar);
        if (e.hist.length > 3600) e.hist.shift();
      }
      if (bar && sym === selected) { series.update(point(bar)); chartPoints++; }
    }
    c.vol.textContent = fmtVol(q.volume);
    if (sym === selected) renderDetail(e);
  }

  function renderDetail(e) {
    const q = e.q || {};
    $("sel-bid").textContent = q.bid !== undefined ? pad(q.bid, e.dec) : "–";
    $("sel-ask").textContent = q.ask !== undefined ? pad(q.ask, e.dec) : "–";
    $("sel-bid-size").textContent = q.bid_size ? "× " + q.bid_size : "";
    $("sel-ask-size").textContent = q.ask_size ? "× " + q.ask_size : "";
    $("sel-last").textContent = q.last !== undefined ? pad(q.last, e.dec) : "–";
    $("sel-last-size").textContent = q.last_size ? "× " + q.last_size : "";
    $("sel-seq").textContent = q.seq ?? "–";
    if (q.bid !== undefined && q.ask !== undefined) {
      const d = Math.max(decimals(q.bid), decimals(q.ask));
      $("sel-spread").textContent = (Number(q.ask) - Number(q.bid)).toFixed(d);
    }
  }

  function select(sym) {
    const e = quotes.get(sym);
    if (!e) return;
    if (selected && quotes.get(selected)) quotes.get(selected).row.classList.remove("selected");
    selected = sym;
    e.row.classList.add("selected");
    $("sel-symbol").textContent = sym;
    series.setData(e.hist.map(point));
    chartPoints = e.hist.length;
    chart.timeScale().scrollToRealTime();
    renderDetail(e);
  }

  // --- protocol ---
  function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

  function applySnapshot(list) {
    for (const q of list) {
      if (watch !== null && !watch.includes(q.s)) continue;
      const e = ensureRow(q.s);
      const prev = e.q;
      e.q = q;
      render(q.s, e, prev || undefined);
    }
  }

  function applyUpdate(list) {
    for (const d of list) {
      if (watch !== null && !watch.includes(d.s)) continue; // removed; its unsubscribe is on the way
      const e = ensureRow(d.s);
      const prev = e.q;
      if (prev && d.seq !== prev.seq + 1) {
        // a gap the server did not announce: ask for a fresh snapshot
        gaps++;
        const set = watch === null ? ["*"] : watch;
        send({ op: "unsubscribe", id: nextId++, symbols: set });
        subscribeAll();
        return;
      }
      if (!prev && d.seq !== 1) continue; // mid-stream without a snapshot; the resubscribe will fix it
      e.q = Object.assign({}, prev || {}, d);
      render(d.s, e, prev || undefined);
    }
  }

  function setStatus(state, text) {
    status.state = state;
    const el = $("status");
    el.className = "pill " + state;
    el.textContent = text;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + tokenQuery;
    setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
    ws = new WebSocket(url, "ticker.v1");
    ws.onopen = () => {
      status.connects++;
      setStatus("live", "live");
      subscribeAll();
      loadSymbols();
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.time) {
        const l = Date.now() - m.time / 1000;
        latencyMs = latencyMs === null ? l : latencyMs * 0.9 + l * 0.1;
      }
      if (m.type === "snapshot") {
        attempt = 0;
        if (m.epoch && epoch && m.epoch !== epoch) {
          // a new stream: its seqs start again, so every quote held is dropped
          epochs++;
          for (const e of quotes.values()) e.q = null;
        }
        if (m.epoch) epoch = m.epoch;
        applySnapshot(m.quotes);
      }
      else if (m.type === "update") { updatesInSecond++; totalUpdates++; applyUpdate(m.quotes); }
      else if (m.type === "error") console.warn("ticker:", m.code, m.message, m.symbols || "");
    };
    ws.onclose = (ev) => {
      ws = null;
      // exponential backoff with full jitter: 0.5s, 1s, 2s … capped at 30s
      const base = Math.min(30000, 500 * Math.pow(2, attempt++));
      const delay = base / 2 + Math.random() * base / 2;
      setStatus("down", "offline · retry in " + (delay / 1000).toFixed(1) + "s" + (ev.code ? " (" + ev.code + ")" : ""));
      reconnectTimer = setTimeout(connect, delay);
    };
  }

  setInterval(() => {
    $("rate").textContent = updatesInSecond;
    updatesInSecond = 0;
    $("latency").textContent = latencyMs === null ? "–" : Math.max(0, latencyMs).toFixed(0) + " ms";
  }, 1000);

  // --- watchlist ---
  function subscribeAll() {
    const set = watch === null ? ["*"] : watch;
    if (set.length) send({ op: "subscribe", id: nextId++, symbols: set });
  }
  function saveWatch() {
    store.set("ticker.watchlist", watch);
    $("show-all").hidden = watch === null;
  }
  function dropRow(sym) {
    const e = quotes.get(sym);
    if (!e) return;
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
      send({ op: "unsubscribe", id: nextId++, symbols: ["*"] });
      subscribeAll();
    } else {
      watch = watch.filter((s) => s !== sym);
      send({ op: "unsubscribe", id: nextId++, symbols: [sym] });
    }
    saveWatch();
    dropRow(sym);
  }
  function addSymbol(sym) {
    if (!allSymbols.includes(sym)) return false;
    if (watch !== null && !watch.includes(sym)) {
      watch = [...watch, sym].sort();
      saveWatch();
      send({ op: "subscribe", id: nextId++, symbols: [sym] });
    }
    ensureRow(sym);
    select(sym);
    return true;
  }
  function showAll() {
    watch = null;
    saveWatch();
    send({ op: "subscribe", id: nextId++, symbols: ["*"] });
    for (const s of allSymbols) ensureRow(s);
  }
  function loadSymbols() {
    fetch("/api/symbols" + tokenQuery).then((r) => r.json()).then((j) => {
      allSymbols = j.symbols || [];
      const list = $("all-symbols");
      list.textContent = "";
      for (const s of allSymbols) { const o = document.createElement("option"); o.value = s; list.appendChild(o); }
      for (const s of (watch === null ? allSymbols : watch.filter((x) => allSymbols.includes(x)))) ensureRow(s);
    }).catch(() => {});
  }

  // --- search: filters the rows; Enter adds or selects the symbol typed ---
  function filterRows() {
    const f = $("search").value.trim().toUpperCase();
    for (const [sym, e] of quotes) e.row.hidden = f !== "" && !sym.toUpperCase().includes(f);
  }
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
  });

  connect();

  window.__ticker = {
    rows: () => [...quotes.values()].filter((e) => e.q && e.q.seq > 0).length,
    chartPoints: () => chartPoints,
    chartLength: () => (selected && quotes.get(selected) ? quotes.get(selected).hist.length : 0),
    latency: () => $("latency").textContent,
    updates: () => totalUpdates,
    status: () => status.state,
    connects: () => status.connects,
    gaps: () => gaps,
    epoch: () => epoch,
    epochs: () => epochs,
    selected: () => selected,
    visibleRows: () => [...quotes.values()].filter((e) => !e.row.hidden).length,
    symbols: () => [...quotes.keys()].sort(),
    watchlist: () => watch,
    chartKind: () => chartKind,
  };
})();
