package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/feeds/venuetest"
	"github.com/ticker-io/ticker/internal/natstest"
)

// TestStaleThroughCluster: an ingest's venue feed that goes down marks its
// symbols stale, and the edge's clients get it as a version like any other
// (seq + 1, no gap), its REST quotes and a new client's snapshot show it,
// and the venue's next quote clears it: no protocol of the cluster's own.
func TestStaleThroughCluster(t *testing.T) {
	nc := natstest.Start(t, 1)
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD,ETH-USD?url=" + venue.URL("/") + "&silence=5s&backoff=1s&maxbackoff=1s"
	ing := startIngest(t, connect(t, nc.URL(0)), "ingest-1", spec) // marks after feeds.DefaultConfig's 2 s
	ing.waitLeader(t, 15*time.Second)
	edge := startEdge(t, connect(t, nc.URL(0)))
	c1 := venue.Next(t, 10*time.Second)
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[` +
		`{"product_id":"BTC-USD","price":"97260.5","best_bid":"97260.49","best_ask":"97260.5"},` +
		`{"product_id":"ETH-USD","price":"3100.1","best_bid":"3100","best_ask":"3100.2"}]}]}`))
	for _, sym := range []string{"BTC-USD", "ETH-USD"} { // the edge learns a symbol with its first version
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if code, _ := httpGet(t, "http://"+edge.addr+"/api/quotes/"+sym); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the edge has no %s quote", sym)
			}
		}
	}
	b := dialBook(t, edge.addr, "BTC-USD,ETH-USD")
	staleIs := func(b *book, want map[string]any) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for sym, w := range want {
			q, ok := b.quotes[sym]
			if !ok || q["last"] == nil || (q["stale"] != w && !(w == false && q["stale"] == nil)) {
				return false
			}
		}
		return true
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.mu.Lock()
				defer b.mu.Unlock()
				t.Fatalf("%s: not within 15s; book %v", what, b.quotes)
			}
		}
	}
	waitFor("the first quotes", func() bool { return staleIs(b, map[string]any{"BTC-USD": false, "ETH-USD": false}) })
	b.mu.Lock()
	seqBefore := b.quotes["BTC-USD"]["seq"].(float64)
	b.mu.Unlock()

	c1.Drop()
	waitFor("stale on the edge", func() bool { return staleIs(b, map[string]any{"BTC-USD": true, "ETH-USD": true}) })
	b.mu.Lock()
	if got := b.quotes["BTC-USD"]["seq"].(float64); got != seqBefore+1 {
		t.Errorf("BTC-USD seq %v when stale, want %v", got, seqBefore+1)
	}
	b.mu.Unlock()
	if code, body := httpGet(t, "http://"+edge.addr+"/api/quotes/ETH-USD"); code != 200 || !strings.Contains(body, `"stale":true`) {
		t.Errorf("edge /api/quotes/ETH-USD: %d %s", code, body)
	}
	late := dialBook(t, edge.addr, "BTC-USD,ETH-USD")
	waitFor("stale in a new client's snapshot", func() bool { return staleIs(late, map[string]any{"BTC-USD": true, "ETH-USD": true}) })

	c2 := venue.Next(t, 10*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:02Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"97261"}]}]}`))
	waitFor("BTC-USD fresh again", func() bool { return staleIs(b, map[string]any{"BTC-USD": false, "ETH-USD": true}) })
	waitFor("BTC-USD fresh again for the late client", func() bool {
		return staleIs(late, map[string]any{"BTC-USD": false, "ETH-USD": true})
	})
	b.check("client")
	late.check("late client")
}
