package api

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/fanout"
)

// dialSmallBuffer dials with a 4 KiB receive buffer, so that a client that
// stops reading fills the kernel's buffers quickly.
func dialSmallBuffer(t *testing.T, url string) *client {
	t.Helper()
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	d := websocket.Dialer{NetDialContext: nd.DialContext, Subprotocols: []string{"ticker.v1"}}
	ws, resp, err := d.DialContext(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws, resp: resp, book: map[string]map[string]string{}}
}

// TestSlowConsumer: two clients stop reading while three keep up. The three
// get every window without a gap or a resync; one stalled client comes back
// through a resync snapshot, the other stays stuck past the limit and is
// closed 1008; queued memory stays bounded throughout.
func TestSlowConsumer(t *testing.T) {
	// room for about 15 windows of the uncompressed "*" client: a good
	// reader on a loaded CI machine (go test -race on 2 busy cores) was seen
	// to pause 84 ms, which a 16 KiB queue (two windows) did not survive
	const queueBytes = 128 << 10
	ts := startServer(t, Config{WriteTimeout: 30 * time.Second, SendBufferBytes: 8 << 10},
		fanout.Config{Window: 10 * time.Millisecond, QueueBytes: queueBytes, StuckTimeout: 1500 * time.Millisecond},
		"synthetic:?symbols=100&rate=8000&seed=3")

	type good struct {
		c      *client
		maxGap time.Duration
		err    error
	}
	goods := []*good{
		{c: dial(t, ts.wsURL("?symbols=*"), false, nil)},
		{c: dial(t, ts.wsURL("?symbols=*"), true, nil)},
		{c: dial(t, ts.wsURL("?symbols=AAPL,BTC-USD,EUR-USD,SYM0050"), true, nil)},
	}
	brief := dialSmallBuffer(t, ts.wsURL("?symbols=*"))
	stuck := dialSmallBuffer(t, ts.wsURL("?symbols=*"))
	brief.expect("update", 5*time.Second)
	stuck.expect("update", 5*time.Second)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, g := range goods {
		g.c.expect("update", 5*time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := time.Now()
			for {
				select {
				case <-stop:
					return
				default:
				}
				m, err := g.c.read(10 * time.Second)
				if err != nil {
					g.err = err
					return
				}
				if m.Type == "update" {
					if gap := time.Since(last); gap > g.maxGap {
						g.maxGap = gap
					}
					last = time.Now()
				}
			}
		}()
	}

	// both stall; sample the memory held for them
	maxQueued := 0
	sample := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			maxQueued = max(maxQueued, ts.srv.QueuedBytes())
		}
	}
	sample(600 * time.Millisecond)
	if ts.engine.Stats().Drops.Load() == 0 {
		t.Fatal("no drops: the stalled clients never overflowed")
	}

	// the brief one reads again: a resync snapshot restarts its stream
	for brief.resyncs == 0 {
		if _, err := brief.read(5 * time.Second); err != nil {
			t.Fatalf("brief staller: %v (after %d updates)", err, brief.updates)
		}
	}
	before := brief.updates
	for brief.updates < before+20 {
		if _, err := brief.read(5 * time.Second); err != nil {
			t.Fatalf("brief staller after resync: %v", err)
		}
	}
	brief.ws.Close() // done with it; left unread it would become stuck too

	// the stuck one stays stalled past the limit: its writer is blocked, so
	// the close frame cannot get through and the socket is cut
	sample(2 * time.Second)
	code, reason, err := stuck.closeResult(10 * time.Second)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || err == nil && (code != 1008 || reason != "slow consumer") {
		t.Fatalf("stuck client: close %d %q, %v; want 1008 \"slow consumer\" or a cut connection", code, reason, err)
	}
	close(stop)
	wg.Wait()

	for i, g := range goods {
		if g.err != nil {
			t.Fatalf("good client %d: %v", i, g.err)
		}
		if g.c.resyncs != 0 {
			t.Errorf("good client %d was resynced %d times", i, g.c.resyncs)
		}
		if g.maxGap > time.Second {
			t.Errorf("good client %d waited %v for an update", i, g.maxGap)
		}
		t.Logf("good client %d: %d updates, longest gap %v", i, g.c.updates, g.maxGap.Round(time.Millisecond))
	}
	// every queue is held to its limit (plus at most one message over it)
	if limit := 5 * 2 * queueBytes; maxQueued > limit {
		t.Errorf("queued bytes reached %d, limit %d", maxQueued, limit)
	}
	st := ts.engine.Stats()
	if st.SlowClosed.Load() != 1 || st.Resyncs.Load() == 0 {
		t.Errorf("slow closed %d, resyncs %d", st.SlowClosed.Load(), st.Resyncs.Load())
	}
	t.Logf("max queued %d bytes; drops %d, resyncs %d, slow closed %d", maxQueued, st.Drops.Load(), st.Resyncs.Load(), st.SlowClosed.Load())
}
