package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/static"
	"github.com/ticker-io/ticker/ws"
)

// noWebSocketProxy is a reverse proxy in front of ts that cannot do
// WebSockets (as some corporate proxies cannot): an upgrade gets 502,
// everything else is passed on, streamed. It records the Last-Event-ID
// of each GET /stream request.
type noWebSocketProxy struct {
	*httptest.Server
	mu      sync.Mutex
	streams []string // each /stream request's Last-Event-ID
	refused int      // WebSocket handshakes refused
}

func newNoWebSocketProxy(t *testing.T, ts *testServer) *noWebSocketProxy {
	target, _ := url.Parse("http://" + ts.addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	p := &noWebSocketProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if ws.HasToken(r.Header.Get("Connection"), "upgrade") {
			p.refused++
			p.mu.Unlock()
			http.Error(w, "this proxy does not pass WebSockets", http.StatusBadGateway)
			return
		}
		if r.URL.Path == "/stream" && r.Method == http.MethodGet { // not ticker.js's HEAD probes
			p.streams = append(p.streams, r.Header.Get("Last-Event-ID"))
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { p.CloseClientConnections(); p.Close() })
	return p
}

func (p *noWebSocketProxy) seen() (refused int, streams []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused, append([]string(nil), p.streams...)
}

// TestDashboardStreamFallback: behind a proxy that refuses WebSockets the
// dashboard gives up on /ws after its tries and fills its rows from
// /stream (Server-Sent Events; ticker.js's "auto" transport), saying so in
// its status; removing a symbol opens a new stream without it; when the
// stream is cut, the client reconnects with the Last-Event-ID it was given.
// A browser without WebSocket takes the stream at once.
func TestDashboardStreamFallback(t *testing.T) {
	chromiumPath(t)
	ts := startServer(t, Config{RetryAfter: time.Second}, fanout.Config{Epoch: 1764000000000}, "synthetic:?symbols=16&rate=400&seed=5")
	proxy := newNoWebSocketProxy(t, ts)
	ctx := newBrowser(t, 1400, 820, proxy.URL+"/")
	waitPage(t, ctx, "live from the stream", `__ticker.transport() === "sse" && __ticker.status() === "live" && __ticker.rows() === 16 && __ticker.updates() > 20`, 40*time.Second)
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`__ticker.statusText()`)); st != "live · SSE fallback" {
		t.Errorf("status %q, want it to say it is on the fallback", st)
	}
	refused, streams := proxy.seen()
	if refused != 3 || len(streams) != 1 || streams[0] != "" {
		t.Errorf("the proxy refused %d WebSocket handshakes and passed streams %q; want 3, then one stream", refused, streams)
	}
	if app, err := static.Files.ReadFile("app.js"); err != nil || strings.Contains(string(app), "EventSource") || strings.Contains(string(app), `"/stream`) {
		t.Errorf("app.js reads the stream itself (%v): the fallback is ticker.js's", err)
	}
	if n := ts.srv.streams.Load(); n != 1 {
		t.Errorf("%d streams open on the server, want 1", n)
	}
	gaps := func() int {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.gaps()`))
		return n
	}
	if g := gaps(); g != 0 {
		t.Errorf("%d gaps on the stream", g)
	}

	// a stream takes no requests: removing a symbol opens a new one without it
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.querySelector('tr[data-symbol="MSFT"] button.rm').click()`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "MSFT removed", `!__ticker.symbols().includes("MSFT") && __ticker.watchlist().length === 15 && __ticker.connects() === 2`, 10*time.Second)
	waitFor(t, "one stream open again", func() bool { return ts.srv.streams.Load() == 1 })
	before, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.updates()`))
	waitPage(t, ctx, "updates flow on the new stream", `__ticker.updates() > `+strconv.Itoa(before+20)+` && __ticker.rows() === 15`, 10*time.Second)
	_, streams = proxy.seen()
	if len(streams) != 2 || streams[1] != "" {
		t.Errorf("streams %q: the new one is a new stream (no Last-Event-ID)", streams)
	}

	// cut the stream: EventSource reconnects after the retry hint (1s), with its last id
	proxy.CloseClientConnections()
	waitPage(t, ctx, "reconnected by EventSource", `__ticker.connects() === 3 && __ticker.status() === "live"`, 15*time.Second)
	_, streams = proxy.seen()
	if len(streams) != 3 || !regexp.MustCompile(`^1764000000000:\d+$`).MatchString(streams[2]) {
		t.Errorf("streams %q: the reconnect should carry the last id, epoch:time", streams)
	}
	before, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.updates()`))
	waitPage(t, ctx, "updates flow after the reconnect", `__ticker.updates() > `+strconv.Itoa(before+20)+` && __ticker.rows() === 15`, 10*time.Second)
	if g := gaps(); g != 0 {
		t.Errorf("%d gaps after the resync", g)
	}

	// no WebSocket at all: the stream at once, straight from the server
	bare := newBrowser(t, 1000, 700, "about:blank")
	if err := chromedp.Do(bare, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.WebSocket`})
		return err
	}), chromedp.Navigate("http://"+ts.addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bare, "live from the stream without WebSocket", `__ticker.transport() === "sse" && __ticker.connects() === 1 && __ticker.status() === "live" && __ticker.rows() === 16`, 20*time.Second)
	if st, _ := chromedp.Run(bare, chromedp.Evaluate[string](`typeof WebSocket + " " + __ticker.statusText()`)); !strings.HasPrefix(st, "undefined live") {
		t.Errorf("without WebSocket: %q", st)
	}
}

// TestDashboardTransportParam: /?transport=sse puts the dashboard on the
// stream at once, with no proxy in the way (no WebSocket attempt); its
// status says "SSE", not "fallback". A value the client does not know
// leaves it on "auto", the WebSocket.
func TestDashboardTransportParam(t *testing.T) {
	chromiumPath(t)
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=16&rate=400&seed=5")
	ctx := newBrowser(t, 1000, 700, "http://"+ts.addr+"/?transport=sse")
	waitPage(t, ctx, "live from the stream", `__ticker.transport() === "sse" && __ticker.status() === "live" && __ticker.rows() === 16 && __ticker.updates() > 20`, 20*time.Second)
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`__ticker.statusText() + " " + __ticker.connects()`)); st != "live · SSE 1" {
		t.Errorf("status and connects %q, want \"live · SSE 1\"", st)
	}
	if n := ts.srv.streams.Load(); n != 1 {
		t.Errorf("%d streams open on the server, want 1", n)
	}
	bogus := newBrowser(t, 1000, 700, "http://"+ts.addr+"/?transport=carrier-pigeon")
	waitPage(t, bogus, "live on the WebSocket", `__ticker.transport() === "ws" && __ticker.status() === "live" && __ticker.rows() === 16 && __ticker.statusText() === "live"`, 20*time.Second)
}

// TestBrowserWebSocketTokenProbe: in a page of the server's own origin, a
// ticker.js client whose token the WebSocket handshake refuses (401, which
// the browser reports as a bare 1006) learns the status from its probe
// (HEAD /stream with the same token, readable on the same origin): every
// attempt's closed status carries httpStatus 401, and an "auto" client does
// not take the refusals for a proxy that refuses WebSockets (no fallback).
func TestBrowserWebSocketTokenProbe(t *testing.T) {
	chromiumPath(t)
	tokPath := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokPath, []byte("dash-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := access.LoadTokens(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Tokens: tokens}, fanout.Config{}, "synthetic:?symbols=4&rate=100&seed=5")
	// the dashboard without a token: it stops at its token prompt, and the
	// page is of the server's origin, with /ticker.js to import
	ctx := newBrowser(t, 1000, 700, "http://"+ts.addr+"/")
	waitPage(t, ctx, "the token prompt", `__ticker.status() === "token"`, 20*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`import("/ticker.js").then(({ Client, FALLBACK_AFTER }) => {
		const seen = [];
		const c = new Client({ url: "/ws", transport: "auto", token: "wrong", symbols: ["AAPL"], minBackoff: 10, maxBackoff: 40,
			onStatus: (s) => { if (s.kind === "closed" || s.kind === "fallback") seen.push([s.kind, s.transport || "", s.httpStatus || 0, s.reason || ""]); },
			retry: (i) => seen.filter((s) => s[0] === "closed").length < FALLBACK_AFTER + 2 });
		c.start();
		const done = setInterval(() => { if (!c.running) { clearInterval(done); window.__probed = JSON.stringify({ seen, transport: c.transport }); } }, 20);
	}), undefined`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the client to give up", `typeof window.__probed === "string"`, 20*time.Second)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__probed`))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Seen      [][]any `json:"seen"`
		Transport string  `json:"transport"`
	}
	if err := json.Unmarshal([]byte(got), &res); err != nil {
		t.Fatal(err)
	}
	if res.Transport != "ws" || len(res.Seen) < 5 { // more than FALLBACK_AFTER (3) attempts
		t.Fatalf("transport %q, statuses %v: want 5 or more closed on ws, no fallback", res.Transport, res.Seen)
	}
	for _, s := range res.Seen {
		if s[0] != "closed" || s[1] != "ws" || s[2] != float64(401) || !strings.HasPrefix(s[3].(string), "the WebSocket was refused: HTTP 401") {
			t.Errorf("status %v: want closed, ws, 401, the refusal", s)
		}
	}
}

// TestDashboardStreamToken: in a browser without WebSocket, behind
// --auth-tokens, the page's stream is refused with 401, which ticker.js
// reports itself (httpStatus): the page asks for a token instead of
// retrying; with the token in its URL it streams.
func TestDashboardStreamToken(t *testing.T) {
	chromiumPath(t)
	tokPath := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokPath, []byte("dash-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := access.LoadTokens(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Tokens: tokens}, fanout.Config{}, "synthetic:?symbols=16&rate=400&seed=5")
	for _, tt := range []struct{ name, path, until string }{
		{"no token", "/", `__ticker.transport() === "sse" && __ticker.status() === "token" && __ticker.connects() === 0 && !document.getElementById("token-prompt").hidden`},
		{"with the token", "/?token=dash-token", `__ticker.transport() === "sse" && __ticker.status() === "live" && __ticker.rows() === 16 && __ticker.statusText() === "live · SSE fallback"`},
	} {
		ctx := newBrowser(t, 1000, 700, "about:blank")
		if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.WebSocket`})
			return err
		}), chromedp.Navigate("http://"+ts.addr+tt.path)); err != nil {
			t.Fatal(err)
		}
		waitPage(t, ctx, tt.name, tt.until, 20*time.Second)
	}
	if v, ok := ts.srv.refused.Load("token"); !ok || v.(*atomic.Uint64).Load() < 1 {
		t.Errorf("no stream refused for its token")
	}
}

// TestBrowserEventSource: a browser's own EventSource (not the dashboard's
// client) reads /stream: the events are named by their ticker.v1 type, the
// snapshots and updates carry ids, and when the stream is cut the browser
// reconnects by itself after the retry hint, with the last id as
// Last-Event-ID, and gets a resync snapshot.
func TestBrowserEventSource(t *testing.T) {
	chromiumPath(t)
	ts := startServer(t, Config{RetryAfter: time.Second}, fanout.Config{}, "synthetic:?symbols=4&rate=200&seed=9")
	waitQuote(t, ts, "AAPL")
	proxy := newNoWebSocketProxy(t, ts)
	ctx := newBrowser(t, 800, 600, proxy.URL+"/healthz")
	poll := func(what, cond string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 25*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.__es)`))
			t.Fatalf("%s: %v (page: %s)", what, err, state)
		}
	}
	open := `window.__es = {types: [], ids: [], opens: 0, reasons: []};
		const es = new EventSource("/stream?symbols=AAPL,BTC-USD");
		es.onopen = () => __es.opens++;
		for (const type of ["subscribed", "snapshot", "update", "error"]) {
			es.addEventListener(type, (e) => {
				const m = JSON.parse(e.data);
				__es.types.push(m.type === type ? type : "mismatch:" + m.type);
				if (e.lastEventId) __es.ids.push(e.lastEventId);
				if (m.type === "snapshot") __es.reasons.push(m.reason);
			});
		}
		true`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](open)); err != nil {
		t.Fatal(err)
	}
	poll("subscribed, snapshot, updates", `__es.types.filter((x) => x === "update").length >= 5`)
	first, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`__es.types.slice(0, 2)`))
	if len(first) != 2 || first[0] != "subscribed" || first[1] != "snapshot" {
		t.Fatalf("first events %v, want subscribed then snapshot", first)
	}
	ids, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`__es.ids`))
	idRE := regexp.MustCompile(`^\d+:\d+$`)
	for _, id := range ids {
		if !idRE.MatchString(id) {
			t.Fatalf("event id %q, want <epoch>:<time>", id)
		}
	}
	proxy.CloseClientConnections()
	poll("reconnected with a resync snapshot", `__es.opens >= 2 && __es.reasons.includes("resync")`)
	_, streams := proxy.seen()
	if len(streams) < 2 || streams[0] != "" || !idRE.MatchString(streams[1]) {
		t.Fatalf("Last-Event-IDs of the streams %q, want none and then an id", streams)
	}
	ids, _ = chromedp.Run(ctx, chromedp.Evaluate[[]string](`__es.ids`))
	if !slices.Contains(ids, streams[1]) {
		t.Errorf("reconnected with Last-Event-ID %s, which no event carried (%v)", streams[1], ids)
	}
	mismatches, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__es.types.filter((x) => x.startsWith("mismatch")).length`))
	if mismatches != 0 {
		t.Errorf("%d events named otherwise than their message's type", mismatches)
	}
}
