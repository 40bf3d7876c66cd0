package stepper

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/market"
)

// TestControlLoopbackOnly: the control endpoint answers a loopback peer
// (IPv4 or IPv6) and refuses any other with 403, before doing anything:
// a step from another host does not move the clock.
func TestControlLoopbackOnly(t *testing.T) {
	ring := market.NewRing(64)
	st, err := New(Config{Symbols: []string{"AAPL"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := fanout.New(fanout.Config{Clock: st.Clock(), Epoch: st.Epoch()}, ring, st.Symbols(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-e.Done() }()
	go e.Run(ctx)
	h := Control(st, e)
	for _, tt := range []struct {
		peer string
		code int
	}{
		{"10.1.2.3:5000", http.StatusForbidden},
		{"192.0.2.2:5000", http.StatusForbidden},
		{"[2001:db8::1]:5000", http.StatusForbidden},
		{"[::ffff:10.1.2.3]:5000", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
		{"127.0.0.1:5000", http.StatusOK},
		{"127.8.9.10:5000", http.StatusOK},
		{"[::1]:5000", http.StatusOK},
	} {
		before := st.Now()
		r := httptest.NewRequest("POST", "/control/step", nil)
		r.RemoteAddr = tt.peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("step from %s: %d %s, want %d", tt.peer, w.Code, w.Body, tt.code)
		}
		moved := st.Now().After(before)
		if moved != (tt.code == http.StatusOK) {
			t.Errorf("step from %s: the clock moved %v", tt.peer, moved)
		}
		if tt.code == http.StatusForbidden && !strings.Contains(w.Body.String(), "loopback") {
			t.Errorf("refusal says %s", w.Body)
		}
	}
	if got := st.Now(); !got.Equal(DefaultStart.Add(3 * 50 * time.Millisecond)) {
		t.Errorf("clock %v after three steps of 50ms from %v", got, DefaultStart)
	}
}
