package assemble

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

type countTap struct{ versions atomic.Int64 }

func (t *countTap) Version([]byte, *market.Quote) { t.versions.Add(1) }
func (t *countTap) Window(time.Time)              {}

type notReady struct{}

func (notReady) Ready() bool              { return false }
func (notReady) Statuses() []feeds.Status { return nil }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBuild: a built node serves its feeds' quotes, aggregates bars from
// what its engine versions beside a Tap of its own, and takes what Wire
// sets (here a status that is never ready) into its server.
func TestBuild(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := feeds.Parse("synthetic:?symbols=3&rate=300&seed=1")
	if err != nil {
		t.Fatal(err)
	}
	set, err := feeds.NewSet(log, f)
	if err != nil {
		t.Fatal(err)
	}
	tap := &countTap{}
	wired := false
	b, err := Build(Options{Feeds: set, Fanout: fanout.Config{Window: 10 * time.Millisecond, Tap: tap}, Log: log,
		Wire: func(b *Built, acfg *api.Config, status *api.FeedStatus) error {
			if b.Engine == nil || b.Bars == nil || b.Server != nil {
				t.Errorf("Wire sees engine %v, bars %v, server %v: want the first two and no server yet", b.Engine, b.Bars, b.Server)
			}
			wired = true
			*status = notReady{}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !wired {
		t.Fatal("Wire was not called")
	}
	if b.Ring.Cap() != market.DefaultRingCapacity {
		t.Errorf("ring of %d, want the default %d", b.Ring.Cap(), market.DefaultRingCapacity)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.Node.Start(ln)
	defer b.Node.Stop()
	base := "http://" + ln.Addr().String()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, base+"/api/bars/AAPL")
		if code == 200 && strings.Contains(body, `"open":`) && tap.versions.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bars for AAPL within 5s (%d %s), tap saw %d versions", code, body, tap.versions.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz %d with Wire's never-ready status, want 503", code)
	}
}

func TestBuildRefusesBadRing(t *testing.T) {
	if _, err := Build(Options{RingSize: 1}); err == nil || !strings.Contains(err.Error(), "Capacity") {
		t.Errorf("RingSize 1: %v, want the ring's capacity error", err)
	}
}
