package api

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/feeds/venuetest"
)

// TestVenueDownMarksStale: a venue feed that loses its connection marks
// every symbol it delivered stale: each gets one update of seq + 1 holding
// only "stale":true (ts kept); REST and a new subscriber's snapshot show
// "stale":true; the first quote after the venue comes back carries
// "stale":false, and only for the symbol it names. Stale marks are not
// counted as the feed's quotes.
func TestVenueDownMarksStale(t *testing.T) {
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD,ETH-USD,SOL-USD?url=" + venue.URL("/") + "&silence=5s&backoff=1s&maxbackoff=1s"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// a mark 100 ms after the loss, while the feed waits its 1 s backoff
	ts := startServerSet(t, ln, Config{}, fanout.Config{Window: 10 * time.Millisecond},
		feeds.Config{StaleAfter: 100 * time.Millisecond}, true, quietLog(), spec)

	c1 := venue.Next(t, 5*time.Second)
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[` +
		`{"product_id":"BTC-USD","price":"97260.5","best_bid":"97260.49","best_bid_quantity":"1","best_ask":"97260.5","best_ask_quantity":"2"},` +
		`{"product_id":"ETH-USD","price":"3100.1","best_bid":"3100","best_bid_quantity":"3","best_ask":"3100.2","best_ask_quantity":"4"}]}]}`))
	waitQuote(t, ts, "BTC-USD")
	waitQuote(t, ts, "ETH-USD")

	cl := dial(t, ts.wsURL("?symbols=BTC-USD,ETH-USD,SOL-USD"), false, nil)
	cl.expect("snapshot", 5*time.Second)
	before := map[string]map[string]string{}
	for _, sym := range []string{"BTC-USD", "ETH-USD"} {
		q := cl.book[sym]
		if q["stale"] != "" {
			t.Fatalf("%s stale in the first snapshot: %v", sym, q)
		}
		before[sym] = map[string]string{"seq": q["seq"], "ts": q["ts"]}
	}

	c1.Drop()
	deltas := map[string]string{}
	for len(deltas) < 2 {
		m := cl.expect("update", 5*time.Second) // apply checks seq + 1
		for _, raw := range m.Quotes {
			d, _ := decodeQuote(raw)
			if d["stale"] != "true" {
				t.Fatalf("an update before the stale marks: %s", raw)
			}
			deltas[d["s"]] = string(raw)
		}
	}
	for sym, b := range before {
		want := `{"s":"` + sym + `","seq":` + itoa(int(atoi(b["seq"]))+1) + `,"ts":` + b["ts"] + `,"stale":true}`
		if deltas[sym] != want {
			t.Errorf("stale delta %s, want %s", deltas[sym], want)
		}
	}
	if _, ok := deltas["SOL-USD"]; ok {
		t.Errorf("SOL-USD, never quoted, was marked: %s", deltas["SOL-USD"])
	}

	// REST and a new subscriber's snapshot say it too
	for _, sym := range []string{"BTC-USD", "ETH-USD"} {
		if _, body := ts.get("/api/quotes/" + sym); !strings.HasSuffix(body, `,"stale":true}`) {
			t.Errorf("/api/quotes/%s while down: %s", sym, body)
		}
	}
	if _, body := ts.get("/api/quotes"); strings.Count(body, `"stale":true`) != 2 {
		t.Errorf("/api/quotes while down: %s", body)
	}
	cl2 := dial(t, ts.wsURL("?symbols=BTC-USD,ETH-USD"), true, nil)
	snap := cl2.expect("snapshot", 5*time.Second)
	for _, raw := range snap.Quotes {
		var q struct {
			Stale *bool `json:"stale"`
		}
		if err := json.Unmarshal(raw, &q); err != nil || q.Stale == nil || !*q.Stale {
			t.Errorf("snapshot quote while down: %s", raw)
		}
	}

	// back: BTC-USD's next quote makes it fresh, ETH-USD stays stale
	c2 := venue.Next(t, 5*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:02Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"97261","best_bid":"97260.99"}]}]}`))
	m := cl.expect("update", 5*time.Second)
	if len(m.Quotes) != 1 {
		t.Fatalf("update after the venue came back: %s", m.Raw)
	}
	d, _ := decodeQuote(m.Quotes[0])
	if d["s"] != "BTC-USD" || d["stale"] != "false" || d["seq"] != itoa(int(atoi(before["BTC-USD"]["seq"]))+2) || d["last"] != "97261" {
		t.Errorf("update after the venue came back: %s", m.Quotes[0])
	}
	if _, body := ts.get("/api/quotes/BTC-USD"); strings.Contains(body, "stale") {
		t.Errorf("/api/quotes/BTC-USD after a quote: %s", body)
	}
	if _, body := ts.get("/api/quotes/ETH-USD"); !strings.Contains(body, `"stale":true`) {
		t.Errorf("/api/quotes/ETH-USD without a quote since: %s", body)
	}
	_, body := ts.get("/metrics")
	if got := metric(body, `ticker_feed_quotes_total{feed="coinbase:BTC-USD,ETH-USD,SOL-USD"}`); got != 3 {
		t.Errorf("ticker_feed_quotes_total %v, want 3 (stale marks are not quotes)", got)
	}

	// both API documents describe every key of these quotes
	var keys []string
	for _, raw := range append(snap.Quotes, m.Quotes[0]) {
		var q map[string]any
		json.Unmarshal(raw, &q)
		for k := range q {
			keys = append(keys, k)
		}
	}
	for _, path := range []string{"/asyncapi.yaml", "/openapi.yaml"} {
		props, _ := lookup(fetchYAML(t, ts, path), "#/components/schemas/Quote/properties").(map[string]any)
		for _, k := range keys {
			if _, ok := props[k]; !ok {
				t.Errorf("%s: Quote lacks %q", path, k)
			}
		}
	}
}

// TestVenueBlipWithinStaleAfter: a connection lost and replaced, with a
// quote, sooner than StaleAfter shows clients nothing but the quote.
func TestVenueBlipWithinStaleAfter(t *testing.T) {
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD?url=" + venue.URL("/") + "&silence=5s&backoff=10ms&maxbackoff=10ms"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerSet(t, ln, Config{}, fanout.Config{Window: 10 * time.Millisecond},
		feeds.Config{StaleAfter: time.Minute}, true, quietLog(), spec)
	c1 := venue.Next(t, 5*time.Second)
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[{"product_id":"BTC-USD","price":"1","best_bid":"1","best_ask":"2"}]}]}`))
	waitQuote(t, ts, "BTC-USD")
	cl := dial(t, ts.wsURL("?symbols=BTC-USD"), false, nil)
	cl.expect("snapshot", 5*time.Second)
	c1.Drop()
	c2 := venue.Next(t, 5*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:01Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"1.5"}]}]}`))
	m := cl.expect("update", 5*time.Second)
	if len(m.Quotes) != 1 || strings.Contains(string(m.Quotes[0]), "stale") || cl.book["BTC-USD"]["last"] != "1.5" {
		t.Errorf("update after a blip: %s", m.Raw)
	}
}
