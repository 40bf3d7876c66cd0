package client

import (
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/feeds/venuetest"
)

// TestClientStale: a server whose venue feed goes down (a fake Coinbase
// that drops the connection) marks its symbols stale: the client's quotes
// say Stale with seq + 1 and their values kept, a late client's snapshot
// says it too, and the venue's next quote clears it for its symbol only.
// The book stays equal to the server's quotes throughout.
func TestClientStale(t *testing.T) {
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD,ETH-USD?url=" + venue.URL("/") + "&backoff=50ms&maxbackoff=50ms"
	srv := startServer(t, "127.0.0.1:0", api.Config{}, spec) // stale after feeds.DefaultConfig's 2 s
	c1 := venue.Next(t, 5*time.Second)
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[` +
		`{"product_id":"BTC-USD","price":"97260.5","best_bid":"97260.49","best_ask":"97260.5"},` +
		`{"product_id":"ETH-USD","price":"3100.1","best_bid":"3100","best_ask":"3100.2"}]}]}`))
	eventually(t, "both quoted on the server", 10*time.Second, func() bool { return len(srv.engine.Quotes()) == 2 })

	var mu sync.Mutex
	var deltas []Quote
	url := "ws://" + srv.addr + "/ws"
	c := New(Options{URL: url, Symbols: []string{"BTC-USD", "ETH-USD"}, OnUpdate: func(u Update) {
		if !u.Snapshot {
			mu.Lock()
			deltas = append(deltas, u.Delta)
			mu.Unlock()
		}
	}})
	run(t, c)
	eventually(t, "the snapshot", 10*time.Second, func() bool { return len(c.Book()) == 2 })
	before := c.Book()
	for _, q := range before {
		if q.Stale {
			t.Fatalf("stale before the venue went down: %+v", q)
		}
	}
	inSync := func() bool { ok, _ := sameBook(c, srv.engine.Quotes()); return ok }

	c1.Drop()
	eventually(t, "both stale", 10*time.Second, func() bool {
		b := c.Book()
		return b["BTC-USD"].Stale && b["ETH-USD"].Stale && inSync()
	})
	for sym, q := range c.Book() {
		if b := before[sym]; q.Seq != b.Seq+1 || !q.Time.Equal(b.Time) || !q.Last.Decimal.Equal(b.Last.Decimal) {
			t.Errorf("%s stale: %+v, was %+v", sym, q, b)
		}
	}
	late := New(Options{URL: url, Symbols: []string{"ETH-USD"}})
	run(t, late)
	eventually(t, "a late client's snapshot says stale", 10*time.Second, func() bool { q, ok := late.Quote("ETH-USD"); return ok && q.Stale })

	c2 := venue.Next(t, 5*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:02Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"97261"}]}]}`))
	eventually(t, "BTC-USD fresh", 10*time.Second, func() bool {
		q, _ := c.Quote("BTC-USD")
		return !q.Stale && q.Seq == before["BTC-USD"].Seq+2 && inSync()
	})
	if q, _ := c.Quote("ETH-USD"); !q.Stale {
		t.Errorf("ETH-USD fresh without a quote: %+v", q)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(deltas); n != 3 || !deltas[0].Stale || !deltas[1].Stale || deltas[2].Stale || deltas[2].Symbol != "BTC-USD" || !deltas[2].Last.Valid || deltas[0].Bid.Valid {
		t.Errorf("deltas %+v", deltas)
	}
	if c.Gaps() != 0 {
		t.Errorf("%d gaps", c.Gaps())
	}
}
