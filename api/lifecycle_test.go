package api

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

// TestNewStartsNoGoroutine: New only builds; Serve starts the ping
// sweeper, and Shutdown ends it. A server shut down without serving
// starts none.
func TestNewStartsNoGoroutine(t *testing.T) {
	sweepers := func() int {
		n := 0
		for _, g := range ours() {
			if strings.Contains(g, "pingSweeper") {
				n++
			}
		}
		return n
	}
	set, err := feeds.NewSet(quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ring := market.NewRing(16)
	engine, err := fanout.New(fanout.Config{}, ring, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, engine, set, ring, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if n := sweepers(); n != 0 {
		t.Fatalf("%d ping sweepers after New", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	for deadline := time.Now().Add(5 * time.Second); sweepers() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d ping sweepers while serving, want 1", sweepers())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-served
	if n := sweepers(); n != 0 {
		t.Fatalf("%d ping sweepers after Shutdown", n)
	}

	unserved, err := New(Config{}, engine, set, ring, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := unserved.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	go unserved.Serve(newClosedListener(t)) // after Shutdown began: no sweeper
	time.Sleep(50 * time.Millisecond)
	if n := sweepers(); n != 0 {
		t.Fatalf("%d ping sweepers after Serve on a shut-down server", n)
	}
}

func newClosedListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return ln
}

// TestEngineErrorsLogged: a failed engine command is logged once per
// connection, at Warn when the engine stopped, at Debug when the server's
// context ended (shutdown past its deadline).
func TestEngineErrorsLogged(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fanout.ErrStopped, "level=WARN"},
		{context.Canceled, "level=DEBUG"},
	} {
		var buf strings.Builder
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := &conn{s: &Server{log: log}}
		c.engineFailed("subscribe", nil)
		c.engineFailed("subscribe", tt.err)
		c.engineFailed("reply", tt.err)
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, tt.want) || !strings.Contains(out, "op=subscribe") || !strings.Contains(out, tt.err.Error()) {
			t.Errorf("%v: logged %q, want one line at %s naming the op and the error", tt.err, out, tt.want)
		}
	}
}
