package api

import "time"

// rateLimiter is a token bucket for one connection's messages, plus a strike
// count for flooding: every refused message adds a strike, every accepted one
// takes one away. Owned by the connection's reader goroutine.
type rateLimiter struct {
	rate    float64 // tokens per second
	burst   float64
	tokens  float64
	last    time.Time
	strikes int
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// allow takes a token if there is one.
func (r *rateLimiter) allow(now time.Time) bool {
	r.tokens += now.Sub(r.last).Seconds() * r.rate
	if r.tokens > r.burst {
		r.tokens = r.burst
	}
	r.last = now
	if r.tokens >= 1 {
		r.tokens--
		if r.strikes > 0 {
			r.strikes--
		}
		return true
	}
	r.strikes++
	return false
}
