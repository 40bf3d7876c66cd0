package api

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/feeds/venuetest"
)

// TestDashboardStale: when the venue feed behind two rows goes down, the
// dashboard greys both (class "stale", drawn dimmer); the venue's next quote
// of one brings that row back and leaves the other grey.
func TestDashboardStale(t *testing.T) {
	chromiumPath(t)
	venue := venuetest.Start(t, 2)
	spec := "coinbase:BTC-USD,ETH-USD?url=" + venue.URL("/") + "&silence=30s&backoff=200ms&maxbackoff=200ms"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerSet(t, ln, Config{}, fanout.Config{}, feeds.Config{StaleAfter: 0}, true, quietLog(), spec)
	c1 := venue.Next(t, 5*time.Second)
	c1.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:00Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[` +
		`{"product_id":"BTC-USD","price":"97260.5","best_bid":"97260.49","best_ask":"97260.5"},` +
		`{"product_id":"ETH-USD","price":"3100.1","best_bid":"3100","best_ask":"3100.2"}]}]}`))
	waitQuote(t, ts, "ETH-USD")

	ctx := newBrowser(t, 1400, 820, "http://"+ts.addr+"/")
	waitPage(t, ctx, "both rows, fresh", `__ticker.status() === "live" && __ticker.rows() === 2 && __ticker.staleRows().length === 0`, 30*time.Second)
	c1.Drop()
	waitPage(t, ctx, "both rows greyed", `__ticker.staleRows().join() === "BTC-USD,ETH-USD" && getComputedStyle(document.querySelector("#rows tr.stale td")).opacity < 1`, 15*time.Second)
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(screenshotDir(t), "dashboard-stale.png")
		os.WriteFile(path, png, 0o644)
		t.Logf("screenshot %s", path)
	}
	c2 := venue.Next(t, 5*time.Second)
	c2.Send([]byte(`{"channel":"ticker","timestamp":"2025-11-24T16:00:02Z","sequence_num":0,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"97261"}]}]}`))
	waitPage(t, ctx, "BTC-USD fresh again, ETH-USD still grey", `__ticker.staleRows().join() === "ETH-USD"`, 15*time.Second)
}
