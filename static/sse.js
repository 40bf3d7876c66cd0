// sse.js: the dashboard's stream when a WebSocket cannot connect (a proxy
// that does not pass WebSockets, a browser without them). GET /stream
// serves the same ticker.v1 messages as Server-Sent Events: each event's
// name is the message's type and its data the message's JSON, so the
// connector hands the page the same parsed messages a WebSocket would.
//
// A stream cannot take requests: its symbols are in its URL, and changing
// them (setSymbols) opens a new stream, which starts with its own ack and
// snapshot. The browser's EventSource reconnects by itself after a dropped
// stream (sending Last-Event-ID, which the server answers with a resync
// snapshot); a stream the server refused (an HTTP error: token, limits,
// shutdown) is not retried by EventSource, so that case goes to onDown
// with closed true and the page decides when to try again.

const TYPES = ["snapshot", "update", "subscribed", "unsubscribed", "pong"];

// streamURL is /stream?symbols=A,B (and the page's token, as on /ws).
export function streamURL(symbols, token) {
  let u = "/stream?symbols=" + symbols.map(encodeURIComponent).join(",");
  if (token) u += "&token=" + encodeURIComponent(token);
  return u;
}

// connectStream opens a stream of symbols. onMessage(m) gets each ticker.v1
// message, parsed; onOpen() each time the stream (re)opens; onDown({closed})
// when it drops: closed false while EventSource reconnects by itself, true
// when it gave up (then nothing more happens until the page calls again).
export function connectStream({ symbols, token, onOpen, onMessage, onDown }) {
  let es = null;
  let current = symbols.slice();
  const parse = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (_) { return; }
    onMessage(m);
  };
  function open() {
    es = new EventSource(streamURL(current, token));
    es.onopen = () => onOpen();
    for (const t of TYPES) es.addEventListener(t, parse);
    // the ticker.v1 "error" message and EventSource's own error share the
    // name; only the message has data
    es.addEventListener("error", (ev) => {
      if (ev.data !== undefined) { parse(ev); return; }
      const closed = es.readyState === EventSource.CLOSED;
      if (closed) es = null;
      onDown({ closed });
    });
  }
  open();
  return {
    kind: "sse",
    // setSymbols reopens the stream with another set of symbols
    setSymbols(list) {
      current = list.slice();
      if (es) es.close();
      open();
    },
    close() { if (es) es.close(); es = null; },
  };
}
