// Command baseline is the naive broadcaster that bench compares ticker with:
// the way a straightforward gorilla-style server fans out market data. Every
// quote change is published at once (no coalescing); for every subscriber of
// the symbol the message is marshalled with encoding/json and written with
// the connection's own permessage-deflate compressor. Each subscriber has a
// writer goroutine and a 256-message channel; a full channel drops the
// message (counted as ticker_drops_total, so bench reads it like ticker's).
//
// It speaks the part of ticker.v1 that bench uses: /ws?symbols=A,B, update
// messages with s, seq, ts and the changed fields, /api/symbols, /readyz and
// /metrics. It uses ticker's synthetic feed, so both servers see the same
// stream.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

type subscriber struct {
	ch chan []byte
}

type server struct {
	mu     sync.RWMutex
	subs   map[string]map[*subscriber]struct{}
	states map[string]*market.State
	drops  atomic.Uint64
	syms   []string
}

// update is the message, built with encoding/json as a typical server would.
type update struct {
	Type   string           `json:"type"`
	Time   int64            `json:"time"`
	Quotes []map[string]any `json:"quotes"`
}

// Push implements feeds.Pusher: publish this change to every subscriber now.
func (s *server) Push(_ context.Context, q *market.Quote) error {
	st := s.states[q.Symbol]
	if st == nil {
		st = market.NewState(q.Symbol)
		s.states[q.Symbol] = st
	}
	st.Apply(q)
	var d market.Quote
	if !st.Publish(&d) {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for sub := range s.subs[q.Symbol] {
		fields := map[string]any{"s": d.Symbol, "seq": d.Seq, "ts": d.TsMicros}
		for f := market.Field(0); f < market.NumFields; f++ {
			if v, ok := d.Get(f); ok {
				fields[f.Name()] = v.String()
			}
		}
		msg, _ := json.Marshal(update{Type: "update", Time: time.Now().UnixMicro(), Quotes: []map[string]any{fields}})
		select {
		case sub.ch <- msg:
		default:
			s.drops.Add(1)
		}
	}
	return nil
}

var upgrader = websocket.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true },
	Subprotocols: []string{"ticker.v1"}}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	sub := &subscriber{ch: make(chan []byte, 256)}
	syms := strings.Split(r.URL.Query().Get("symbols"), ",")
	s.mu.Lock()
	for _, sym := range syms {
		if s.subs[sym] == nil {
			s.subs[sym] = map[*subscriber]struct{}{}
		}
		s.subs[sym][sub] = struct{}{}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.ch {
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				conn.Close()
				for range sub.ch {
				}
				return
			}
		}
	}()
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	s.mu.Lock()
	for _, sym := range syms {
		delete(s.subs[sym], sub)
	}
	s.mu.Unlock()
	close(sub.ch)
	<-done
	conn.Close()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	symbols := flag.Int("symbols", 500, "synthetic symbols")
	rate := flag.Float64("rate", 2000, "quote changes per second")
	flag.Parse()
	feed, err := feeds.NewSynthetic("synthetic", feeds.SyntheticConfig{Symbols: *symbols, Rate: *rate, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	s := &server{subs: map[string]map[*subscriber]struct{}{}, states: map[string]*market.State{}, syms: feed.Symbols()}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	mux.HandleFunc("/api/symbols", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"symbols": s.syms})
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ticker_drops_total %d\n", s.drops.Load())
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go feed.Run(ctx, &sink{s})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// sink adapts the server to feeds.Sink for the feed's Run.
type sink struct{ *server }

func (s *sink) Malformed(error) {}
