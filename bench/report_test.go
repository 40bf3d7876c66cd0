package main

import (
	"strings"
	"testing"
)

// TestWindowLengths: the distribution is the difference of the histogram
// after and before the measured span, in shares of its windows.
func TestWindowLengths(t *testing.T) {
	b := func(le string) string { return `ticker_window_interval_seconds_bucket{le="` + le + `"}` }
	r := &result{
		MetricsBefore: map[string]float64{b("0.05"): 100, b("0.06"): 100, b("0.1"): 100, b("+Inf"): 100},
		Metrics:       map[string]float64{b("0.05"): 100, b("0.06"): 190, b("0.1"): 199, b("+Inf"): 200},
	}
	got := windowLengths(r)
	for _, want := range []string{"100 windows", "p50 ≤60 ms", "p99 ≤100 ms", "≤60 ms 90.0 %", "≤100 ms 9.0 %", "longer 1.0 %"} {
		if !strings.Contains(got, want) {
			t.Errorf("windowLengths = %q, want it to hold %q", got, want)
		}
	}
	if strings.Contains(got, "≤50 ms") {
		t.Errorf("windowLengths = %q: a bucket no window of the span fell in is listed", got)
	}
	if got := windowLengths(&result{}); got != "" {
		t.Errorf("no histogram: %q, want empty", got)
	}
}
