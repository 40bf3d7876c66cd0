package api

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"ticker/fanout"
)

// TestShutdownLeavesNoGoroutines: with clients connected and streaming,
// shutdown sends each 1001, and afterwards every goroutine the server, the
// engine, the feeds and the connections started has ended.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=20&rate=2000&seed=1")
	var clients []*client
	for i := 0; i < 20; i++ {
		c := dial(t, ts.wsURL("?symbols=*"), i%2 == 0, nil)
		c.expect("update", 5*time.Second)
		clients = append(clients, c)
	}
	if n := ts.srv.Connections(); n != 20 {
		t.Fatalf("%d connections", n)
	}
	ts.stop()
	for i, c := range clients {
		if code, _ := c.closeCode(5 * time.Second); code != 1001 {
			t.Fatalf("client %d: close %d", i, code)
		}
		c.ws.Close()
	}
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
		if strings.Contains(g, "ticker/") || strings.Contains(g, "fasthttp/websocket") || strings.Contains(g, "contrib/websocket") {
			out = append(out, g)
		}
	}
	return out
}
