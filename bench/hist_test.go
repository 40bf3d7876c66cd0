package main

import (
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHistQuantiles(t *testing.T) {
	h := newHist()
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	for i := 0; i < 100000; i++ {
		v := int64(rng.ExpFloat64() * 20000) // µs
		vals = append(vals, v)
		h.add(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		if d := float64(got-exact) / float64(exact); d > 0.02 || d < -0.02 {
			t.Errorf("q%.3f: %d, exact %d", q, got, exact)
		}
	}
	if h.quantile(1) != vals[len(vals)-1] {
		t.Errorf("max %d, want %d", h.quantile(1), vals[len(vals)-1])
	}
	for v := int64(0); v < 1<<20; v += 37 {
		if b := bucketOf(v); lowOf(b) > v || lowOf(b+1) <= v {
			t.Fatalf("value %d in bucket %d [%d,%d)", v, b, lowOf(b), lowOf(b+1))
		}
	}
}
