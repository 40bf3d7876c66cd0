package api

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds/venuetest"
)

// metric returns the value of the first /metrics sample whose line starts
// with prefix (name and labels), or -1.
func metric(body, prefix string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(prefix):]), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestVenueFeedEndToEnd runs the service on a Coinbase feed whose upstream
// is a local fake venue: /readyz follows the feed's health (503 until it
// delivers, 503 while it reconnects, 200 again after), its quotes reach a
// WebSocket client with exact decimals, and /metrics carries the feed's
// messages, errors, reconnects, sequence gaps and lag.
func TestVenueFeedEndToEnd(t *testing.T) {
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD,ETH-USD?url=" + venue.URL("/") + "&silence=5s&backoff=1s&maxbackoff=1s"
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, spec)
	feed := `feed="coinbase:BTC-USD,ETH-USD"`

	c1 := venue.Next(t, 5*time.Second)
	if code, _ := ts.get("/readyz"); code != 503 {
		t.Fatalf("/readyz before any quote: %d", code)
	}
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00.123456Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[{"product_id":"BTC-USD","price":"97260.5","best_bid":"97260.49","best_bid_quantity":"0.00000001","best_ask":"97260.5","best_ask_quantity":"123456789.123456789"}]}]}`))
	c1.Send([]byte(`not json`))
	c1.Send([]byte(`{"channel":"heartbeats","timestamp":"2025-11-24T16:00:01Z","sequence_num":3,"events":[{"heartbeat_counter":1}]}`))
	waitReady(t, ts, 200)
	waitQuote(t, ts, "BTC-USD") // ready means the feed delivered; the engine applies it at the window's end

	cl := dial(t, ts.wsURL("?symbols=BTC-USD"), true, nil)
	snap := cl.expect("snapshot", 5*time.Second)
	q := cl.book["BTC-USD"]
	if len(snap.Quotes) != 1 || q["bid"] != "97260.49" || q["bid_size"] != "0.00000001" || q["ask_size"] != "123456789.123456789" || q["last"] != "97260.5" {
		t.Fatalf("snapshot %s → %v", snap.Quotes, q)
	}

	_, body := ts.get("/metrics")
	for name, want := range map[string]float64{
		"ticker_feed_messages_total{" + feed + "}":      3,
		"ticker_feed_errors_total{" + feed + "}":        1,
		"ticker_feed_sequence_gaps_total{" + feed + "}": 1,
		"ticker_feed_reconnects_total{" + feed + "}":    0,
		"ticker_feed_connected{" + feed + "}":           1,
		"ticker_feed_quotes_total{" + feed + "}":        1,
		"ticker_feed_lag_seconds_count{" + feed + "}":   1,
	} {
		if got := metric(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if !regexp.MustCompile(`ticker_feed_lag_seconds_bucket\{feed="coinbase:BTC-USD,ETH-USD",le="0.001"\} 0`).MatchString(body) {
		t.Error("no lag histogram buckets")
	}

	// the venue drops: not ready while reconnecting (1 s backoff), ready again after
	c1.Drop()
	waitReady(t, ts, 503)
	c2 := venue.Next(t, 5*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:02Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"97261","best_bid":"97260.99"}]}]}`))
	waitReady(t, ts, 200)
	for {
		m := cl.expect("update", 5*time.Second)
		if len(m.Quotes) > 0 && cl.book["BTC-USD"]["last"] == "97261" {
			break
		}
	}
	if q := cl.book["BTC-USD"]; q["bid"] != "97260.99" || q["ask"] != "97260.5" {
		t.Errorf("book after update: %v", q)
	}
	_, body = ts.get("/metrics")
	if got := metric(body, "ticker_feed_reconnects_total{"+feed+"}"); got != 1 {
		t.Errorf("reconnects %v, want 1", got)
	}
}

func waitReady(t *testing.T, ts *testServer, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := ts.get("/readyz")
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz stayed %d, want %d", code, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
