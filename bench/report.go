package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type point struct {
	T            float64 `json:"t"`
	FramesPerSec float64 `json:"frames_per_sec"`
	RSSMiB       float64 `json:"rss_mib"`
}

// result is one load run against one server.
type result struct {
	Server       string             `json:"server"`
	Config       loadConfig         `json:"config"`
	Conns        int64              `json:"conns"`
	ConnErrors   int64              `json:"connect_errors"`
	ConnectRate  float64            `json:"connect_rate"`
	FramesPS     float64            `json:"frames_per_sec"`
	WireBPS      float64            `json:"wire_bytes_per_sec"`
	PlainBPS     float64            `json:"plain_bytes_per_sec_est"`
	QuotesPS     float64            `json:"sampled_quotes_per_sec"`
	SampledConns int                `json:"sampled_conns"`
	P50, P90     float64            // ms
	P99, P999    float64            // ms
	Max          float64            // ms
	SeqErrors    uint64             `json:"seq_errors"`
	Resyncs      uint64             `json:"client_resyncs"`
	Closed       int64              `json:"server_closed"`
	CloseCodes   map[int]int        `json:"close_codes"`
	FirstError   string             `json:"first_error,omitempty"`
	CPUSeconds   float64            `json:"server_cpu_seconds"`
	RSSBefore    int64              `json:"rss_before"`
	RSSPeak      int64              `json:"rss_peak"`
	Metrics      map[string]float64 `json:"server_metrics"`
	// MetricsBefore are the same counters when RSSBefore was read, before
	// the first connection.
	MetricsBefore map[string]float64 `json:"server_metrics_before"`
	Series        []point            `json:"series"`
	Hist          *hist              `json:"latency_hist_us"`
}

func (r *result) fill(s snapshot, d time.Duration) {
	secs := d.Seconds()
	r.Conns, r.ConnErrors, r.Closed = s.Conns, s.ConnectErrors, s.ServerClosed
	r.FramesPS = float64(s.Frames) / secs
	r.WireBPS = float64(s.Bytes) / secs
	if s.SampledWire > 0 {
		r.PlainBPS = r.WireBPS * float64(s.SampledPlain) / float64(s.SampledWire)
	}
	r.QuotesPS = float64(s.Quotes) / secs
	ms := func(q float64) float64 { return float64(s.Hist.quantile(q)) / 1000 }
	r.P50, r.P90, r.P99, r.P999, r.Max = ms(0.5), ms(0.9), ms(0.99), ms(0.999), ms(1)
	r.SeqErrors, r.Resyncs, r.CloseCodes, r.FirstError, r.Hist = s.SeqErrors, s.Resyncs, s.CloseCodes, s.FirstError, s.Hist
}

func (r *result) rssPerConnKiB() float64 {
	if r.Conns == 0 || r.RSSPeak == 0 {
		return 0
	}
	return float64(r.RSSPeak-r.RSSBefore) / float64(r.Conns) / 1024
}

// quoteDeliveriesPS estimates the quote entries delivered per second to all
// reading connections from what the sample received.
func (r *result) quoteDeliveriesPS() float64 {
	if r.SampledConns == 0 {
		return 0
	}
	return r.QuotesPS / float64(r.SampledConns) * float64(r.Conns-int64(r.Config.Stallers))
}

func (r *result) deliveriesPerCPUSecond() float64 {
	if r.CPUSeconds == 0 {
		return 0
	}
	return r.FramesPS * r.Config.Duration.Seconds() / r.CPUSeconds
}

func writeReports(dir, name string, c loadConfig, rs []*result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	md := markdown(c, rs)
	fmt.Print(md)
	js, _ := json.MarshalIndent(rs, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".svg"), []byte(svg(c, rs)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "reports: %s/%s.{md,json,svg}\n", dir, name)
	return nil
}

func markdown(c loadConfig, rs []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d subscribers × %d of %d symbols (%s), feed %g changes/s, window %v, deflate %v, %s, %d stalled, measured %v\n\n",
		c.Conns, c.K, c.Symbols, map[bool]string{false: "uniform", true: "skewed"}[c.Skew], c.Rate, c.Coalesce, c.Deflate, clientWork(c), c.Stallers, c.Duration)
	b.WriteString("| metric |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s |", r.Server)
	}
	if len(rs) == 2 {
		fmt.Fprintf(&b, " %s ÷ %s |", rs[0].Server, rs[1].Server)
	}
	b.WriteString("\n|---|")
	for range rs {
		b.WriteString("---|")
	}
	if len(rs) == 2 {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(label, format string, f func(*result) float64) {
		fmt.Fprintf(&b, "| %s |", label)
		for _, r := range rs {
			fmt.Fprintf(&b, " "+format+" |", f(r))
		}
		if len(rs) == 2 {
			if d := f(rs[1]); d != 0 {
				fmt.Fprintf(&b, " %.2f |", f(rs[0])/d)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	row("connected", "%.0f", func(r *result) float64 { return float64(r.Conns) })
	row("connect errors", "%.0f", func(r *result) float64 { return float64(r.ConnErrors) })
	row("connect rate (conns/s)", "%.0f", func(r *result) float64 { return r.ConnectRate })
	row("subscriptions active at the end (want conns × k)", "%.0f", func(r *result) float64 { return r.Metrics["ticker_subscriptions"] })
	row("delivered messages/s", "%.0f", func(r *result) float64 { return r.FramesPS })
	row("wire MB/s", "%.2f", func(r *result) float64 { return r.WireBPS / 1e6 })
	row("uncompressed MB/s (from the sample)", "%.2f", func(r *result) float64 { return r.PlainBPS / 1e6 })
	row("latency p50 (ms)", "%.1f", func(r *result) float64 { return r.P50 })
	row("latency p90 (ms)", "%.1f", func(r *result) float64 { return r.P90 })
	row("latency p99 (ms)", "%.1f", func(r *result) float64 { return r.P99 })
	row("latency p99.9 (ms)", "%.1f", func(r *result) float64 { return r.P999 })
	row("latency max (ms)", "%.1f", func(r *result) float64 { return r.Max })
	row("latency samples", "%.0f", func(r *result) float64 { return float64(r.Hist.N) })
	row("seq gaps seen by the sample", "%.0f", func(r *result) float64 { return float64(r.SeqErrors) })
	row("resyncs seen by the sample", "%.0f", func(r *result) float64 { return float64(r.Resyncs) })
	row("server drops (frames)", "%.0f", func(r *result) float64 { return r.Metrics["ticker_drops_total"] })
	row("messages compressed whole (server)", "%.0f", func(r *result) float64 { return r.Metrics["ticker_frames_deflated_total"] })
	row("updates spliced (server)", "%.0f", func(r *result) float64 { return r.Metrics["ticker_frames_assembled_total"] })
	row("connections closed by the server", "%.0f", func(r *result) float64 { return float64(r.Closed) })
	row("server CPU seconds (measured span)", "%.1f", func(r *result) float64 { return r.CPUSeconds })
	row("server CPU (% of one core)", "%.0f", func(r *result) float64 { return 100 * r.CPUSeconds / c.Duration.Seconds() })
	row("messages per server CPU-second", "%.0f", func(r *result) float64 { return r.deliveriesPerCPUSecond() })
	row("quote deliveries/s (est. from the sample)", "%.0f", func(r *result) float64 { return r.quoteDeliveriesPS() })
	row("quote deliveries per server CPU-second", "%.0f", func(r *result) float64 {
		if r.CPUSeconds == 0 {
			return 0
		}
		return r.quoteDeliveriesPS() * r.Config.Duration.Seconds() / r.CPUSeconds
	})
	row("server RSS before (MiB)", "%.1f", func(r *result) float64 { return float64(r.RSSBefore) / (1 << 20) })
	row("server RSS peak (MiB)", "%.1f", func(r *result) float64 { return float64(r.RSSPeak) / (1 << 20) })
	row("server RSS per connection (KiB)", "%.1f", func(r *result) float64 { return r.rssPerConnKiB() })
	// like RSS per connection: what the load added over the idle server
	perConn := func(metric string) func(*result) float64 {
		return func(r *result) float64 {
			if r.Conns == 0 || r.Metrics[metric] == 0 {
				return 0
			}
			return (r.Metrics[metric] - r.MetricsBefore[metric]) / float64(r.Conns) / 1024
		}
	}
	row("  of which goroutine stacks per connection (KiB)", "%.1f", perConn("go_memstats_stack_inuse_bytes"))
	row("  of which heap in use per connection (KiB)", "%.1f", perConn("go_memstats_heap_inuse_bytes"))
	row("server goroutines at the end", "%.0f", func(r *result) float64 { return r.Metrics["go_goroutines"] })
	for _, r := range rs {
		if r.FirstError != "" {
			fmt.Fprintf(&b, "\n%s: first client error: %s\n", r.Server, r.FirstError)
		}
	}
	for _, r := range rs {
		if d := windowLengths(r); d != "" {
			fmt.Fprintf(&b, "\n%s: window length (flush to flush, measured span): %s\n", r.Server, d)
		}
	}
	for _, r := range rs[1:] {
		if r.Server == "raw" && r.FramesPS > 0 {
			fmt.Fprintf(&b, "\n**%s delivered %.0f messages/s: %.1f %% of the raw limit measured in the same run** (%.0f writes/s of one %d-byte frame to each of the same %d connections every %v).\n",
				rs[0].Server, rs[0].FramesPS, 100*rs[0].FramesPS/r.FramesPS, r.FramesPS, r.Config.RawFrameBytes, c.Conns, c.Coalesce)
		}
	}
	return b.String()
}

// svg draws two panels: the latency at each percentile (log-scaled tail)
// and the delivered message rate over the measured span. Its heading says
// what ran; legends and the p50/p99 values sit above each plot, never on
// its curves; both axes are labelled with their units.
func svg(c loadConfig, rs []*result) string {
	const w, h, pad, top = 900, 380, 60, 80
	colors := []string{"#1f77b4", "#d62728"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, w, h*2+46)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>`)
	for i, line := range runLabel(c) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13">%s</text>`, pad, 18+16*i, html.EscapeString(line))
	}
	b.WriteString(`<g transform="translate(0,40)">`)
	// panel 1: latency percentiles; x = -log10(1-q) from q=0 to 0.9999
	qs := []float64{0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999}
	xOf := func(q float64) float64 { return pad + (w-2*pad)*(-math.Log10(1-q))/4 }
	maxLat := 1.0
	for _, r := range rs {
		for _, q := range qs {
			maxLat = max(maxLat, float64(r.Hist.quantile(q))/1000)
		}
	}
	maxLat = niceCeil(maxLat)
	yLat := func(ms float64) float64 { return float64(h-pad) - float64(h-top-pad)*ms/maxLat }
	fmt.Fprintf(&b, `<text x="%d" y="20" font-weight="bold">Feed-to-client latency by percentile</text>`, pad)
	axes(&b, pad, top, h, w)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">p%g</text>`, xOf(q), h-pad+16, q*100)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">percentile of quotes delivered (log scale toward the tail)</text>`, w/2, h-pad+34)
	for i := 0; i <= 4; i++ {
		v := maxLat * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%g</text>`, pad-6, yLat(v)+4, v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#ddd"/>`, pad, yLat(v), w-pad, yLat(v))
	}
	fmt.Fprintf(&b, `<text transform="translate(14,%d) rotate(-90)" text-anchor="middle">latency (ms)</text>`, (top+h-pad)/2)
	for i, r := range rs {
		if r.Hist == nil || r.Hist.N == 0 {
			// the raw limit's frames carry no quotes: nothing to time
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s: no latency (its frames carry no quotes)</text>`, pad+10, 40+16*i, colors[i%2], html.EscapeString(r.Server))
			continue
		}
		var pts []string
		for _, q := range qs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(q), yLat(float64(r.Hist.quantile(q))/1000)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colors[i%2], strings.Join(pts, " "))
		p50, p99 := float64(r.Hist.quantile(0.5))/1000, float64(r.Hist.quantile(0.99))/1000
		for _, m := range []struct{ q, v float64 }{{0.5, p50}, {0.99, p99}} {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`, xOf(m.q), yLat(m.v), colors[i%2])
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s: p50 %.1f ms, p99 %.1f ms (dots)</text>`, pad+10, 40+16*i, colors[i%2], html.EscapeString(r.Server), p50, p99)
	}
	b.WriteString(`</g>`)
	// panel 2: delivered messages/s over time
	fmt.Fprintf(&b, `<g transform="translate(0,%d)">`, h+46)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-weight="bold">Delivered messages per second over the measured span</text>`, pad)
	axes(&b, pad, top, h, w)
	maxT, maxR := c.Duration.Seconds(), 1.0
	for _, r := range rs {
		for _, p := range r.Series {
			maxT, maxR = max(maxT, p.T), max(maxR, p.FramesPerSec)
		}
	}
	maxR = niceCeil(maxR)
	yR := func(v float64) float64 { return float64(h-pad) - float64(h-top-pad)*v/maxR }
	for i := 0; i <= 4; i++ {
		v := maxR * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`, pad-6, yR(v)+4, compact(v))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#ddd"/>`, pad, yR(v), w-pad, yR(v))
		tv := maxT * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%.0f s</text>`, pad+(w-2*pad)*tv/maxT, h-pad+16, tv)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">time since the measured span began (s)</text>`, w/2, h-pad+34)
	fmt.Fprintf(&b, `<text transform="translate(14,%d) rotate(-90)" text-anchor="middle">messages/s</text>`, (top+h-pad)/2)
	for i, r := range rs {
		var pts []string
		for _, p := range r.Series {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", pad+(w-2*pad)*p.T/maxT, yR(p.FramesPerSec)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colors[i%2], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s: %s messages/s over the span</text>`, pad+10, 40+16*i, colors[i%2], html.EscapeString(r.Server), compact(r.FramesPS))
	}
	b.WriteString(`</g></svg>`)
	return b.String()
}

// runLabel says what a run measured, for the SVG's heading: two lines that
// fit its width.
func runLabel(c loadConfig) []string {
	commit := "unknown commit"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = "commit " + strings.TrimSpace(string(out))
	}
	return []string{
		fmt.Sprintf("%d conns × %d of %d symbols, %s changes/s, window %v, deflate %v, %v measured; %s",
			c.Conns, c.K, c.Symbols, compact(c.Rate), c.Coalesce, c.Deflate, c.Duration, commit),
		"load clients: " + clientWork(c),
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for axis ends.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// compact writes 48655 as 48.7k.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func axes(b *strings.Builder, pad, top, h, w int) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, pad, top, pad, h-pad)
}

// clientWork says what the load clients do with each frame.
func clientWork(c loadConfig) string {
	if c.Inflate {
		return "every client inflates"
	}
	return fmt.Sprintf("%g%% of clients inflate and decode, the others count frames", c.Sample*100)
}

// windowLengths is the distribution of the server's window lengths over the
// measured span, from the difference of its ticker_window_interval_seconds
// histogram after and before: the share of windows at most each bound long,
// and p50/p99 as the bound of their bucket. "" when the server has none.
func windowLengths(r *result) string {
	const prefix = `ticker_window_interval_seconds_bucket{le="`
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for k, v := range r.Metrics {
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, `"}`) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(k, prefix), `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - r.MetricsBefore[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return ""
	}
	total := bs[len(bs)-1].n // +Inf
	ms := func(le float64) string {
		if math.IsInf(le, 1) {
			return "longer"
		}
		return fmt.Sprintf("≤%g ms", le*1000)
	}
	quantile := func(q float64) string {
		for _, b := range bs {
			if b.n >= q*total {
				return ms(b.le)
			}
		}
		return "?"
	}
	var parts []string
	prev := 0.0
	for _, b := range bs {
		if b.n > prev {
			parts = append(parts, fmt.Sprintf("%s %.1f %%", ms(b.le), 100*(b.n-prev)/total))
		}
		prev = b.n
	}
	return fmt.Sprintf("%.0f windows, p50 %s, p99 %s; %s", total, quantile(0.5), quantile(0.99), strings.Join(parts, ", "))
}
