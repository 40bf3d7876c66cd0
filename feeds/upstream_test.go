package feeds

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ticker-io/ticker/feeds/venuetest"
)

// TestUpstreamAckIsNotDelivery: a venue that acknowledges the subscription
// and then closes, again and again, is redialled ever more slowly: only a
// quote resets the backoff, not an ack (Binance limits connection attempts
// per IP). Delays are checked from below only (they double from 100ms:
// 50–100, 100–200, 200–400, 400–800 ms), so a slow machine cannot fail
// the test; after a connection that brought a quote the delay starts over.
func TestUpstreamAckIsNotDelivery(t *testing.T) {
	venue := venuetest.Start(t, 1)
	const lo = 100 * time.Millisecond
	f, err := Parse("binance:btcusdt?url=" + venue.URL("/stream") + "&backoff=100ms&maxbackoff=10s&silence=10s")
	if err != nil {
		t.Fatal(err)
	}
	f.(*Binance).SetLogger(slog.New(slog.DiscardHandler))
	sink := &collectSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()

	ack := []byte(`{"result":null,"id":1}`)
	quote := []byte(`{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"2","A":"1"}}`)
	var closed time.Time
	var gaps []time.Duration
	c := venue.Next(t, 5*time.Second)
	for i := 0; i < 5; i++ {
		if err := c.Send(ack); err != nil {
			t.Fatal(err)
		}
		if i == 4 { // the fifth connection delivers a quote before it closes
			if err := c.Send(quote); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the quote", func() bool {
				sink.mu.Lock()
				defer sink.mu.Unlock()
				return len(sink.quotes) == 1
			})
		}
		c.Close(1000, "")
		closed = time.Now()
		c = venue.Next(t, 10*time.Second)
		gaps = append(gaps, time.Since(closed))
	}
	t.Logf("redialled after %v", gaps)
	for i, g := range gaps[:4] {
		if floor := lo << i / 2; g < floor {
			t.Errorf("redial %d after %v, want at least %v: the backoff was reset by an ack", i+1, g, floor)
		}
	}
	if g := gaps[4]; g >= 8*lo/2 {
		t.Errorf("redial after a connection that delivered a quote: %v, want the first step again (under %v)", g, 8*lo/2)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.malformed) != 0 {
		t.Errorf("acks counted as bad input: %v", sink.malformed)
	}
}
