package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/internal/testjwt"
)

// TestClientTokenExpiry: with short-lived JWTs the server closes each
// connection with 4001 at the token's exp; a client with TokenFunc
// reconnects with a fresh token and its "*" keeps to the token's symbols,
// while a client with one fixed token is refused (401) once it expired.
func TestClientTokenExpiry(t *testing.T) {
	k := testjwt.New(t, t.TempDir(), false)
	keys, err := access.LoadJWTKeys(k.File)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1:0", api.Config{JWTKeys: keys}, "synthetic:?symbols=20&rate=400&seed=3")
	var issued atomic.Int32
	var mu sync.Mutex
	var closes []string
	c := New(Options{
		URL: "ws://" + srv.addr + "/ws", Symbols: []string{"*"},
		TokenFunc: func(context.Context) (string, error) {
			issued.Add(1)
			return k.Sign(t, "EdDSA", testjwt.Claims(1500*time.Millisecond, "BTC-*", "ETH-USD"), true), nil
		},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnStatus: func(s Status) {
			if s.Kind == Disconnected {
				mu.Lock()
				closes = append(closes, s.Err.Error())
				mu.Unlock()
			}
		},
	})
	run(t, c)
	eventually(t, "two reconnects with fresh tokens", 10*time.Second, func() bool { return issued.Load() >= 3 })
	q1, _ := c.Quote("BTC-USD")
	eventually(t, "BTC-USD moving after the reconnects", 5*time.Second, func() bool {
		q2, ok := c.Quote("BTC-USD")
		return ok && q2.Seq > q1.Seq
	})
	for _, q := range c.Book() {
		if !strings.HasPrefix(q.Symbol, "BTC-") && q.Symbol != "ETH-USD" {
			t.Errorf("the book holds %s, outside the token's symbols", q.Symbol)
		}
	}
	mu.Lock()
	if len(closes) == 0 || !strings.Contains(closes[0], "4001") || !strings.Contains(closes[0], "token expired") {
		t.Errorf("disconnects: %q, want close 4001 token expired", closes)
	}
	mu.Unlock()

	fixed := New(Options{URL: "ws://" + srv.addr + "/ws", Symbols: []string{"BTC-USD"}, MinBackoff: 10 * time.Millisecond,
		Token: k.Sign(t, "HS256", testjwt.Claims(2*time.Second, "*"), true)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = fixed.Run(ctx)
	var hs *HandshakeError
	if !errors.As(err, &hs) || hs.Status != 401 || !strings.Contains(hs.Body, "token expired") {
		t.Fatalf("a fixed token after its exp: %v, want 401 token expired", err)
	}
}
