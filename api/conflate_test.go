package api

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/fanout"
)

// TestConflatedSubscribe replays a fixture to subscribers over the wire: a
// ticker.v1 subscriber at the window beside subscribers that asked for
// "every" (by message and on the URL, one of which changes its interval
// half-way). Every entry continues its symbol (from, or seq, is the last
// seq + 1: the test client's apply checks it); conflated updates come at
// least an interval apart by the server's own clock; the window subscriber
// gets no "from"; and at the end every book equals /api/quotes.
func TestConflatedSubscribe(t *testing.T) {
	const window = 10 * time.Millisecond
	ts := startServerWith(t, Config{}, fanout.Config{Window: window}, false, "replay:"+cryptoFixture+"?speed=10")

	type sub struct {
		name  string
		query string
		op    string
		ack   string // the "every" the ack must carry ("": none)
		every time.Duration
		syms  []string
	}
	subs := []sub{
		{"v1 window", "", `{"op":"subscribe","id":1,"symbols":["*"]}`, "", window, nil},
		{"every 100ms", "", `{"op":"subscribe","id":2,"symbols":["*"],"every":"100ms"}`, `"every":"100ms"`, 100 * time.Millisecond, nil},
		{"url every 200ms", "?symbols=BTC-USD,ETH-USD&every=200ms", "", `"every":"200ms"`, 200 * time.Millisecond, []string{"BTC-USD", "ETH-USD"}},
		{"deflate, changes to 30ms", "", `{"op":"subscribe","id":4,"symbols":["*"],"every":"1s"}`, `"every":"1s"`, time.Second, nil},
	}
	clients := make([]*client, len(subs))
	for i, s := range subs {
		clients[i] = dial(t, ts.wsURL(s.query), i == 3, nil)
		if s.op != "" {
			clients[i].send(s.op)
		}
		ack := clients[i].expect("subscribed", 5*time.Second)
		if s.ack != "" && !strings.Contains(string(ack.Raw), s.ack) || s.ack == "" && strings.Contains(string(ack.Raw), "every") {
			t.Fatalf("%s: ack %s", s.name, ack.Raw)
		}
	}
	ts.startFeeds()

	var wg sync.WaitGroup
	var mu sync.Mutex
	stopped := false
	errs := make([]error, len(clients))
	changed := make(chan struct{})
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last int64
			every := subs[i].every
			fail := func(err error) {
				mu.Lock()
				if !stopped && errs[i] == nil {
					errs[i] = err
				}
				mu.Unlock()
			}
			for {
				m, err := c.read(30 * time.Second)
				if err != nil {
					fail(err)
					return
				}
				if i == 3 && m.Type == "subscribed" {
					every, last = 30*time.Millisecond, 0 // the new interval, from the snapshot that follows
					close(changed)
				}
				if m.Type != "update" {
					continue
				}
				conflated := strings.Contains(string(m.Raw), `"from":`)
				if conflated != (every > window) {
					fail(fmt.Errorf("every %v, yet an update %s", every, m.Raw))
				}
				// the time of the window that built it: a tick is a whole
				// number of windows after the last
				if last != 0 && m.Time-last < (every-window/2).Microseconds() {
					fail(fmt.Errorf("updates %dµs apart at every %v", m.Time-last, every))
				}
				last = m.Time
			}
		}()
	}
	time.Sleep(1200 * time.Millisecond)
	// change an interval by subscribing again: a snapshot, then updates
	// continuing from it at the new interval
	clients[3].send(`{"op":"subscribe","id":5,"symbols":["BTC-USD"],"every":"30ms"}`)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no ack to the change of interval; readers: %v", errs)
	}
	ts.waitFeedsFinished()
	time.Sleep(1500 * time.Millisecond) // past the longest interval after the last line
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
	for i, c := range clients {
		syms := subs[i].syms
		if syms == nil {
			for s := range restBook {
				syms = append(syms, s)
			}
		}
		if len(c.book) != len(syms) {
			t.Errorf("%s: book has %d symbols, want %d", subs[i].name, len(c.book), len(syms))
		}
		for _, s := range syms {
			if fmt.Sprint(c.book[s]) != fmt.Sprint(restBook[s]) {
				t.Errorf("%s %s:\n got %v\nwant %v", subs[i].name, s, c.book[s], restBook[s])
			}
		}
	}
	v1, at100 := clients[0].updates, clients[1].updates
	t.Logf("updates: %d at the window, %d at 100ms, %d at 200ms, %d at 1s then 30ms", v1, at100, clients[2].updates, clients[3].updates)
	if at100 == 0 || at100*5 > v1 {
		t.Fatalf("%d updates at 100ms against %d at the 10ms window", at100, v1)
	}
}

// TestConflatedBadEvery: an interval the server cannot serve is refused
// with bad_request, subscribes nothing and leaves the connection open; on
// the URL, a malformed one is refused before the upgrade.
func TestConflatedBadEvery(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=3")
	waitQuote(t, ts, "AAPL")
	c := dial(t, ts.wsURL(""), false, nil)
	for _, tt := range []struct{ every, message string }{
		{`"15ms"`, `"every" must be a multiple of the server's window (10ms), at most 60s; nothing was subscribed`},
		{`"5ms"`, `"every" must be a multiple of the server's window (10ms), at most 60s; nothing was subscribed`},
		{`"1.5s"`, `"every" must be a whole number of ms, s or m, such as "1s" or "250ms", at most 60s`},
		{`"2m"`, `"every" must be a whole number of ms, s or m, such as "1s" or "250ms", at most 60s`},
		{`1000`, `"every" must be a string such as "1s" or "250ms"`},
	} {
		c.send(`{"op":"subscribe","id":7,"symbols":["AAPL"],"every":` + tt.every + `}`)
		m := c.expect("error", 5*time.Second)
		if m.Code != "bad_request" || m.Message != tt.message || string(m.ID) != "7" {
			t.Errorf("every %s: %s", tt.every, m.Raw)
		}
	}
	c.send(`{"op":"ping","id":8}`)
	c.expect("pong", 5*time.Second)
	if len(c.book) != 0 || c.updates != 0 {
		t.Fatalf("a refused subscribe subscribed: %v", c.book)
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(ts.wsURL("?symbols=AAPL&every=soon"), nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("?every=soon: %v %v", resp, err)
	}
	// a well-formed interval the window does not divide is refused there too,
	// so that a client learns it from the handshake, as for a malformed one
	_, resp, err = d.Dial(ts.wsURL("?symbols=AAPL&every=15ms"), nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("?every=15ms: %v %v, want 400", resp, err)
	}
	// an empty every is refused as a subscribe's "every":"" is
	_, resp, err = d.Dial(ts.wsURL("?symbols=AAPL&every="), nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("?every= (empty): %v %v, want 400", resp, err)
	}
	// every is the cadence of ?symbols=: alone it would be dropped without a word
	_, resp, err = d.Dial(ts.wsURL("?every=1s"), nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("?every=1s without symbols: %v %v, want 400", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "symbols") {
		t.Errorf("?every=1s without symbols: %s, want the error to name symbols", b)
	}
}

// TestAsyncAPIConflation: what a conflated session sends is in the
// AsyncAPI document: the request's every, the ack's every, and every key
// of a conflated entry (from among them) in the Delta schema.
func TestAsyncAPIConflation(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=1")
	doc := fetchYAML(t, ts, "/asyncapi.yaml")
	props := func(ref string) map[string]any {
		s := deref(doc, lookup(doc, ref))
		out := map[string]any{}
		parts, _ := s["allOf"].([]any)
		for _, part := range append(parts, s) {
			p, _ := deref(doc, part)["properties"].(map[string]any)
			for k, v := range p {
				out[k] = v
			}
		}
		return out
	}
	request, ack, delta := props("#/components/schemas/SymbolsRequest"), props("#/components/schemas/Ack"), props("#/components/schemas/Delta")
	if request["every"] == nil {
		t.Error("the subscribe request's every is not documented")
	}
	query := lookup(doc, "#/channels/market/bindings/ws/query/properties/every")
	if query == nil {
		t.Error("?every= is not documented")
	}

	waitQuote(t, ts, "AAPL")
	c := dial(t, ts.wsURL(""), false, nil)
	c.send(`{"op":"subscribe","id":1,"symbols":["*"],"every":"50ms"}`)
	m := c.expect("subscribed", 5*time.Second)
	var top map[string]json.RawMessage
	json.Unmarshal(m.Raw, &top)
	for k := range top {
		if ack[k] == nil {
			t.Errorf("the ack's %q is not documented", k)
		}
	}
	for got := 0; got < 5; {
		m := c.expect("update", 5*time.Second)
		for _, raw := range m.Quotes {
			var q map[string]json.RawMessage
			json.Unmarshal(raw, &q)
			if q["from"] == nil {
				t.Fatalf("a conflated entry without from: %s", raw)
			}
			for k := range q {
				if delta[k] == nil {
					t.Errorf("a conflated entry's %q is not in the Delta schema", k)
				}
			}
			got++
		}
	}
}
