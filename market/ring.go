package market

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ticker-io/ticker/internal/field"
)

// The ring's capacity: DefaultRingCapacity unless the operator asks for
// another, within MinRingCapacity and MaxRingCapacity (CheckRingCapacity).
const (
	DefaultRingCapacity = 65536
	MinRingCapacity     = 2
	MaxRingCapacity     = 1 << 24
)

// CheckRingCapacity reports a capacity NewRing should not be given, as a
// *field.Error naming "Capacity".
func CheckRingCapacity(n int) error {
	if n < MinRingCapacity || n > MaxRingCapacity {
		return field.New("Capacity", n, fmt.Sprintf("%d to %d", MinRingCapacity, MaxRingCapacity))
	}
	return nil
}

// ErrRingClosed is returned by Push once the ring is closed.
var ErrRingClosed = errors.New("ring closed")

// Ring is a bounded multi-producer, single-consumer queue of Quotes. Feeds
// push into it from their own goroutines; the fanout engine pops from one
// goroutine. It takes no lock: producers claim a slot with a CAS on the head
// cursor and publish it through the slot's sequence number; the consumer
// reads slots in order (Vyukov's bounded queue).
//
// Overflow policy: backpressure, never loss. When the ring is full, TryPush
// reports false and Push waits (spinning briefly, then sleeping with growing
// pauses up to 1ms) until the consumer frees a slot, the ring is closed, or
// the push's context ends. A quote is never dropped silently, since a dropped
// partial update would corrupt the symbol's state. The count of pushes that
// found the ring full is kept for metrics (FullWaits).
type Ring struct {
	_       [64]byte
	head    atomic.Uint64 // next slot a producer claims
	_       [56]byte
	tail    atomic.Uint64 // next slot the consumer reads
	_       [56]byte
	waiting atomic.Bool // the consumer has armed Ready (Arm) and may sleep on it
	closed  atomic.Bool
	full    atomic.Uint64
	mask    uint64
	slots   []ringSlot
	notify  chan struct{}
}

type ringSlot struct {
	seq atomic.Uint64
	q   Quote
}

// NewRing returns a ring holding at least capacity quotes (rounded up to a
// power of two, minimum 2).
func NewRing(capacity int) *Ring {
	n := 2
	for n < capacity {
		n <<= 1
	}
	r := &Ring{mask: uint64(n - 1), slots: make([]ringSlot, n), notify: make(chan struct{}, 1)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// Cap returns the number of slots.
func (r *Ring) Cap() int { return len(r.slots) }

// Len returns how many quotes wait to be popped (approximate under concurrency).
func (r *Ring) Len() int { return int(r.head.Load() - r.tail.Load()) }

// FullWaits returns how many pushes found the ring full.
func (r *Ring) FullWaits() uint64 { return r.full.Load() }

// TryPush copies q into the ring. It reports false when the ring is full or
// closed; it never waits.
func (r *Ring) TryPush(q *Quote) bool {
	if r.closed.Load() {
		return false
	}
	for {
		pos := r.head.Load()
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				s.q = *q
				s.seq.Store(pos + 1)
				if r.waiting.Load() {
					select {
					case r.notify <- struct{}{}:
					default:
					}
				}
				return true
			}
		case dif < 0:
			return false // full: the slot still holds an unread quote
		}
		// another producer claimed pos; retry with the new head
	}
}

// Push copies q into the ring, waiting while it is full (see Ring). It
// returns ErrRingClosed if the ring is or becomes closed, or ctx's error.
func (r *Ring) Push(ctx context.Context, q *Quote) error {
	if r.TryPush(q) {
		return nil
	}
	r.full.Add(1)
	pause := 20 * time.Microsecond
	for spins := 0; ; spins++ {
		if r.closed.Load() {
			return ErrRingClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.TryPush(q) {
			return nil
		}
		if spins < 16 {
			runtime.Gosched()
			continue
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if pause < time.Millisecond {
			pause *= 2
		}
	}
}

// Pop moves the oldest quote into out. It reports false when the ring is
// empty. Only one goroutine may pop.
func (r *Ring) Pop(out *Quote) bool {
	pos := r.tail.Load()
	s := &r.slots[pos&r.mask]
	if s.seq.Load() != pos+1 {
		return false
	}
	*out = s.q
	s.q = Quote{} // drop references held by the slot
	s.seq.Store(pos + r.mask + 1)
	r.tail.Store(pos + 1)
	return true
}

// Arm prepares the consumer to sleep: it reports true if quotes are already
// waiting (so the consumer must not sleep); otherwise a later push will
// signal Ready. Call Disarm after waking.
func (r *Ring) Arm() bool {
	r.waiting.Store(true)
	pos := r.tail.Load()
	if r.slots[pos&r.mask].seq.Load() == pos+1 {
		r.waiting.Store(false)
		return true
	}
	return false
}

// Disarm stops signalling Ready.
func (r *Ring) Disarm() { r.waiting.Store(false) }

// Ready is signalled by a push made while the consumer is armed.
func (r *Ring) Ready() <-chan struct{} { return r.notify }

// Close makes every current and future Push fail with ErrRingClosed. Quotes
// already in the ring can still be popped.
func (r *Ring) Close() { r.closed.Store(true) }
