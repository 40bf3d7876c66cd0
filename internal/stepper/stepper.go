// Package stepper drives a ticker node on a manual clock, for tests of
// bots: the quotes a test publishes, and a fixture's lines as the clock
// reaches their ts, go into the engine's ring only at a step, which then
// flushes exactly one window. The same quotes published and stepped the
// same way give the same messages, byte for byte, every run.
//
// It is the one implementation behind the tickertest package and ticker
// --step-control (Control serves it over HTTP). It starts no goroutine:
// every method runs on its caller's, one at a time.
package stepper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/field"
	"github.com/ticker-io/ticker/market"
)

// DefaultStart is where the clock starts without a fixture or a Start:
// 2025-11-24 16:00:00 UTC, the time of the protocol's examples.
var DefaultStart = time.UnixMicro(1764000000000000).UTC()

// Config sets up a Stepper. The zero value of a field means its default.
type Config struct {
	// Window is how far Step moves the clock; the node's --coalesce.
	// Default 50ms, as fanout's.
	Window time.Duration
	// Start is the clock's first time. Default: the fixture's first valid
	// line's ts, or DefaultStart without a fixture.
	Start time.Time
	// Fixture is a normalized NDJSON fixture (docs/protocol.md) whose
	// lines are published as the clock reaches their ts; "" for none.
	Fixture string
	// Symbols are declared (subscribable before their first quote),
	// with the fixture's.
	Symbols []string
	Log     *slog.Logger // malformed fixture lines; nil: slog.Default()
}

// Validate returns a *field.Error naming the first field out of range.
func (c Config) Validate() error {
	if c.Window < 0 {
		return field.New("Window", c.Window, "a positive duration")
	}
	for _, s := range c.Symbols {
		if err := market.ValidateSymbol(s); err != nil {
			return field.New("Symbols", s, err.Error())
		}
	}
	return nil
}

// MaxQueued bounds the quotes published between two steps.
const MaxQueued = 1 << 16

// Window is what one step flushed.
type Window struct {
	Time   time.Time // the clock's time after the step: the "time" of the window's updates
	Quotes int       // quotes published into the window (by Publish and from the fixture)
	More   bool      // the fixture has lines the clock has not reached
}

// Stepper queues published quotes, reads a fixture, and at each step puts
// them into a node's ring and steps its clock.
type Stepper struct {
	ring   *market.Ring
	clock  *fanout.ManualClock
	window time.Duration
	log    *slog.Logger

	mu        sync.Mutex // one Publish or Step at a time
	now       time.Time
	fix       *feeds.Fixture
	next      market.Quote // the fixture's next line, when haveNext
	haveNext  bool
	queued    []market.Quote // published since the last step, at most MaxQueued
	malformed uint64
	symbols   []string
}

// New opens the fixture (if any) and returns a Stepper publishing into
// ring. Give Clock to the node's engine (fanout.Config.Clock) and Symbols
// to it as the declared symbols; call Close when the node has stopped.
func New(cfg Config, ring *market.Ring) (*Stepper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Window == 0 {
		cfg.Window = fanout.DefaultConfig().Window
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Stepper{ring: ring, window: cfg.Window, log: cfg.Log, now: cfg.Start}
	s.symbols = append(s.symbols, cfg.Symbols...)
	if cfg.Fixture != "" {
		// NewReplay checks the file (regular, readable) and collects its symbols
		r, err := feeds.NewReplay("replay:"+cfg.Fixture, cfg.Fixture, 0, false)
		if err != nil {
			return nil, err
		}
		s.symbols = append(s.symbols, r.Symbols()...)
		if s.fix, err = feeds.OpenFixture(cfg.Fixture); err != nil {
			return nil, err
		}
		if err := s.peek(); err != nil {
			s.fix.Close()
			return nil, err
		}
		if s.now.IsZero() && s.haveNext {
			s.now = time.UnixMicro(s.next.TsMicros)
		}
	}
	if s.now.IsZero() {
		s.now = DefaultStart
	}
	slices.Sort(s.symbols)
	s.symbols = slices.Compact(s.symbols)
	s.clock = fanout.NewManualClock(s.now)
	return s, nil
}

// Clock is the engine's clock: it flushes when stepped.
func (s *Stepper) Clock() fanout.Clock { return s.clock }

// Symbols returns the declared symbols, the fixture's included, sorted.
func (s *Stepper) Symbols() []string { return slices.Clone(s.symbols) }

// Epoch is the stream's epoch for fanout.Config.Epoch: the clock's start
// in Unix milliseconds, the same every run.
func (s *Stepper) Epoch() uint64 { return uint64(s.clock.Now().UnixMilli()) }

// Now returns the clock's time: the start, or the last step's.
func (s *Stepper) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// More reports whether the fixture has lines the clock has not reached.
func (s *Stepper) More() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.haveNext
}

// Malformed returns how many fixture lines were malformed and skipped.
func (s *Stepper) Malformed() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.malformed
}

// Publish queues quotes for the next step's window, in order, as a
// fixture's lines: a quote without a ts (0) takes the clock's time; a stale
// mark (market.Stale, no field) marks its symbol stale, as a feed that went
// down does; any other quote is live, and makes a stale symbol fresh (with
// no field it changes nothing else). An invalid symbol, a stale mark with
// fields, or more than MaxQueued quotes waiting is an error, and nothing of
// the call is queued.
func (s *Stepper) Publish(qs ...market.Quote) error {
	for i := range qs {
		q := &qs[i]
		if err := market.ValidateSymbol(q.Symbol); err != nil {
			return fmt.Errorf("quote %d: %w", i+1, err)
		}
		if q.IsStale() && q.Fields != 0 {
			return fmt.Errorf("quote %d (%s): a stale mark has no field", i+1, q.Symbol)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queued)+len(qs) > MaxQueued {
		return fmt.Errorf("%d quotes published since the last step, at most %d: step first", len(s.queued)+len(qs), MaxQueued)
	}
	for _, q := range qs {
		q.Seq = 0
		if q.TsMicros == 0 {
			q.TsMicros = s.now.UnixMicro()
		}
		s.queued = append(s.queued, q)
	}
	return nil
}

// Step moves the clock one window on and flushes it.
func (s *Stepper) Step(ctx context.Context) (Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stepTo(ctx, s.now.Add(s.window))
}

// StepTo moves the clock to t and flushes one window holding every
// fixture line with a ts up to t. t may not be before the clock's time.
func (s *Stepper) StepTo(ctx context.Context, t time.Time) (Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Before(s.now) {
		return Window{}, fmt.Errorf("step to %s: before the clock's time %s", t.UTC().Format(time.RFC3339Nano), s.now.UTC().Format(time.RFC3339Nano))
	}
	return s.stepTo(ctx, t)
}

// StepNext moves the clock to the ts of the fixture's next line (or keeps
// it, for a line with an earlier ts) and flushes one window holding the
// lines up to that ts: the next group of lines that share a ts. Without
// lines left it is Step.
func (s *Stepper) StepNext(ctx context.Context) (Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveNext {
		return s.stepTo(ctx, s.now.Add(s.window))
	}
	return s.stepTo(ctx, maxTime(s.now, time.UnixMicro(s.next.TsMicros)))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// stepTo puts into the ring the quotes published since the last step and
// the fixture's lines up to t, merged in ts order (each in its own order;
// at the same ts the fixture's line first, so that the test's quote wins),
// then flushes the window.
func (s *Stepper) stepTo(ctx context.Context, t time.Time) (Window, error) {
	n, i := 0, 0
	defer func() {
		// what was not pushed (ctx ended) waits for the next step
		rest := copy(s.queued, s.queued[i:])
		clear(s.queued[rest:])
		s.queued = s.queued[:rest]
	}()
	for {
		due := s.haveNext && s.next.TsMicros <= t.UnixMicro()
		var q *market.Quote
		switch {
		case due && (i == len(s.queued) || s.next.TsMicros <= s.queued[i].TsMicros):
			q = &s.next
		case i < len(s.queued):
			q = &s.queued[i]
		}
		if q == nil {
			break
		}
		if err := s.ring.Push(ctx, q); err != nil {
			return Window{}, err
		}
		n++
		if q == &s.next {
			if err := s.peek(); err != nil {
				return Window{}, err
			}
		} else {
			i++
		}
	}
	if err := s.clock.Step(ctx, t); err != nil {
		if errors.Is(err, fanout.ErrClockStopped) {
			return Window{}, errors.New("the server has stopped")
		}
		return Window{}, err
	}
	s.now = t
	return Window{Time: t, Quotes: n, More: s.haveNext}, nil
}

// peek reads the fixture's next valid line.
func (s *Stepper) peek() error {
	s.haveNext = false
	if s.fix == nil {
		return nil
	}
	ok, err := s.fix.Next(&s.next, func(err error) {
		s.malformed++
		s.log.Warn("fixture line skipped", "err", err)
	})
	if err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	s.haveNext = ok
	return nil
}

// Close closes the fixture.
func (s *Stepper) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fix == nil {
		return nil
	}
	err := s.fix.Close()
	s.fix, s.haveNext = nil, false
	return err
}
