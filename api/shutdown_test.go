package api

import (
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
)

// TestShutdownLeavesNoGoroutines: with clients connected and streaming,
// shutdown sends each 1001, and afterwards every goroutine the server, the
// engine, the feeds and the connections started has ended.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	ts := startServer(t, Config{CloseGrace: time.Second}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=50&rate=20000&seed=1")
	// Under load: 100 clients streaming every symbol at 20,000 changes/s,
	// 80 of them reading and 20 that stopped reading (4 KiB receive
	// buffers, full), so the server's writes to them block.
	const readers, stallers = 80, 20
	var clients, stalled []*client
	for i := 0; i < readers; i++ {
		c := dial(t, ts.wsURL("?symbols=*"), i%2 == 0, nil)
		c.expect("update", 5*time.Second)
		clients = append(clients, c)
	}
	for i := 0; i < stallers; i++ {
		stalled = append(stalled, dialSmallBuffer(t, ts.wsURL("?symbols=*")))
	}
	// a client sees the 101 a moment before the server has registered its
	// connection: wait for all of them
	waitConns(t, ts, readers+stallers)
	// Keep the readers reading until the close, so they are under load
	// when shutdown begins.
	codes := make([]int, readers)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = c.closeResult(20 * time.Second)
		}()
	}
	time.Sleep(200 * time.Millisecond) // the stallers' buffers fill
	start := time.Now()
	ts.stop()
	took := time.Since(start)
	wg.Wait()
	for i, code := range codes {
		if code != 1001 {
			t.Errorf("reading client %d: close %d, want 1001", i, code)
		}
	}
	// A staller that reads again finds its buffered data, then the 1001
	// if the server could still write it, or the end of the connection;
	// it never hangs.
	got1001 := 0
	for i, c := range stalled {
		code, _, err := c.closeResult(10 * time.Second)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("stalled client %d: connection still open 10s after shutdown", i)
		}
		switch code {
		case 1001:
			got1001++
		case 1006:
		default:
			t.Errorf("stalled client %d: close %d", i, code)
		}
		c.ws.Close()
	}
	for _, c := range clients {
		c.ws.Close()
	}
	t.Logf("shutdown of %d streaming + %d stalled clients took %v; every reader got 1001, %d of %d stallers did",
		readers, stallers, took.Round(time.Millisecond), got1001, stallers)
	// fasthttp keeps a process-wide date updater and lets its worker-pool
	// cleaner sleep out its 10s period, so counting all goroutines says
	// little; what must not survive is any goroutine running our code or a
	// connection's.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := ours()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of ours survived shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ours returns the stacks of goroutines running ticker's code or the
// WebSocket libraries, other than the test's own.
func ours() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*M)") {
			continue
		}
		if strings.Contains(g, "github.com/ticker-io/ticker/") || strings.Contains(g, "fasthttp/websocket") || strings.Contains(g, "contrib/websocket") {
			out = append(out, g)
		}
	}
	return out
}
