package feeds

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ticker-io/ticker/market"
)

// staleFeed is a feed that marks its symbols stale while it is down (the
// venue feeds); the Set configures it.
type staleFeed interface {
	markStale(after time.Duration, symbols []string)
}

// staleness marks a venue feed's symbols stale once the feed has been down
// for after: from the end of a connection until a quote arrives on a later
// one. Each symbol gets one stale mark (market.Stale, no field), which the
// engine publishes as one version of it; the symbol's next quote makes it
// fresh again there, so nothing here has to mark it fresh.
//
// The feed's goroutine reports the loss (lost) and pushes its quotes
// through push. With after > 0 the marks come from a timer's goroutine,
// under the lock that the first quote after a loss takes too, so that no
// mark lands behind that quote; every later quote passes without the lock.
// close stops the timer and waits for marks in flight.
type staleness struct {
	after   time.Duration // 0: mark at once, from the feed's goroutine
	symbols []string      // the feed's; none (not configured by a Set): no marks
	name    string
	log     *slog.Logger

	quoted bool // the feed has pushed a quote: before, there is nothing to mark (the feed's goroutine only)

	mu     sync.Mutex
	down   bool // lost and no quote since; written by the feed's goroutine, under mu
	closed bool
	timer  *time.Timer
	marks  sync.WaitGroup // a timer's goroutine
}

// lost reports that the feed's connection ended (or a redial failed). The
// first report since a quote starts the wait; later ones change nothing.
// With after = 0 the marks are pushed before it returns, and a failure to
// push (the ring closed, ctx ended) is returned.
func (s *staleness) lost(ctx context.Context, sink Sink) error {
	if s.down || len(s.symbols) == 0 || !s.quoted {
		return nil // already down, not configured, or nothing quoted yet that could be stale
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
	if s.after <= 0 {
		return s.mark(ctx, sink)
	}
	s.marks.Add(1)
	s.timer = time.AfterFunc(s.after, func() {
		defer s.marks.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down && !s.closed {
			s.mark(ctx, sink) // fails only when the feed is stopping
		}
	})
	return nil
}

// mark pushes one stale mark per symbol; s.mu is held.
func (s *staleness) mark(ctx context.Context, sink Sink) error {
	s.log.Warn("feed down: its symbols are marked stale", "feed", s.name, "symbols", len(s.symbols), "after", s.after)
	now := time.Now().UnixMicro()
	for _, sym := range s.symbols {
		q := market.Quote{Symbol: sym, TsMicros: now, Staleness: market.Stale}
		if err := sink.Push(ctx, &q); err != nil {
			return err
		}
	}
	return nil
}

// push pushes a quote of the feed. The first one after a loss ends it: a
// timer not fired yet never will, one firing finishes first.
func (s *staleness) push(ctx context.Context, sink Sink, q *market.Quote) error {
	s.quoted = true
	if !s.down {
		return sink.Push(ctx, q)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = false
	s.stopTimer()
	return sink.Push(ctx, q)
}

// stopTimer stops a timer that has not fired; s.mu is held.
func (s *staleness) stopTimer() {
	if s.timer != nil && s.timer.Stop() {
		s.marks.Done()
	}
	s.timer = nil
}

// close ends the wait, if any, and returns once no mark is being pushed.
// The feed's goroutine calls it when Run returns.
func (s *staleness) close() {
	s.mu.Lock()
	s.closed = true
	s.stopTimer()
	s.mu.Unlock()
	s.marks.Wait()
}

// staleSink is the sink a venue feed's sessions push into: its quotes go
// through the feed's staleness.
type staleSink struct {
	Sink
	st *staleness
}

func (s staleSink) Push(ctx context.Context, q *market.Quote) error { return s.st.push(ctx, s.Sink, q) }
