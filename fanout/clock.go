package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Clock is where an engine's windows come from, and the time its messages
// carry (the "time" of updates and snapshots, the time handed to
// Tap.Window). Config.Clock nil is the system clock: a time.Ticker of the
// window. A ManualClock ends a window only when it is stepped, so that a
// test sees the same windows every run (tickertest).
type Clock interface {
	// Now is the time a subscribe snapshot carries.
	Now() time.Time
	// NewTicker starts the window ticker of one engine's Run; Run stops it
	// when it returns.
	NewTicker(window time.Duration) Ticker
}

// Ticker ends an engine's windows.
type Ticker interface {
	// C delivers the time of each window's flush.
	C() <-chan time.Time
	// Flushed is called by the engine once it has flushed the window of a
	// time received from C: every frame of it is in its clients' queues.
	Flushed()
	// Stop ends the ticker.
	Stop()
}

// clock returns the engine's Clock: Config.Clock, or the system's.
func (c Config) clock() Clock {
	if c.Clock == nil {
		return systemClock{}
	}
	return c.Clock
}

// systemClock is the default Clock: wall time and a time.Ticker.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(window time.Duration) Ticker {
	return systemTicker{time.NewTicker(window)}
}

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (systemTicker) Flushed()              {}
func (t systemTicker) Stop()               { t.t.Stop() }

// ManualClock is a Clock that stands still: the engine flushes a window
// only when Step is called, at the time Step names, and Now is the time of
// the last Step (or the start). One engine may use it.
type ManualClock struct {
	step    sync.Mutex // one Step at a time
	mu      sync.Mutex
	now     time.Time
	started bool
	ticks   uint64 // windows the engine took from C
	flushes uint64 // windows it flushed (Flushed)
	tick    chan time.Time
	flushed chan struct{}
	stopped chan struct{}
	stop    sync.Once
}

// ErrClockStopped is returned by ManualClock.Step once the engine using the
// clock has stopped.
var ErrClockStopped = errors.New("fanout: the engine of this manual clock has stopped")

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, tick: make(chan time.Time), flushed: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// Now implements Clock: the time of the last Step, or the start.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker implements Clock; the window is ignored. It panics if called
// twice: a manual clock drives one engine.
func (c *ManualClock) NewTicker(time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		panic("fanout: a ManualClock drives one engine")
	}
	c.started = true
	return manualTicker{c}
}

// Step moves the clock to now and has the engine flush one window at that
// time: every quote pushed into the engine's ring before Step was called
// is in it. It returns once the engine has flushed the window (its frames
// are in the clients' queues), or with ctx's error, or ErrClockStopped
// once the engine has stopped. now may not be before the clock's time.
func (c *ManualClock) Step(ctx context.Context, now time.Time) error {
	c.step.Lock()
	defer c.step.Unlock()
	c.mu.Lock()
	if now.Before(c.now) {
		at := c.now
		c.mu.Unlock()
		return fmt.Errorf("fanout: manual clock step to %v, before its time %v", now, at)
	}
	c.now = now
	c.mu.Unlock()
	select {
	case c.tick <- now:
	case <-c.stopped:
		return ErrClockStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	// the engine took the tick: it flushes, then says so, before it can
	// stop. A Step given up on (ctx) leaves its flush counted, not pending.
	c.mu.Lock()
	c.ticks++
	n := c.ticks
	c.mu.Unlock()
	for {
		c.mu.Lock()
		done := c.flushes >= n
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-c.flushed:
		case <-c.stopped:
			return ErrClockStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type manualTicker struct{ c *ManualClock }

func (t manualTicker) C() <-chan time.Time { return t.c.tick }

func (t manualTicker) Flushed() {
	t.c.mu.Lock()
	t.c.flushes++
	t.c.mu.Unlock()
	select {
	case t.c.flushed <- struct{}{}:
	default: // a wake-up is pending already; Step reads the count
	}
}

func (t manualTicker) Stop() { t.c.stop.Do(func() { close(t.c.stopped) }) }

// Now returns the time of the engine's clock (Config.Clock): the wall's,
// or a manual clock's, for the "time" of a message the engine does not
// build (a pong).
func (e *Engine) Now() time.Time { return e.cfg.clock().Now() }
