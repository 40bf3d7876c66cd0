package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/stats"
)

// Feed is one source of quotes.
type Feed interface {
	// Name identifies the feed in logs and metrics, e.g. "replay:fixtures/crypto.ndjson".
	Name() string
	// Symbols lists the symbols the feed declares before it delivers them.
	Symbols() []string
	// Run delivers quotes into sink until ctx ends (returning nil) or the
	// source is exhausted (nil) or fails (an error).
	Run(ctx context.Context, sink Sink) error
}

// Sink receives what a feed produces.
type Sink interface {
	Pusher
	// Malformed reports a bad input that was skipped.
	Malformed(err error)
}

// Pusher takes quotes; market.Ring is one. Push may wait (backpressure) and
// fails only when the receiver is closed or ctx ends.
type Pusher interface {
	Push(ctx context.Context, q *market.Quote) error
}

// Status is the live state of one feed in a Set.
type Status struct {
	Name      string
	Quotes    uint64 // quotes delivered
	Errors    uint64 // malformed inputs skipped
	Delivered bool   // at least one quote delivered
	Finished  bool   // Run has returned
	Err       string // Run's error, if it failed
	// Upstream is set for feeds connected to a venue (binance, coinbase).
	Upstream *UpstreamStatus
}

// UpstreamStatus is the health and traffic of a feed connected to a venue.
type UpstreamStatus struct {
	Connected   bool      // a connection is up and has received a message
	LastMessage time.Time // zero before the first
	Messages    uint64    // messages received: data, acks, heartbeats, bad ones
	Reconnects  uint64    // connections started after the first
	SeqGaps     uint64    // sequence gaps the venue's numbering showed
	Lag         *stats.Histogram
}

// upstreamFeed is a feed connected to a venue.
type upstreamFeed interface {
	Upstream() UpstreamStatus
}

// loggingFeed is a feed that logs events of its own (connections).
type loggingFeed interface {
	SetLogger(*slog.Logger)
}

type feedState struct {
	feed      Feed
	quotes    atomic.Uint64
	errors    atomic.Uint64
	delivered atomic.Bool
	finished  atomic.Bool
	err       atomic.Pointer[string]
	lastLog   atomic.Int64 // unix nanoseconds of the last malformed-input log line
}

// Set runs a group of feeds and owns their goroutines.
type Set struct {
	feeds []*feedState
	log   *slog.Logger
	wg    sync.WaitGroup
	mu    sync.Mutex // orders Start against Wait
	state setState
}

type setState uint8

const (
	setNew setState = iota
	setStarted
	setWaited // Wait was called: a later Start starts nothing
)

// NewSet is NewSetConfig with DefaultConfig.
func NewSet(log *slog.Logger, feeds ...Feed) (*Set, error) {
	return NewSetConfig(DefaultConfig(), log, feeds...)
}

// NewSetConfig checks cfg, that names are unique and that no two feeds
// declare the same symbol (an instrument must have one source), and returns
// the Set.
func NewSetConfig(cfg Config, log *slog.Logger, feeds ...Feed) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Set{log: log}
	names := map[string]bool{}
	owner := map[string]string{}
	for _, f := range feeds {
		if names[f.Name()] {
			return nil, fmt.Errorf("feed %s given twice", f.Name())
		}
		names[f.Name()] = true
		for _, sym := range f.Symbols() {
			if o, ok := owner[sym]; ok {
				return nil, fmt.Errorf("feeds %s and %s both deliver symbol %s", o, f.Name(), sym)
			}
			owner[sym] = f.Name()
		}
		if lf, ok := f.(loggingFeed); ok {
			lf.SetLogger(log)
		}
		if sf, ok := f.(staleFeed); ok {
			sf.markStale(cfg.StaleAfter, f.Symbols())
		}
		s.feeds = append(s.feeds, &feedState{feed: f})
	}
	return s, nil
}

// Symbols returns every symbol the feeds declare, sorted.
func (s *Set) Symbols() []string {
	var out []string
	for _, f := range s.feeds {
		out = append(out, f.feed.Symbols()...)
	}
	sort.Strings(out)
	return out
}

// Start runs every feed in its own goroutine, pushing into out, until ctx
// ends. Malformed inputs are counted and logged by the Set. Call it once.
func (s *Set) Start(ctx context.Context, out Pusher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case setStarted:
		panic("feeds: Set started twice")
	case setWaited:
		// the owner is already waiting for the feeds to end (shutting
		// down): starting them now would outlive that wait
		s.log.Info("feeds: not started, the node is shutting down")
		return
	}
	s.state = setStarted
	for _, f := range s.feeds {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			fs := &countingSink{out: out, st: f, log: s.log}
			err := f.feed.Run(ctx, fs)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, market.ErrRingClosed) {
				msg := err.Error()
				f.err.Store(&msg)
				s.log.Error("feed failed", "feed", f.feed.Name(), "err", err)
			} else if ctx.Err() == nil {
				s.log.Info("feed finished", "feed", f.feed.Name(), "quotes", f.quotes.Load(), "malformed", f.errors.Load())
			}
			f.finished.Store(true)
		}()
	}
}

// Wait blocks until every feed's goroutine has returned. A Start that
// comes after Wait (an ingest node winning the lease while its node
// shuts down) starts nothing.
func (s *Set) Wait() {
	s.mu.Lock()
	if s.state == setNew {
		s.state = setWaited
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Ready reports whether every feed is healthy: a local feed (synthetic,
// replay) once it has delivered a quote or finished; a venue feed while it
// is connected, receiving, and has delivered a quote.
func (s *Set) Ready() bool {
	for _, f := range s.feeds {
		if uf, ok := f.feed.(upstreamFeed); ok {
			if !f.delivered.Load() || f.finished.Load() || !uf.Upstream().Connected {
				return false
			}
			continue
		}
		if !f.delivered.Load() && !f.finished.Load() {
			return false
		}
	}
	return true
}

// Statuses returns a snapshot of every feed's state, in the order given.
func (s *Set) Statuses() []Status {
	out := make([]Status, len(s.feeds))
	for i, f := range s.feeds {
		out[i] = Status{Name: f.feed.Name(), Quotes: f.quotes.Load(), Errors: f.errors.Load(),
			Delivered: f.delivered.Load(), Finished: f.finished.Load()}
		if e := f.err.Load(); e != nil {
			out[i].Err = *e
		}
		if uf, ok := f.feed.(upstreamFeed); ok {
			u := uf.Upstream()
			out[i].Upstream = &u
		}
	}
	return out
}

type countingSink struct {
	out Pusher
	st  *feedState
	log *slog.Logger
}

func (c *countingSink) Push(ctx context.Context, q *market.Quote) error {
	if err := c.out.Push(ctx, q); err != nil {
		return err
	}
	if q.Staleness == market.Stale {
		return nil // a stale mark (stale.go) is not a quote delivered
	}
	c.st.quotes.Add(1)
	if !c.st.delivered.Load() {
		c.st.delivered.Store(true)
	}
	return nil
}

// Malformed counts a skipped input and logs it: each of a feed's first
// logEach (someone fixing a fixture wants every line number), then at most
// one a second (with the number skipped so far), so that a flood of garbage
// cannot flood the log.
func (c *countingSink) Malformed(err error) {
	n := c.st.errors.Add(1)
	now := time.Now().UnixNano()
	if n > logEach {
		last := c.st.lastLog.Load()
		if now-last < int64(time.Second) || !c.st.lastLog.CompareAndSwap(last, now) {
			return
		}
	} else {
		c.st.lastLog.Store(now)
	}
	c.log.Warn("feed input skipped", "feed", c.st.feed.Name(), "err", err, "skipped_total", n)
}

// logEach is how many of a feed's first malformed inputs are each logged.
const logEach = 10
