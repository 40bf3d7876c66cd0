// Package tickertest runs a ticker server in the test's own process, on a
// loopback port, for the tests of trading bots, in the spirit of
// net/http/httptest. The server's market moves only when the test says
// so, which makes it the same market every run:
//
//   - Publish (or PublishLines, or a fixture replayed step by step) queues
//     quotes for the next window, and nothing is sent for them yet;
//   - Step flushes exactly one coalescing window holding everything
//     published since the last step, and returns once its messages are in
//     every subscriber's queue.
//
// The server's clock stands still between steps: the "time" of every
// message, the ts of a quote published without one and the stream's epoch
// all come from it, so that the same steps give the same bytes on the wire.
//
//	srv := tickertest.New(t, tickertest.Options{Symbols: []string{"BTC-USD"}})
//	c := client.New(client.Options{URL: srv.URL(), Symbols: []string{"BTC-USD"}, OnUpdate: …})
//	go c.Run(ctx)
//	srv.WaitSubscriptions(1)   // the bot has subscribed: the next window reaches it
//	srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.1", Ask: "64000.2"})
//	srv.Step()                 // one update, seq 1
//
// See docs/testing-bots.md; ticker --step-control is the same for tests
// written in other languages.
package tickertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/internal/assemble"
	"github.com/ticker-io/ticker/internal/service"
	"github.com/ticker-io/ticker/internal/stepper"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// Options configure a Server. The zero value is a server with no symbol
// declared and no fixture, whose clock starts at DefaultStart.
type Options struct {
	// Symbols are declared: a bot may subscribe to them before their first
	// quote (a subscription to a symbol never published nor declared is
	// refused with unknown_symbol, as by a real server).
	Symbols []string
	// Fixture is a normalized NDJSON fixture (docs/protocol.md) replayed
	// step by step: a step to time T publishes, in file order, every line
	// whose ts is T or earlier. Its symbols are declared.
	Fixture string
	// Window is how far Step moves the clock, and the server's coalescing
	// window. Default 50ms.
	Window time.Duration
	// Start is the clock's first time. Default: the fixture's first ts, or
	// DefaultStart.
	Start time.Time
	// Log receives the server's logs; nil: discarded.
	Log *slog.Logger
}

// DefaultStart is the clock's start without a fixture or Options.Start:
// 2025-11-24 16:00:00 UTC.
var DefaultStart = stepper.DefaultStart

// Quote is one change of a symbol, decimals as text ("64000.15"). An empty
// field is not part of the change; a zero Time takes the server's clock.
type Quote struct {
	Symbol                     string
	Time                       time.Time // the quote's ts, to the microsecond
	Bid, BidSize, Ask, AskSize string
	Last, LastSize, Volume     string
	// Stale marks the symbol stale, as a feed that lost its venue does: its
	// fields keep their values and its update says "stale":true, until a
	// quote with a field makes it fresh. A stale mark has no other field.
	Stale bool
}

// Window is what one step flushed.
type Window struct {
	Time   time.Time // the server's clock after the step: the "time" of the window's updates
	Quotes int       // quotes published into the window
	More   bool      // the fixture has lines the clock has not reached
}

// Server is a running ticker on a loopback port. Its methods may be called
// from any goroutine; Publish and the steps run one at a time.
type Server struct {
	node    *service.Node
	step    *stepper.Stepper
	engine  *fanout.Engine
	addr    string
	ctx     context.Context // ends at Close: a call waiting on the server returns
	cancel  context.CancelFunc
	closing sync.Once
}

// timeout bounds each call that waits for the server.
const timeout = 10 * time.Second

// New starts a server for t and stops it when t ends (t.Cleanup); it
// fails t if the server cannot start.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("tickertest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server; call Close when done with it.
func Start(opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fcfg := fanout.DefaultConfig()
	if opts.Window != 0 {
		fcfg.Window = opts.Window
	}
	ring := market.NewRing(1 << 16)
	st, err := stepper.New(stepper.Config{Window: fcfg.Window, Start: opts.Start, Fixture: opts.Fixture, Symbols: opts.Symbols, Log: log}, ring)
	if err != nil {
		return nil, err
	}
	s, err := start(opts, fcfg, ring, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func start(opts Options, fcfg fanout.Config, ring *market.Ring, st *stepper.Stepper, log *slog.Logger) (*Server, error) {
	fcfg.Clock, fcfg.Epoch = st.Clock(), st.Epoch()
	b, err := assemble.Build(assemble.Options{Ring: ring, Declared: st.Symbols(), Fanout: fcfg, API: api.DefaultConfig(), Log: log}) // no feed: the stepper publishes
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	engine := b.Engine
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{step: st, engine: engine, addr: ln.Addr().String(),
		node: b.Node}
	s.node.ShutdownTimeout = 5 * time.Second
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.node.Start(ln)
	return s, nil
}

// URL returns the WebSocket endpoint, ws://127.0.0.1:PORT/ws.
func (s *Server) URL() string { return "ws://" + s.addr + "/ws" }

// HTTPURL returns the base of the REST API and the dashboard,
// http://127.0.0.1:PORT.
func (s *Server) HTTPURL() string { return "http://" + s.addr }

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Now returns the server's clock: its start, or the last step's time.
func (s *Server) Now() time.Time { return s.step.Now() }

// Publish queues quotes for the next step's window, in order; nothing is
// sent for them before the step. At the step they go in with the fixture's
// lines due, merged by ts (at the same ts, the fixture's line first, so
// that the test's quote wins). A bad symbol or decimal is an error naming
// it, and nothing of the call is queued; so is publishing more than 65536
// quotes between two steps.
func (s *Server) Publish(qs ...Quote) error {
	mq := make([]market.Quote, len(qs))
	for i, q := range qs {
		if err := q.toMarket(&mq[i]); err != nil {
			return fmt.Errorf("tickertest: Publish quote %d: %w", i+1, err)
		}
	}
	return s.PublishQuotes(mq...)
}

// PublishQuotes is Publish for market quotes (only the fields set in
// Fields; TsMicros 0 takes the server's clock).
func (s *Server) PublishQuotes(qs ...market.Quote) error {
	if err := s.step.Publish(qs...); err != nil {
		return fmt.Errorf("tickertest: %w", err)
	}
	return nil
}

// PublishLines publishes NDJSON lines in the fixture format, each with its
// s and ts ({"ts":1764000000000000,"s":"AAPL","bid":"189.12"}); blank and
// # lines are skipped. A malformed line is an error naming it, and nothing
// is published.
func (s *Server) PublishLines(ndjson string) error {
	var p fastjson.Parser
	var qs []market.Quote
	for i, line := range strings.Split(ndjson, "\n") {
		var q market.Quote
		err := protocol.ParseLine(&p, []byte(line), &q)
		if errors.Is(err, protocol.ErrSkip) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tickertest: PublishLines line %d: %w", i+1, err)
		}
		qs = append(qs, q)
	}
	return s.PublishQuotes(qs...)
}

// Step moves the clock one window on (Options.Window), publishes the
// fixture's lines up to the new time, and flushes one window holding them
// and everything published since the last step. It returns once the
// window's messages are in every subscriber's queue. A window with no
// change sends nothing.
func (s *Server) Step() (Window, error) {
	ctx, cancel := s.context()
	defer cancel()
	return window(s.step.Step(ctx))
}

// StepTo is Step to time t (not before the clock): one window holding
// every fixture line whose ts is t or earlier.
func (s *Server) StepTo(t time.Time) (Window, error) {
	ctx, cancel := s.context()
	defer cancel()
	return window(s.step.StepTo(ctx, t))
}

// StepNext is Step to the fixture's next ts: one window holding the next
// group of lines that share a ts. With no line left it is Step.
func (s *Server) StepNext() (Window, error) {
	ctx, cancel := s.context()
	defer cancel()
	return window(s.step.StepNext(ctx))
}

func window(w stepper.Window, err error) (Window, error) {
	if err != nil {
		return Window{}, fmt.Errorf("tickertest: %w", err)
	}
	return Window{Time: w.Time, Quotes: w.Quotes, More: w.More}, nil
}

// WaitSubscriptions waits until the server holds at least n subscriptions
// (each symbol of each connection, "*" counting one), up to 10 seconds. A
// bot subscribes on its own goroutine: a window stepped before its
// subscription is handled does not reach it, so wait for it first.
func (s *Server) WaitSubscriptions(n int) error {
	deadline := time.Now().Add(timeout)
	for s.engine.Stats().Subscriptions.Load() < int64(n) {
		if s.ctx.Err() != nil {
			return errors.New("tickertest: the server is closed")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tickertest: %d subscriptions after %v, want %d", s.engine.Stats().Subscriptions.Load(), timeout, n)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// Close stops the server: every connection gets close 1001, and every
// goroutine the server started has ended when it returns. Later calls do
// nothing.
func (s *Server) Close() {
	s.closing.Do(func() {
		s.cancel()
		if err := s.node.Stop(); err != nil {
			s.node.Log.Warn("tickertest: shutdown", "err", err)
		}
		s.step.Close()
	})
}

// context bounds one call; it ends early when the server closes.
func (s *Server) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, timeout)
}

// toMarket converts q; an empty field is absent.
func (q Quote) toMarket(out *market.Quote) error {
	*out = market.Quote{Symbol: q.Symbol}
	if err := market.ValidateSymbol(q.Symbol); err != nil {
		return err
	}
	if !q.Time.IsZero() {
		out.TsMicros = q.Time.UnixMicro()
	}
	for f, v := range [market.NumFields]string{q.Bid, q.BidSize, q.Ask, q.AskSize, q.Last, q.LastSize, q.Volume} {
		if v == "" {
			continue
		}
		d, err := market.ParseDecimal([]byte(v))
		if err != nil {
			return fmt.Errorf("%s %s %q: %w", q.Symbol, market.Field(f).Name(), v, err)
		}
		if market.Field(f).IsSize() && d.Sign() < 0 {
			return fmt.Errorf("%s %s %q: a size is never negative", q.Symbol, market.Field(f).Name(), v)
		}
		out.Set(market.Field(f), d)
	}
	switch {
	case q.Stale:
		out.Staleness = market.Stale // the stepper refuses a stale mark with a field
	case out.Fields == 0:
		return fmt.Errorf("%s: no field set (or Stale)", q.Symbol)
	}
	return nil
}
