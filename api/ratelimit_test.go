package api

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	r := newRateLimiter(10, 3)
	r.last = now
	for i := 0; i < 3; i++ {
		if !r.allow(now) {
			t.Fatalf("burst message %d refused", i)
		}
	}
	if r.allow(now) || r.strikes != 1 {
		t.Fatalf("over the burst: allowed, strikes %d", r.strikes)
	}
	if !r.allow(now.Add(100*time.Millisecond)) || r.strikes != 0 {
		t.Fatalf("after one token's time: strikes %d", r.strikes)
	}
	// a long pause refills only up to the burst
	later := now.Add(time.Hour)
	n := 0
	for r.allow(later) {
		n++
	}
	if n != 3 {
		t.Fatalf("refilled to %d, want the burst 3", n)
	}
}
