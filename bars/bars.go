package bars

import (
	"fmt"

	"github.com/ticker-io/ticker/market"
)

// Interval is the length of a bar.
type Interval uint8

// The intervals kept.
const (
	Second Interval = iota // "1s": the last 15 minutes
	Minute                 // "1m": the last 24 hours
	numIntervals
)

var intervals = [numIntervals]struct {
	name string
	secs int64
	keep int
}{
	{"1s", 1, 900},
	{"1m", 60, 1440},
}

// ParseInterval reads "1s" or "1m".
func ParseInterval(s string) (Interval, error) {
	for i, iv := range intervals {
		if iv.name == s {
			return Interval(i), nil
		}
	}
	return 0, fmt.Errorf("interval %q: want 1s or 1m", s)
}

// String returns "1s" or "1m".
func (i Interval) String() string { return intervals[i].name }

// Seconds is the bar's length in seconds.
func (i Interval) Seconds() int64 { return intervals[i].secs }

// Keep is how many bars of this interval a symbol keeps: its limit.
func (i Interval) Keep() int { return intervals[i].keep }

// Bar is one interval of a symbol's trades (or mid prices).
type Bar struct {
	Time                   int64 // start of the bar, Unix seconds
	Open, High, Low, Close market.Decimal
	Volume                 market.Decimal // sum of last_size; 0 for mid-price bars
}

// add folds one price and size into b.
func (b *Bar) add(price, size market.Decimal) {
	if price.Cmp(b.High) > 0 {
		b.High = price
	}
	if price.Cmp(b.Low) < 0 {
		b.Low = price
	}
	b.Close = price
	if !size.IsZero() {
		b.Volume = b.Volume.Add(size)
	}
}

// ring is a bounded buffer of bars, oldest first; once full, each new bar
// overwrites the oldest.
type ring struct {
	bars []Bar
	head int // index of the oldest bar once len(bars) == cap
}

func (r *ring) latest() *Bar {
	if len(r.bars) == 0 {
		return nil
	}
	i := r.head - 1
	if i < 0 {
		i = len(r.bars) - 1
	}
	return &r.bars[i]
}

func (r *ring) push(b Bar, keep int) {
	if len(r.bars) < keep {
		r.bars = append(r.bars, b)
		return
	}
	r.bars[r.head] = b
	r.head = (r.head + 1) % keep
}

// appendSince appends, oldest first, the newest limit bars that start at
// or after from.
func (r *ring) appendSince(dst []Bar, from int64, limit int) []Bar {
	n := len(r.bars)
	skip := max(n-limit, 0)
	for k := skip; k < n; k++ {
		b := r.bars[(r.head+k)%n]
		if b.Time >= from {
			dst = append(dst, b)
		}
	}
	return dst
}
