package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

// TestStopOrder: Stop closes the clients with 1001 and waits for them
// first, then ends
// Background and Role while the engine still runs, and stops the engine
// before AfterEngine.
func TestStopOrder(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := feeds.Parse("synthetic:?symbols=5&rate=2000&seed=1")
	if err != nil {
		t.Fatal(err)
	}
	set, err := feeds.NewSet(log, f)
	if err != nil {
		t.Fatal(err)
	}
	ring := market.NewRing(1 << 12)
	engine, err := fanout.New(fanout.Config{Window: 5 * time.Millisecond}, ring, set.Symbols(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{}, engine, set, ring, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var steps []string
	step := func(s string) { mu.Lock(); steps = append(steps, s); mu.Unlock() }
	running := func() string {
		select {
		case <-engine.Done():
			return "engine stopped"
		default:
			return "engine running"
		}
	}
	n := &Node{Engine: engine, Feeds: set, Ring: ring, Server: srv, Log: log,
		Background: []func(context.Context){func(ctx context.Context) {
			<-ctx.Done()
			step(fmt.Sprintf("background ends, %d connections, %s", srv.Connections(), running()))
		}},
		Role: func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // the feeds stop meanwhile; the engine waits for this
			step("role ends, " + running())
			return nil
		},
		AfterEngine: func() { step("after engine, " + running()) },
	}
	n.Start(ln)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // the first message: the server serves
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	var ce *websocket.CloseError
	if err := <-closed; !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("client: %v, want close 1001", err)
	}
	select {
	case <-n.RoleEnded():
	default:
		t.Error("Stop returned before the role ended")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"background ends, 0 connections, engine running", "role ends, engine running", "after engine, engine stopped"}
	if len(steps) != len(want) {
		t.Fatalf("steps %q, want %q", steps, want)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("steps %q, want %q", steps, want)
		}
	}
}
