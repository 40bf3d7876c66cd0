package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
)

const (
	cryptoFixture   = "../fixtures/crypto.ndjson"
	equitiesFixture = "../fixtures/equities.ndjson"
)

// TestReplayEndToEnd replays both fixtures through the real server to
// clients with and without permessage-deflate, subscribed in different ways,
// and checks the per-symbol invariant on every message and that each client's
// book equals the fixture's fold and /api/quotes at the end.
func TestReplayEndToEnd(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond},
		"replay:"+cryptoFixture+"?speed=25", "replay:"+equitiesFixture+"?speed=60")

	type sub struct {
		name    string
		deflate bool
		query   string // subscribe at connect time
		op      string // or with a message
		symbols []string
	}
	subs := []sub{
		{"plain wildcard", false, "", `{"op":"subscribe","id":1,"symbols":["*"]}`, nil},
		{"deflate wildcard", true, "", `{"op":"subscribe","id":"w","symbols":["*"]}`, nil},
		{"deflate url", true, "?symbols=BTC-USD,AAPL,SHIB-USD", "", []string{"BTC-USD", "AAPL", "SHIB-USD"}},
		{"plain list", false, "", `{"op":"subscribe","symbols":["ETH-USD","BRK.B","SPY"]}`, []string{"ETH-USD", "BRK.B", "SPY"}},
	}
	clients := make([]*client, len(subs))
	for i, s := range subs {
		clients[i] = dial(t, ts.wsURL(s.query), s.deflate, nil)
		c := clients[i]
		if got := c.resp.Header.Get("Sec-WebSocket-Protocol"); got != "ticker.v1" {
			t.Fatalf("%s: subprotocol %q", s.name, got)
		}
		ext := c.resp.Header.Get("Sec-WebSocket-Extensions")
		if s.deflate != strings.Contains(ext, "permessage-deflate") || s.deflate && !strings.Contains(ext, "server_no_context_takeover") {
			t.Fatalf("%s: extensions %q", s.name, ext)
		}
		if s.op != "" {
			c.send(s.op)
		}
	}

	// read everything concurrently until the feeds are done and quiet; the
	// readers stop when their socket is closed
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	stopped := false
	var mu sync.Mutex
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.read(30 * time.Second); err != nil {
					mu.Lock()
					if !stopped {
						errs[i] = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	ts.waitFeedsFinished()
	time.Sleep(300 * time.Millisecond) // several windows after the last line
	mu.Lock()
	stopped = true
	mu.Unlock()
	for _, c := range clients {
		c.ws.Close()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", subs[i].name, err)
		}
	}

	fold := foldFixture(t, cryptoFixture)
	for k, v := range foldFixture(t, equitiesFixture) {
		fold[k] = v
	}
	code, body := ts.get("/api/quotes")
	if code != 200 {
		t.Fatalf("/api/quotes %d", code)
	}
	var rest struct{ Quotes []json.RawMessage }
	json.Unmarshal([]byte(body), &rest)
	restBook := map[string]map[string]string{}
	for _, raw := range rest.Quotes {
		q, err := decodeQuote(raw)
		if err != nil {
			t.Fatal(err)
		}
		restBook[q["s"]] = q
	}
	if len(restBook) != len(fold) {
		t.Fatalf("/api/quotes has %d symbols, fixtures %d", len(restBook), len(fold))
	}
	for sym, want := range fold {
		got := restBook[sym]
		seq := got["seq"]
		delete(got, "seq")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("/api/quotes %s:\n got %v\nwant %v", sym, got, want)
		}
		got["seq"] = seq
	}
	for i, c := range clients {
		syms := subs[i].symbols
		if syms == nil {
			for s := range fold {
				syms = append(syms, s)
			}
		}
		if len(c.book) != len(syms) {
			t.Errorf("%s: book has %d symbols, want %d", subs[i].name, len(c.book), len(syms))
		}
		for _, s := range syms {
			if fmt.Sprint(c.book[s]) != fmt.Sprint(restBook[s]) {
				t.Errorf("%s %s:\n client %v\n server %v", subs[i].name, s, c.book[s], restBook[s])
			}
		}
		if c.updates == 0 || c.resyncs != 0 {
			t.Errorf("%s: %d updates, %d resyncs", subs[i].name, c.updates, c.resyncs)
		}
	}
	st := ts.engine.Stats()
	if st.FramesShared.Load() == 0 || st.FramesAssembled.Load() == 0 {
		t.Errorf("no frame sharing (%d) or spliced compression (%d) happened", st.FramesShared.Load(), st.FramesAssembled.Load())
	}
	t.Logf("updates: %v; frames built %d, shared %d, spliced %d, deflated whole %d (%d → %d bytes)",
		[]int{clients[0].updates, clients[1].updates, clients[2].updates, clients[3].updates},
		st.FramesBuilt.Load(), st.FramesShared.Load(), st.FramesAssembled.Load(), st.FramesDeflated.Load(), st.DeflateIn.Load(), st.DeflateOut.Load())
}

func TestSubscribeAckAndSnapshotOrder(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "replay:"+cryptoFixture+"?speed=0")
	ts.waitFeedsFinished()
	time.Sleep(50 * time.Millisecond)
	c := dial(t, ts.wsURL(""), false, nil)
	c.send(`{"op":"subscribe","id":42,"symbols":["BTC-USD","NOPE","ETH-USD"]}`)
	m := c.expect("error", 5*time.Second)
	if m.Code != "unknown_symbol" || string(m.ID) != "42" || fmt.Sprint(m.Symbols) != "[NOPE]" {
		t.Fatalf("error %+v", m)
	}
	m, err := c.read(5 * time.Second)
	if err != nil || m.Type != "subscribed" || string(m.ID) != "42" || fmt.Sprint(m.Symbols) != "[BTC-USD ETH-USD]" {
		t.Fatalf("ack %+v %v", m, err)
	}
	m, err = c.read(5 * time.Second)
	if err != nil || m.Type != "snapshot" || m.Reason != "subscribe" || len(m.Quotes) != 2 || m.Time == 0 {
		t.Fatalf("snapshot %+v %v", m, err)
	}
	// the snapshot equals the REST view
	for _, sym := range []string{"BTC-USD", "ETH-USD"} {
		_, body := ts.get("/api/quotes/" + sym)
		q, _ := decodeQuote([]byte(body))
		if fmt.Sprint(q) != fmt.Sprint(c.book[sym]) {
			t.Fatalf("%s: snapshot %v, REST %v", sym, c.book[sym], q)
		}
	}

	// replies come in the order of the requests, though pongs and parse
	// errors need no engine and (un)subscribes do; a symbol listed twice is
	// acked once. The feed has finished, so no update comes between.
	for _, msg := range []string{
		`{"op":"unsubscribe","id":1,"symbols":["BTC-USD"]}`,
		`{"op":"subscribe","id":2,"symbols":["BTC-USD","SOL-USD","BTC-USD"]}`,
		`{"op":"ping","id":3}`,
		`not json`,
		`{"op":"unsubscribe","id":4,"symbols":["ETH-USD","ETH-USD"]}`,
		`{"op":"ping","id":5}`,
	} {
		c.send(msg)
	}
	for _, want := range []string{"unsubscribed 1 [BTC-USD]", "subscribed 2 [BTC-USD SOL-USD]", "snapshot  []",
		"pong 3 []", "error  []", "unsubscribed 4 [ETH-USD]", "pong 5 []"} {
		m, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("want %q: %v", want, err)
		}
		if got := fmt.Sprintf("%s %s %v", m.Type, m.ID, m.Symbols); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestUnsubscribeStopsUpdates: after the unsubscribed ack, no update names
// the symbol again.
func TestUnsubscribeStopsUpdates(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=3&rate=3000&seed=1")
	c := dial(t, ts.wsURL("?symbols=AAPL,BTC-USD"), true, nil)
	c.expect("update", 5*time.Second)
	c.send(`{"op":"unsubscribe","id":"u","symbols":["AAPL"]}`)
	m := c.expect("unsubscribed", 5*time.Second)
	if string(m.ID) != `"u"` || fmt.Sprint(m.Symbols) != "[AAPL]" {
		t.Fatalf("ack %+v", m)
	}
	btc := 0
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		m, err := c.read(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range m.Quotes {
			q, _ := decodeQuote(raw)
			if q["s"] == "AAPL" {
				t.Fatalf("AAPL update after unsubscribe: %s", raw)
			}
			btc++
		}
	}
	if btc == 0 {
		t.Fatal("BTC-USD stopped too")
	}
}

// TestErrorCodes: every error code of the contract, each leaving the
// connection open (a ping still gets its pong).
func TestErrorCodes(t *testing.T) {
	ts := startServer(t, Config{RateLimit: 1, RateBurst: 12, FloodStrikes: 1000},
		fanout.Config{MaxSymbolsPerClient: 2}, "synthetic:?symbols=5&rate=10&seed=1")
	c := dial(t, ts.wsURL(""), true, nil)
	tests := []struct {
		send, code, id string
		symbols        string
	}{
		{`not json`, "bad_request", "", ""},
		{`[1]`, "bad_request", "", ""},
		{`{"id":1}`, "bad_request", "1", ""},
		{`{"op":"subscribe","id":2,"symbols":"AAPL"}`, "bad_request", "2", ""},
		{`{"op":"subscribe","id":3,"symbols":[]}`, "bad_request", "3", ""},
		{`{"op":"subscribe","id":{"x":1},"symbols":["AAPL"]}`, "bad_request", "", ""},
		{`{"op":"dance","id":"d"}`, "unknown_op", `"d"`, ""},
		{`{"op":"subscribe","id":4,"symbols":["NOPE","AAPL"]}`, "unknown_symbol", "4", "[NOPE]"},
		{`{"op":"subscribe","id":5,"symbols":["BTC-USD","EUR-USD","ESZ6"]}`, "too_many_symbols", "5", "[EUR-USD ESZ6]"},
	}
	for _, tt := range tests {
		c.send(tt.send)
		m := c.expect("error", 5*time.Second)
		if m.Code != tt.code || string(m.ID) != tt.id || (tt.symbols != "" && fmt.Sprint(m.Symbols) != tt.symbols) || m.Message == "" {
			t.Errorf("%s: got %+v, want code %s id %s symbols %s", tt.send, m, tt.code, tt.id, tt.symbols)
		}
	}
	c.send(`{"op":"ping","id":9}`)
	if m := c.expect("pong", 5*time.Second); string(m.ID) != "9" || m.Time == 0 {
		t.Fatalf("pong %+v", m)
	}
	// the bucket (burst 12) is now nearly empty: a burst of pings is refused
	for i := 0; i < 5; i++ {
		c.send(`{"op":"ping"}`)
	}
	m := c.expect("error", 5*time.Second)
	if m.Code != "rate_limited" {
		t.Fatalf("want rate_limited, got %+v", m)
	}
	time.Sleep(1100 * time.Millisecond) // a token refills: the connection still works
	c.send(`{"op":"ping","id":10}`)
	for {
		m := c.expect("pong", 5*time.Second)
		if string(m.ID) == "10" {
			break
		}
	}
}

// TestCloseCodes: the close codes of the contract, each for one connection
// only: the other client keeps its stream.
func TestCloseCodes(t *testing.T) {
	ts := startServer(t, Config{RateLimit: 1, RateBurst: 1, FloodStrikes: 5, PingInterval: 50 * time.Millisecond, IdleTimeout: 400 * time.Millisecond},
		fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=3&rate=500&seed=1")
	bystander := dial(t, ts.wsURL("?symbols=AAPL"), true, nil)

	tests := []struct {
		name string
		act  func(c *client)
		code int
	}{
		{"too big", func(c *client) { c.send(`{"op":"ping","pad":"` + strings.Repeat("x", 5000) + `"}`) }, 1009},
		{"too big once inflated", func(c *client) {
			c.ws.EnableWriteCompression(true)
			c.send(`{"op":"ping","pad":"` + strings.Repeat("x", 50000) + `"}`)
		}, 1009},
		{"binary", func(c *client) { c.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) }, 1003},
		{"invalid utf-8", func(c *client) { c.ws.WriteMessage(websocket.TextMessage, []byte("{\"op\":\"\xff\xfe\"}")) }, 1007},
		{"flood", func(c *client) {
			for i := 0; i < 50; i++ {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping"}`)) != nil {
					return
				}
			}
		}, 1008},
	}
	for _, tt := range tests {
		c := dial(t, ts.wsURL(""), true, nil)
		tt.act(c)
		code, reason := c.closeCode(5 * time.Second)
		if code != tt.code {
			t.Errorf("%s: close %d %q, want %d", tt.name, code, reason, tt.code)
		}
	}

	// idle: a client that never reads never answers pings, and is closed
	idle := dial(t, ts.wsURL(""), false, nil)
	time.Sleep(800 * time.Millisecond)
	if code, reason := idle.closeCode(5 * time.Second); code != 1008 || reason != "idle timeout" {
		t.Errorf("idle: close %d %q", code, reason)
	}
	// the bystander, which reads (and so answers pings), lived through all of it
	before := bystander.updates
	for bystander.updates < before+5 {
		if _, err := bystander.read(5 * time.Second); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	}

	// a client that closes gets its code echoed
	c := dial(t, ts.wsURL(""), false, nil)
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(time.Second))
	if code, _ := c.closeCode(5 * time.Second); code != 4000 {
		t.Errorf("echoed close %d", code)
	}

	// shutdown: 1001 to everyone
	last := []*client{dial(t, ts.wsURL("?symbols=AAPL"), true, nil), dial(t, ts.wsURL(""), false, nil)}
	ts.stop()
	for _, c := range last {
		if code, reason := c.closeCode(5 * time.Second); code != 1001 || reason != "server shutting down" {
			t.Errorf("shutdown: close %d %q", code, reason)
		}
	}
}

func TestHandshake(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=3&rate=10&seed=1")
	code, body := ts.get("/ws")
	if code != http.StatusUpgradeRequired || !strings.Contains(body, "WebSocket") {
		t.Fatalf("plain GET /ws: %d %s", code, body)
	}
	for _, tt := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"wrong version", map[string]string{"Sec-WebSocket-Version": "8"}, 400},
		{"missing key", map[string]string{"Sec-WebSocket-Key": ""}, 400},
		{"short key", map[string]string{"Sec-WebSocket-Key": "abc"}, 400},
		{"key not base64", map[string]string{"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, 400},
		{"key of 17 bytes", map[string]string{"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAA="}, 400},
		{"missing version", map[string]string{"Sec-WebSocket-Version": ""}, 400},
	} {
		req, _ := http.NewRequest("GET", ts.url("/ws"), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	// no subprotocol offered: none chosen, still served
	d := websocket.Dialer{}
	ws, resp, err := d.Dial(ts.wsURL("?symbols=AAPL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "" || resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatalf("unexpected headers %v", resp.Header)
	}
}

func TestREST(t *testing.T) {
	ts := startServerWith(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, false, "replay:testdata/slash.ndjson?speed=0")
	if code, _ := ts.get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := ts.get("/readyz"); code != 503 {
		t.Fatalf("/readyz before the feeds ran: %d", code)
	}
	if code, body := ts.get("/api/symbols"); code != 200 || body != `{"symbols":["BTC-USD","EUR/USD"]}` {
		t.Fatalf("/api/symbols %d %s", code, body)
	}
	if code, body := ts.get("/api/quotes"); code != 200 || body != `{"quotes":[]}` {
		t.Fatalf("/api/quotes before data %d %s", code, body)
	}
	ts.startFeeds()
	ts.waitFeedsFinished()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := ts.get("/api/quotes/EUR%2FUSD")
		if code == 200 {
			if body != `{"s":"EUR/USD","seq":1,"ts":2,"bid":"1.08215","ask":"1.0822"}` {
				t.Fatalf("quote %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EUR/USD never published: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := ts.get("/api/quotes/EUR/USD"); code != 200 || !strings.Contains(body, `"EUR/USD"`) {
		t.Fatalf("unescaped slash: %d %s", code, body)
	}
	idle := startServerWith(t, Config{}, fanout.Config{}, false, "synthetic:?symbols=3") // declared, never quoted
	if code, body := idle.get("/api/quotes/AAPL"); code != 404 || body != `{"error":"no quote yet"}` {
		t.Errorf("a declared symbol before its first quote: %d %s, want 404 no quote yet", code, body)
	}
	if code, body := ts.get("/api/quotes/NOPE"); code != 404 || body != `{"error":"unknown symbol"}` {
		t.Fatalf("unknown: %d %s", code, body)
	}
	if code, _ := ts.get("/readyz"); code != 200 {
		t.Fatalf("/readyz after the feeds finished: %d", code)
	}
	code, body := ts.get("/")
	if code != 200 || !strings.Contains(body, "lightweight-charts") {
		t.Fatalf("dashboard %d", code)
	}
	if code, _ := ts.get("/vendor/lightweight-charts-5.2.1/LICENSE"); code != 200 {
		t.Fatalf("vendored licence not served: %d", code)
	}
	code, body = ts.get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, name := range []string{"ticker_connections ", "ticker_subscriptions ", "ticker_updates_sent_total ", "ticker_bytes_sent_total ",
		"ticker_drops_total ", `ticker_snapshots_sent_total{reason="resync"}`, `ticker_feed_quotes_total{feed="replay:testdata/slash.ndjson?speed=0"} 3`,
		`ticker_feed_errors_total{feed="replay:testdata/slash.ndjson?speed=0"} 1`, "ticker_window_flush_seconds_bucket", "ticker_window_interval_seconds_bucket", "go_goroutines", "ticker_queued_bytes "} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestBarsEndpoint: GET /api/bars/{symbol} serves the bars the server built
// from the quotes it published, in both intervals, with limit; bad
// parameters are 400, an unknown symbol 404.
func TestBarsEndpoint(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=1")
	waitQuote(t, ts, "AAPL")
	time.Sleep(1100 * time.Millisecond)
	for _, tt := range []struct {
		path, want string
		code       int
	}{
		{"/api/bars/AAPL", `{"symbol":"AAPL","interval":"1s","bars":[{"time":`, 200},
		{"/api/bars/AAPL?interval=1m&limit=1", `{"symbol":"AAPL","interval":"1m","bars":[{"time":`, 200},
		{"/api/bars/EUR-USD?interval=1s&limit=900", `"interval":"1s"`, 200},
		{"/api/bars/AAPL?interval=5m", `{"error":"interval \"5m\": want 1s or 1m"}`, 400},
		{"/api/bars/AAPL?limit=901", `{"error":"limit \"901\": want 1 to 900"}`, 400},
		{"/api/bars/AAPL?limit=x", `want 1 to 900`, 400},
		{"/api/bars/NOPE", `{"error":"unknown symbol"}`, 404},
	} {
		code, body := ts.get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", tt.path, code, body, tt.code, tt.want)
		}
	}
	_, body := ts.get("/api/bars/AAPL?interval=1s")
	sym, _, bs, err := bars.ParseJSON([]byte(body))
	if err != nil || sym != "AAPL" || len(bs) < 2 {
		t.Fatalf("1s bars of AAPL: %v, %d bars: %s", err, len(bs), body)
	}
	for i, b := range bs {
		if b.Low.Cmp(b.Open) > 0 || b.Low.Cmp(b.Close) > 0 || b.High.Cmp(b.Open) < 0 || b.High.Cmp(b.Close) < 0 || (i > 0 && b.Time <= bs[i-1].Time) {
			t.Fatalf("bar %d is not a bar: %+v", i, b)
		}
	}
	_, one := ts.get("/api/bars/AAPL?interval=1s&limit=1")
	if _, _, last, _ := bars.ParseJSON([]byte(one)); len(last) != 1 || last[0].Time != bs[len(bs)-1].Time {
		t.Errorf("limit=1: %s, want the newest of %d", one, len(bs))
	}
	t.Logf("%d 1s bars of AAPL after %v", len(bs), time.Second)
}

// TestSubscribedCarriesEpoch: a subscribe's ack carries the stream's epoch,
// so that a client learns it even when no snapshot follows (the symbol has
// no quote yet, as right after a server restarted).
func TestSubscribedCarriesEpoch(t *testing.T) {
	fixture := filepath.Join(t.TempDir(), "late.ndjson")
	if err := os.WriteFile(fixture, []byte(`{"ts":1764000000000000,"s":"AAA","bid":"1.00"}`+"\n"+
		`{"ts":1764000030000000,"s":"BBB","bid":"2.00"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond, Epoch: 1764000000777}, "replay:"+fixture+"?speed=1")
	c := dial(t, ts.wsURL(""), false, nil)
	c.send(`{"op":"subscribe","id":1,"symbols":["BBB"]}`)
	_, raw, err := c.ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"subscribed","id":1,"symbols":["BBB"],"epoch":1764000000777}`; string(raw) != want {
		t.Fatalf("ack %s, want %s", raw, want)
	}
	c.send(`{"op":"ping","id":2}`)
	if m := c.expect("pong", 5*time.Second); string(m.ID) != "2" {
		t.Fatalf("pong %+v", m)
	}
}
