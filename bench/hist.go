package main

import (
	"math"
	"math/bits"
	"sort"
)

// hist is a log-linear latency histogram in microseconds: 64 sub-buckets per
// power of two, so any value is kept within 1.6% (the scheme of HDR
// histograms). Not safe for concurrent use.
type hist struct {
	Counts map[int]uint64 `json:"counts"` // bucket index → count
	N      uint64         `json:"n"`
	Max    int64          `json:"max"`
}

const subBits = 6

func newHist() *hist { return &hist{Counts: map[int]uint64{}} }

func bucketOf(v int64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := 63 - bits.LeadingZeros64(uint64(v)) - subBits // v >> e is in [64,128)
	return (e+1)<<subBits + int(v>>e) - 1<<subBits
}

// lowOf is the smallest value in bucket b.
func lowOf(b int) int64 {
	if b < 1<<subBits {
		return int64(b)
	}
	e := b>>subBits - 1
	return int64(b&(1<<subBits-1)+1<<subBits) << e
}

func (h *hist) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.Counts[bucketOf(v)]++
	h.N++
	if v > h.Max {
		h.Max = v
	}
}

func (h *hist) merge(o *hist) {
	for b, n := range o.Counts {
		h.Counts[b] += n
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// quantile returns the value at q (0..1), as the low edge of its bucket.
func (h *hist) quantile(q float64) int64 {
	if h.N == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max
	}
	keys := make([]int, 0, len(h.Counts))
	for b := range h.Counts {
		keys = append(keys, b)
	}
	sort.Ints(keys)
	rank := uint64(math.Ceil(q * float64(h.N)))
	if rank == 0 {
		rank = 1
	}
	var acc uint64
	for _, b := range keys {
		acc += h.Counts[b]
		if acc >= rank {
			return min(lowOf(b), h.Max)
		}
	}
	return h.Max
}
