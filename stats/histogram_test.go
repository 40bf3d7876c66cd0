package stats

import (
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	h := Histogram{Bounds: []float64{0.001, 0.01, 0.1}}
	for _, d := range []time.Duration{
		500 * time.Microsecond, time.Millisecond, // ≤ 1 ms (a bound is inclusive)
		5 * time.Millisecond, // ≤ 10 ms
		2 * time.Second,      // beyond the last bound: only in count and sum
		-time.Millisecond,    // clock step back: counted as 0
	} {
		h.Observe(d)
	}
	cum, n, sum := h.Snapshot()
	want := map[float64]uint64{0.001: 3, 0.01: 4, 0.1: 4}
	for b, c := range want {
		if cum[b] != c {
			t.Errorf("bucket ≤%g: %d, want %d", b, cum[b], c)
		}
	}
	if n != 5 {
		t.Errorf("count %d, want 5", n)
	}
	if sum < 2.0065 || sum > 2.0066 {
		t.Errorf("sum %g, want 2.0065", sum)
	}
}
