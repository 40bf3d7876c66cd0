package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
)

// epochOf reads a message's epoch (0 when it has none).
func epochOf(raw []byte) uint64 {
	var m struct{ Epoch uint64 }
	json.Unmarshal(raw, &m)
	return m.Epoch
}

// TestStream reads GET /stream?symbols=* as an EventSource would: a
// text/event-stream response, chunked, that starts with the retry hint and
// then carries the WebSocket's messages in order (the subscribed ack, the
// subscribe snapshot, updates whose seqs rise by one per symbol), each
// event named after its message's type, snapshots and updates with the id
// epoch:time of the message they carry.
func TestStream(t *testing.T) {
	ts := startServer(t, Config{RetryAfter: 3 * time.Second}, fanout.Config{Epoch: 1764000000000}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	s := openStream(t, ts.addr, "/stream?symbols=*")
	if s.resp.StatusCode != 200 {
		t.Fatalf("status %d", s.resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := s.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if te := s.resp.TransferEncoding; len(te) != 1 || te[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", te)
	}
	first, err := s.next(time.Second)
	if err != nil || first.Retry != 3000 || first.Data != "" {
		t.Fatalf("first block %+v (%v), want the retry hint 3000 (the server's RetryAfter)", first, err)
	}
	ack, ev := s.expect("subscribed", 5*time.Second)
	epoch := epochOf(ack.Raw)
	if epoch == 0 || ev.HasID || string(ack.Raw) != fmt.Sprintf(`{"type":"subscribed","symbols":["*"],"epoch":%d}`, epoch) {
		t.Fatalf("ack %s (id %v)", ack.Raw, ev.HasID)
	}
	snap, ev := s.expect("snapshot", 5*time.Second)
	if snap.Reason != "subscribe" || len(snap.Quotes) != 8 {
		t.Fatalf("snapshot %s", snap.Raw)
	}
	if want := fmt.Sprintf("%d:%d", epoch, snap.Time); ev.ID != want {
		t.Errorf("snapshot id %q, want %q", ev.ID, want)
	}
	for s.book.updates < 30 {
		m, ev, err := s.message(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d updates: %v", s.book.updates, err)
		}
		if m.Type != "update" {
			t.Fatalf("unexpected %s", m.Raw)
		}
		if want := fmt.Sprintf("%d:%d", epoch, m.Time); ev.ID != want {
			t.Fatalf("update id %q, want %q", ev.ID, want)
		}
	}
	if n := ts.srv.streams.Load(); n != 1 || ts.srv.Connections() != 1 {
		t.Errorf("streams %d, connections %d, want 1 and 1", n, ts.srv.Connections())
	}
}

// TestStreamSameBytesAsWebSocket: a stream and a WebSocket connection (with
// and without permessage-deflate) subscribed to the same symbols get the
// same messages, byte for byte, in the same windows: the stream's data is
// the payload of the frame the engine built once for all three.
func TestStreamSameBytesAsWebSocket(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	const syms = "AAPL,BTC-USD,ESZ6"
	plain := dial(t, ts.wsURL("?symbols="+syms), false, nil)
	deflated := dial(t, ts.wsURL("?symbols="+syms), true, nil)
	plain.expect("snapshot", 5*time.Second)
	deflated.expect("snapshot", 5*time.Second)
	s := openStream(t, ts.addr, "/stream?symbols="+syms)
	s.expect("snapshot", 5*time.Second)
	built, shared := ts.engine.Stats().FramesBuilt.Load(), ts.engine.Stats().FramesShared.Load()

	byTime := func(read func() (serverMsg, error), n int) map[int64]string {
		out := map[int64]string{}
		for len(out) < n {
			m, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if m.Type == "update" {
				out[m.Time] = string(m.Raw)
			}
		}
		return out
	}
	fromStream := byTime(func() (serverMsg, error) { m, _, err := s.message(5 * time.Second); return m, err }, 40)
	for name, c := range map[string]*client{"plain": plain, "deflate": deflated} {
		fromWS := byTime(func() (serverMsg, error) { return c.read(5 * time.Second) }, 60)
		same := 0
		for tm, raw := range fromStream {
			if ws, ok := fromWS[tm]; ok {
				if ws != raw {
					t.Fatalf("window %d: the stream got\n%s\nthe %s WebSocket\n%s", tm, raw, name, ws)
				}
				same++
			}
		}
		if same < 10 {
			t.Errorf("%s: only %d windows in common", name, same)
		}
	}
	b, sh := ts.engine.Stats().FramesBuilt.Load()-built, ts.engine.Stats().FramesShared.Load()-shared
	if sh < b {
		t.Errorf("frames built %d, shared %d: three subscribers of the same symbols should share each update", b, sh)
	}
	t.Logf("%d updates built, %d times shared", b, sh)
}

// TestStreamRefused: what a /stream request gets instead of a stream, as
// JSON with the status a WebSocket handshake would get; none of them holds
// a connection place.
func TestStreamRefused(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := access.LoadTokens(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	origins, err := access.ParseOrigins("https://ok.example")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Tokens: tokens, Origins: origins, MaxConnsPerIP: 1, RetryAfter: 7 * time.Second},
		fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	auth := "Authorization: Bearer s3cret"
	for _, tc := range []struct {
		name, path string
		header     []string
		status     int
		body       string
	}{
		{"no symbols", "/stream", []string{auth}, 400, `{"error":"symbols: want a comma-separated list of symbols, or \"*\""}`},
		{"empty items only", "/stream?symbols=,%20,", []string{auth}, 400, `{"error":"symbols: want a comma-separated list of symbols, or \"*\""}`},
		{"bad character", "/stream?symbols=AAPL,BT%22C", []string{auth}, 400, `{"error":"symbols: symbol \"BT\\\"C\": character '\"' not allowed"}`},
		{"too long", "/stream?symbols=" + strings.Repeat("A", 33), []string{auth}, 400, `{"error":"symbols: symbol \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…\" longer than 32 bytes"}`},
		{"no token", "/stream?symbols=*", nil, 401, `{"error":"missing or invalid token"}`},
		{"wrong token", "/stream?symbols=*&token=nope", nil, 401, `{"error":"missing or invalid token"}`},
		{"origin not listed", "/stream?symbols=*", []string{auth, "Origin: https://evil.example"}, 403, `{"error":"origin not allowed"}`},
		{"wrong token, allowed origin", "/stream?symbols=*&token=nope", []string{"Origin: https://ok.example"}, 401, `{"error":"missing or invalid token"}`},
		{"no symbols, allowed origin", "/stream", []string{auth, "Origin: https://ok.example"}, 400, `{"error":"symbols: want a comma-separated list of symbols, or \"*\""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStream(t, ts.addr, tc.path, tc.header...)
			body, _ := io.ReadAll(s.resp.Body)
			if s.resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("%d %s, want %d %s", s.resp.StatusCode, body, tc.status, tc.body)
			}
			if tc.status == 401 && s.resp.Header.Get("WWW-Authenticate") != `Bearer realm="ticker"` {
				t.Errorf("WWW-Authenticate %q", s.resp.Header.Get("WWW-Authenticate"))
			}
			// a page of an allowed origin may read why it was refused
			want := ""
			if strings.Contains(tc.name, "allowed origin") {
				want = "https://ok.example"
			}
			if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, want)
			}
		})
	}
	if n := ts.srv.Connections(); n != 0 {
		t.Fatalf("%d connections after refusals", n)
	}

	// the token by query parameter and by header; an allowed origin gets CORS
	s := openStream(t, ts.addr, "/stream?symbols=AAPL&token=s3cret", "Origin: https://ok.example")
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Access-Control-Allow-Origin") != "https://ok.example" {
		t.Fatalf("%d, Access-Control-Allow-Origin %q", s.resp.StatusCode, s.resp.Header.Get("Access-Control-Allow-Origin"))
	}
	s.expect("subscribed", 5*time.Second)
	// one place per address, shared with /ws
	second := openStream(t, ts.addr, "/stream?symbols=AAPL", auth)
	body, _ := io.ReadAll(second.resp.Body)
	if second.resp.StatusCode != 429 || second.resp.Header.Get("Retry-After") != "7" {
		t.Errorf("second stream from the address: %d %s (Retry-After %q), want 429", second.resp.StatusCode, body, second.resp.Header.Get("Retry-After"))
	}
	_, resp, err := websocket.DefaultDialer.Dial(ts.wsURL("?token=s3cret"), nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Errorf("a WebSocket beside the stream: %v, want 429", err)
	}
	s.nc.Close()
	waitFor(t, "the stream's place is given back", func() bool { return ts.srv.Connections() == 0 })
	third := openStream(t, ts.addr, "/stream?symbols=AAPL", auth)
	if third.resp.StatusCode != 200 {
		t.Errorf("a stream after the first ended: %d", third.resp.StatusCode)
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// TestStreamLastEventID: the server keeps no history to replay, so a
// stream reopened with a Last-Event-ID it could have written starts with
// a resync snapshot: every symbol's full quote, reason "resync", seqs at
// least those of the id's time; one without (or with an id it never
// writes) starts as a new subscription.
func TestStreamLastEventID(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	s := openStream(t, ts.addr, "/stream?symbols=AAPL,MSFT")
	s.expect("snapshot", 5*time.Second)
	var last sseEvent
	for s.book.updates < 5 {
		m, ev, err := s.message(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == "update" {
			last = ev
		}
	}
	had := map[string]uint64{}
	for sym, q := range s.book.book {
		had[sym] = atoi(q["seq"])
	}
	s.nc.Close()

	for _, tc := range []struct {
		id, reason string
	}{
		{last.ID, "resync"},
		{"1:2", "resync"}, // another epoch's: the snapshot's epoch tells the client
		{"", "subscribe"},
		{"garbage", "subscribe"},
		{"1:-2", "subscribe"},
	} {
		var hdr []string
		if tc.id != "" {
			hdr = append(hdr, "Last-Event-ID: "+tc.id)
		}
		r := openStream(t, ts.addr, "/stream?symbols=AAPL,MSFT", hdr...)
		snap, ev := r.expect("snapshot", 5*time.Second)
		if snap.Reason != tc.reason || len(snap.Quotes) != 2 || !ev.HasID {
			t.Errorf("Last-Event-ID %q: snapshot %s (id %q), want reason %q with both quotes", tc.id, snap.Raw, ev.ID, tc.reason)
		}
		want := `{"type":"snapshot","reason":"` + tc.reason + `"`
		if !bytes.HasPrefix(snap.Raw, []byte(want)) {
			t.Errorf("snapshot %s does not start %s", snap.Raw, want)
		}
		for sym, seq := range had {
			if got := atoi(r.book.book[sym]["seq"]); got < seq {
				t.Errorf("%s: resync seq %d below the %d the client had", sym, got, seq)
			}
		}
		// and the updates go on from it
		for r.book.updates < 3 {
			if _, _, err := r.message(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		r.nc.Close()
	}
}

// TestStreamHeartbeat: a stream with nothing to say gets the comment
// ": ping" at the ping cadence, so that proxies keep it open.
func TestStreamHeartbeat(t *testing.T) {
	ts := startServer(t, Config{PingInterval: 50 * time.Millisecond}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	// a symbol no feed has: an error, an empty ack, then nothing but heartbeats
	s := openStream(t, ts.addr, "/stream?symbols=NOPE")
	if m, _ := s.expect("error", 5*time.Second); m.Code != "unknown_symbol" {
		t.Fatalf("%s", m.Raw)
	}
	s.expect("subscribed", time.Second)
	start, pings := time.Now(), 0
	for pings < 5 {
		ev, err := s.next(time.Second)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		if ev.Data != "" || len(ev.Comments) != 1 || ev.Comments[0] != "ping" {
			t.Fatalf("unexpected %+v", ev)
		}
		pings++
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("5 heartbeats in %v at a 50ms cadence", d)
	}
}

// TestStreamShutdown: Shutdown ends a stream cleanly: the comment
// ": closed 1001 server shutting down", the last chunk, and the end of
// the connection; and a stream asked for during shutdown gets 503.
func TestStreamShutdown(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	s := openStream(t, ts.addr, "/stream?symbols=*")
	s.expect("snapshot", 5*time.Second)
	done := make(chan struct{})
	go func() { ts.stop(); close(done) }()
	var closing []string
	for {
		ev, err := s.next(5 * time.Second)
		if errors.Is(err, io.EOF) {
			break // the last chunk: net/http reports the body's clean end
		}
		if err != nil {
			t.Fatalf("the stream did not end cleanly: %v", err)
		}
		closing = append(closing, ev.Comments...)
	}
	if len(closing) == 0 || closing[len(closing)-1] != "closed 1001 server shutting down" {
		t.Errorf("comments before the end %q, want the last to be \"closed 1001 server shutting down\"", closing)
	}
	s.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := s.nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("after the last chunk: %d bytes, %v; want the connection closed", n, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not return")
	}
	if ts.srv.streams.Load() != 0 {
		t.Errorf("streams %d after shutdown", ts.srv.streams.Load())
	}
}

// TestStreamHTTP10: an HTTP/1.0 client gets the stream without chunked
// framing; its body ends with the connection.
func TestStreamHTTP10(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	s := openStreamLine(t, ts.addr, "GET /stream?symbols=AAPL HTTP/1.0")
	if s.resp.ProtoMinor != 0 || len(s.resp.TransferEncoding) != 0 || s.resp.StatusCode != 200 {
		t.Fatalf("%s %d, Transfer-Encoding %v", s.resp.Proto, s.resp.StatusCode, s.resp.TransferEncoding)
	}
	s.expect("snapshot", 5*time.Second)
	s.expect("update", 5*time.Second)
}

// TestStreamMetrics: ticker_streams counts the open streams, which also
// count in ticker_connections.
func TestStreamMetrics(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=8&rate=400&seed=3")
	waitQuote(t, ts, "AAPL")
	a := openStream(t, ts.addr, "/stream?symbols=*")
	a.expect("subscribed", 5*time.Second)
	dial(t, ts.wsURL("?symbols=*"), false, nil).expect("subscribed", 5*time.Second)
	metrics := func() string {
		resp, err := http.Get(ts.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := metrics()
	for _, want := range []string{"\nticker_streams 1\n", "\nticker_connections 2\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", strings.TrimSpace(want))
		}
	}
	a.nc.Close()
	waitFor(t, "the stream leaves the metrics", func() bool { return strings.Contains(metrics(), "\nticker_streams 0\n") })
}

// TestStreamHead: HEAD /stream answers the status a GET would get, with no
// body and no stream opened, so that a client can learn why it is refused.
func TestStreamHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte("s3cret\n"), 0o600)
	tokens, err := access.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Tokens: tokens}, fanout.Config{}, "synthetic:?symbols=3&rate=100&seed=1")
	for _, tc := range []struct {
		query  string
		status int
	}{{"?symbols=*&token=s3cret", 200}, {"?symbols=*&token=nope", 401}, {"?symbols=*", 401}, {"?token=s3cret", 400}} {
		resp, err := http.Head(ts.url("/stream" + tc.query))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("HEAD /stream%s: %d, want %d", tc.query, resp.StatusCode, tc.status)
		}
	}
	if n := ts.srv.Connections(); n != 0 {
		t.Errorf("%d connections after HEADs, want none", n)
	}
}

// TestStreamEvery: ?every= works on /stream as on /ws: the ack says the
// interval, the entries carry from..seq continuing the book (the test
// client checks from = previous seq + 1), and a malformed value is a 400
// before anything streams.
func TestStreamEvery(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=4&rate=400&seed=2")
	waitQuote(t, ts, "AAPL")
	for _, q := range []string{"every=abc", "every=", "every=15ms"} {
		if bad := openStream(t, ts.addr, "/stream?symbols=AAPL&"+q); bad.resp.StatusCode != 400 {
			t.Fatalf("%s: %d, want 400", q, bad.resp.StatusCode)
		}
	}
	s := openStream(t, ts.addr, "/stream?symbols=AAPL,BTC-USD&every=100ms")
	ack, _ := s.expect("subscribed", 5*time.Second)
	if !strings.Contains(string(ack.Raw), `"every":"100ms"`) {
		t.Fatalf("ack %s, want every 100ms", ack.Raw)
	}
	conflated := 0
	for conflated < 5 {
		m, _, err := s.message(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d conflated updates: %v", conflated, err)
		}
		if m.Type == "update" && strings.Contains(string(m.Raw), `"from":`) {
			conflated++
		}
	}
}
