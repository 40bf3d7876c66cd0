package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestSVG: the chart says what ran on lines that fit it, and a run that
// timed nothing (the raw limit) is named without a latency curve of zeros.
func TestSVG(t *testing.T) {
	h := newHist()
	for v := int64(1000); v < 300000; v += 1000 {
		h.add(v)
	}
	c := loadConfig{Conns: 10000, K: 20, Symbols: 500, Rate: 20000, Coalesce: 50 * time.Millisecond, Deflate: true, Sample: 0.01, Duration: 20 * time.Second}
	rs := []*result{
		{Server: "ticker", Hist: h, FramesPS: 40000, Series: []point{{T: 1, FramesPerSec: 40000}, {T: 2, FramesPerSec: 41000}}},
		{Server: "raw", Hist: newHist(), FramesPS: 120000, Series: []point{{T: 1, FramesPerSec: 120000}}},
	}
	out := svg(c, rs)
	for _, want := range []string{"10000 conns × 20 of 500 symbols", "load clients: 1% of clients inflate and decode", "raw: no latency", "ticker: p50 "} {
		if !strings.Contains(out, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if strings.Contains(out, "raw: p50") {
		t.Error("svg gives the raw run a latency")
	}
	for _, line := range runLabel(c) {
		if n := len([]rune(line)); n > 120 { // 13 px sans-serif: about 7 px a character in the 780 px between the margins
			t.Errorf("heading line of %d characters overflows the chart: %q", n, line)
		}
	}
	if dir := os.Getenv("TICKER_SVG_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "test.svg"), []byte(out), 0o644)
	}
}
