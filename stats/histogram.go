// Package stats holds the lock-free counters that hot paths update and the
// metrics endpoint reads: today, a histogram of durations with fixed buckets.
// It has no goroutines.
package stats

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations into fixed buckets, lock-free. Set Bounds
// (upper bounds in seconds, ascending, at most 15) before the first Observe;
// a zero Histogram counts everything in one bucket.
type Histogram struct {
	Bounds []float64
	counts [16]atomic.Uint64
	sumNs  atomic.Int64
	count  atomic.Uint64
}

// Observe counts one duration. A negative duration counts as zero.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	s := d.Seconds()
	i := 0
	for i < len(h.Bounds) && s > h.Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
	h.count.Add(1)
}

// Snapshot returns the cumulative count per bound, the total count and the
// sum in seconds, as Prometheus histograms want them.
func (h *Histogram) Snapshot() (cumulative map[float64]uint64, count uint64, sum float64) {
	cumulative = make(map[float64]uint64, len(h.Bounds))
	var acc uint64
	for i, b := range h.Bounds {
		acc += h.counts[i].Load()
		cumulative[b] = acc
	}
	return cumulative, h.count.Load(), float64(h.sumNs.Load()) / 1e9
}
