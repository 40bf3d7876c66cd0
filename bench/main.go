// Command bench is ticker's load generator. It starts the server (or attaches
// to one with --target), opens many WebSocket subscribers on loopback from
// several worker processes and source addresses, measures delivery and
// latency, and writes a report: a Markdown table on stdout, JSON and SVG in
// --out. With --compare it runs the same load against a naive
// per-subscriber broadcaster (bench/baseline) in the same run.
//
//	go run ./bench                                   # 2,000 subscribers, about 40 s
//	go run ./bench --conns 10000 --rate 20000 --compare
//	go run ./bench soak --duration 3m --rate 2000      # connection churn soak
//
// Traffic goes only to loopback; every run is bounded by --duration.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadConfig is one run's shape.
type loadConfig struct {
	Conns         int           `json:"conns"`
	Symbols       int           `json:"symbols"`
	K             int           `json:"symbols_per_conn"`
	Skew          bool          `json:"skew"`
	Rate          float64       `json:"feed_rate"`
	Coalesce      time.Duration `json:"coalesce"`
	Deflate       bool          `json:"deflate"`
	Inflate       bool          `json:"inflate_all,omitempty"`     // every connection inflates every frame, as a real client does
	RawFrameBytes int           `json:"raw_frame_bytes,omitempty"` // the raw limit's frame (--vs-raw): ticker's average wire message
	Duration      time.Duration `json:"duration"`
	Ramp          float64       `json:"ramp_per_sec"`
	Warmup        time.Duration `json:"warmup"`
	Sample        float64       `json:"sample"`
	Stallers      int           `json:"stallers"`
	PerWorker     int           `json:"per_worker"`
	SourceIPs     int           `json:"source_ips"`
	Target        string        `json:"target,omitempty"`
	TargetPID     int           `json:"target_pid,omitempty"`
	ServerArgs    string        `json:"server_args,omitempty"`
	Edges         int           `json:"edges,omitempty"`
	Every         time.Duration `json:"every,omitempty"` // subscribers ask for "every" (conflated updates); 0: the window
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := runWorker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		if err := runSoak(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench soak:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // --help: the usage was printed, and asking for it is no failure
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c loadConfig
	var compare, vsRaw bool
	var every time.Duration
	var out, name string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.Conns, "conns", 2000, "WebSocket subscribers")
	fs.IntVar(&c.Symbols, "symbols", 500, "symbols the synthetic feed serves")
	fs.IntVar(&c.K, "k", 20, "symbols each subscriber subscribes to")
	fs.BoolVar(&c.Skew, "skew", false, "pick popular symbols more often (Zipf) instead of uniformly")
	fs.Float64Var(&c.Rate, "rate", 2000, "feed quote changes per second")
	fs.DurationVar(&c.Coalesce, "coalesce", 50*time.Millisecond, "server coalescing window")
	fs.BoolVar(&c.Deflate, "deflate", true, "offer permessage-deflate")
	fs.BoolVar(&c.Inflate, "inflate", false, "every connection inflates every compressed frame, as a real client does (default: only the sampled ones; the others count frames)")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "measured time, after the ramp and warm-up")
	fs.Float64Var(&c.Ramp, "ramp", 2000, "connections opened per second")
	fs.DurationVar(&c.Warmup, "warmup", 3*time.Second, "time between the last connection and measuring")
	fs.Float64Var(&c.Sample, "sample", 0.01, "fraction of connections that decode, check seq and measure latency")
	fs.IntVar(&c.Stallers, "stallers", 0, "connections that subscribe and never read")
	fs.IntVar(&c.PerWorker, "per-worker", 12000, "connections per worker process (the file limit is 20,000 a process)")
	fs.IntVar(&c.SourceIPs, "source-ips", 16, "loopback source addresses the connections are spread over, 127.0.0.2 to 127.0.0.(1+N), 1 to 250 (each gives about 28,000 ephemeral ports; 1: all from 127.0.0.2)")
	fs.StringVar(&c.Target, "target", "", "attach to a running server (host:port on loopback) instead of starting one (which listens on a free loopback port the bench picks)")
	fs.IntVar(&c.TargetPID, "target-pid", 0, "with --target: its pid, for CPU and RSS")
	fs.StringVar(&c.ServerArgs, "server-args", "", "extra flags for the ticker server it starts")
	fs.IntVar(&c.Edges, "edges", 0, "run ticker as a cluster: an embedded NATS server, one ingest node and this many edges, connections spread over the edges (0: one process)")
	fs.BoolVar(&compare, "compare", false, "also run the same load against the naive baseline (bench/baseline)")
	fs.BoolVar(&vsRaw, "vs-raw", false, "also run the machine's limit (bench/raw: one pre-built frame of ticker's average wire size to every connection each window) and report ticker's delivery as a share of it")
	fs.DurationVar(&every, "every", 0, `also run the same load with every subscriber asking for "every" (conflated updates at most once per this interval, a multiple of --coalesce), after the run at the window, and compare the two`)
	fs.StringVar(&out, "out", "bench/out", "folder for the JSON and SVG reports")
	fs.StringVar(&name, "name", "", "report name (default from the shape)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Conns < 1 || c.Symbols < 1 || c.K < 1 || c.Rate <= 0 || c.Ramp <= 0 || c.Sample < 0 || c.Sample > 1 || c.PerWorker < 1 || c.Stallers > c.Conns {
		return errors.New("bad flags: conns, symbols, k, rate, ramp, per-worker must be positive, sample 0..1, stallers ≤ conns")
	}
	if c.SourceIPs < 1 || c.SourceIPs > 250 {
		return fmt.Errorf("--source-ips %d: want 1 to 250", c.SourceIPs)
	}
	if every < 0 || every > 0 && (every%c.Coalesce != 0 || every%time.Millisecond != 0) {
		return fmt.Errorf("--every %v: want a whole number of milliseconds, a multiple of --coalesce %v", every, c.Coalesce)
	}
	if c.Target != "" {
		if err := checkTarget(c.Target); err != nil {
			return err
		}
	}
	if name == "" {
		name = fmt.Sprintf("c%d-s%d-k%d-r%g", c.Conns, c.Symbols, c.K, c.Rate)
	}
	bins, err := buildBinaries(compare && c.Target == "", vsRaw && c.Target == "")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins.dir)

	var results []*result
	kinds := []string{"ticker"}
	if compare {
		kinds = append(kinds, "baseline")
	}
	for _, kind := range kinds {
		fmt.Fprintf(os.Stderr, "== %s: %d subscribers × %d of %d symbols, feed %g changes/s, deflate %v\n", kind, c.Conns, c.K, c.Symbols, c.Rate, c.Deflate)
		r, err := runLoad(c, kind, bins)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		results = append(results, r)
	}
	if every > 0 {
		ec := c
		ec.Every = every
		label := "ticker every=" + every.String()
		fmt.Fprintf(os.Stderr, "== %s: the same subscribers, each asking for \"every\":%q\n", label, every.String())
		r, err := runLoad(ec, "ticker", bins)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		r.Server = label
		results = append(results, r)
	}
	if vsRaw && c.Target == "" && len(results) > 0 && results[0].FramesPS > 0 {
		rc := c
		rc.RawFrameBytes = max(64, int(results[0].WireBPS/results[0].FramesPS+0.5)) // ticker's average wire message
		fmt.Fprintf(os.Stderr, "== raw: %d subscribers, one %d-byte frame each per %v\n", c.Conns, rc.RawFrameBytes, c.Coalesce)
		r, err := runLoad(rc, "raw", bins)
		if err != nil {
			return fmt.Errorf("raw: %w", err)
		}
		results = append(results, r)
	}
	return writeReports(out, name, c, results)
}

// checkTarget checks --target: a loopback host and a port, and a server
// there that answers /api/symbols, so that a wrong address fails at once
// rather than after a whole run of zeros.
func checkTarget(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("--target %q: want host:port (%v)", hostport, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--target %s: port %q is not 1..65535", hostport, port)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--target %s: load goes to loopback only", hostport)
	}
	if _, err := fetchSymbols(hostport); err != nil {
		return fmt.Errorf("--target %s: no ticker server answers there: %v", hostport, err)
	}
	return nil
}

type binaries struct{ dir, ticker, baseline, raw, self string }

// buildBinaries builds the server (and the baseline) from the module this
// command belongs to.
func buildBinaries(baseline, raw bool) (binaries, error) {
	dir, err := os.MkdirTemp("", "ticker-bench-")
	if err != nil {
		return binaries{}, err
	}
	b := binaries{dir: dir, ticker: filepath.Join(dir, "ticker"), baseline: filepath.Join(dir, "baseline"), raw: filepath.Join(dir, "raw")}
	b.self, err = os.Executable()
	if err != nil {
		return b, err
	}
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return b, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	build := func(out, pkg string) error {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
		}
		return nil
	}
	if err := build(b.ticker, "."); err != nil {
		return b, err
	}
	if baseline {
		if err := build(b.baseline, "./bench/baseline"); err != nil {
			return b, err
		}
	}
	if raw {
		if err := build(b.raw, "./bench/raw"); err != nil {
			return b, err
		}
	}
	return b, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer starts ticker or the baseline on a free loopback port.
func startServer(c loadConfig, kind string, bins binaries) (*exec.Cmd, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	feed := fmt.Sprintf("synthetic:?symbols=%d&rate=%g&seed=1", c.Symbols, c.Rate)
	var cmd *exec.Cmd
	switch kind {
	case "ticker":
		args := []string{"--addr", addr, "--feed", feed, "--coalesce", c.Coalesce.String(), "--log-level", "warn"}
		args = append(args, strings.Fields(c.ServerArgs)...)
		cmd = exec.Command(bins.ticker, args...)
	case "raw":
		cmd = exec.Command(bins.raw, "--addr", addr, "--frame-bytes", fmt.Sprint(c.RawFrameBytes), "--window", c.Coalesce.String(), "--symbols", fmt.Sprint(c.Symbols))
	default:
		cmd = exec.Command(bins.baseline, "--addr", addr, "--symbols", fmt.Sprint(c.Symbols), "--rate", fmt.Sprint(c.Rate))
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, addr, nil
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return nil, "", fmt.Errorf("server not ready within 20s")
		}
	}
}

func fetchSymbols(hostport string) ([]string, error) {
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + hostport + "/api/symbols")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct{ Symbols []string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("/api/symbols: %w", err)
	}
	if len(body.Symbols) == 0 {
		return nil, errors.New("/api/symbols: no symbols")
	}
	return body.Symbols, nil
}

type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	last  snapshot
	done  chan struct{}
}

func (w *worker) latest() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// runLoad runs one load against one server and returns its result.
func runLoad(c loadConfig, kind string, bins binaries) (*result, error) {
	addr, pid := c.Target, c.TargetPID
	var edges []string
	var pids []int
	if c.Edges > 0 && kind == "ticker" && addr == "" {
		cl, err := startCluster(c, bins)
		if err != nil {
			return nil, err
		}
		defer cl.stop()
		edges, pids = cl.edges, cl.pids
		addr = edges[0]
	} else if addr == "" {
		cmd, a, err := startServer(c, kind, bins)
		if err != nil {
			return nil, err
		}
		addr, pid = a, cmd.Process.Pid
		defer stopProcess(cmd)
	}
	r := &result{Server: kind, Config: c}
	if pid > 0 {
		pids = []int{pid}
	}
	if len(edges) > 0 {
		r.Server = fmt.Sprintf("ticker, %d edges", len(edges))
	}
	// the server's own counters (the edges' summed in a cluster); nil when
	// attached to a --target the generator did not start
	serverMetrics := func() map[string]float64 {
		if len(edges) > 0 {
			m := map[string]float64{}
			for _, e := range edges {
				for k, v := range scrapeMetrics(e) {
					m[k] += v
				}
			}
			return m
		}
		if pid > 0 {
			return scrapeMetrics(addr)
		}
		return nil
	}
	r.RSSBefore = int64(sumProc(pids, procRSSf))
	r.MetricsBefore = serverMetrics()
	rampTime := time.Duration(float64(c.Conns) / c.Ramp * float64(time.Second))
	start := time.Now()
	measureAt := start.Add(rampTime + c.Warmup)
	end := measureAt.Add(c.Duration)

	nWorkers := (c.Conns + c.PerWorker - 1) / c.PerWorker
	sampleMod := 0
	if c.Sample > 0 {
		sampleMod = max(1, int(1/c.Sample+0.5))
	}
	var workers []*worker
	defer func() {
		for _, w := range workers {
			w.cmd.Process.Kill()
		}
	}()
	for i := 0; i < nWorkers; i++ {
		n := c.Conns / nWorkers
		if i < c.Conns%nWorkers {
			n++
		}
		first := i*(c.Conns/nWorkers) + min(i, c.Conns%nWorkers)
		stallers := c.Stallers / nWorkers
		if i < c.Stallers%nWorkers {
			stallers++
		}
		wc := workerConfig{ID: i, HostPort: addr, HostPorts: edges, Conns: n, FirstIndex: first, SampleMod: sampleMod, Deflate: c.Deflate, Inflate: c.Inflate,
			Ramp: c.Ramp / float64(nWorkers), Stallers: stallers, K: c.K, Skew: c.Skew, SourceIPs: c.SourceIPs,
			MeasureAt: measureAt.UnixNano(), MeasureEnd: end.UnixNano(), Seed: 7, StrictSeq: kind == "ticker", Every: c.Every}
		cfg, _ := json.Marshal(wc)
		cmd := exec.Command(bins.self, "worker", "--config", string(cfg))
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		w := &worker{cmd: cmd, stdin: stdin, done: make(chan struct{})}
		workers = append(workers, w)
		go func() {
			defer close(w.done)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var s snapshot
				if json.Unmarshal(sc.Bytes(), &s) == nil {
					w.mu.Lock()
					w.last = s
					w.mu.Unlock()
				}
			}
		}()
	}

	aggregate := func() snapshot {
		agg := snapshot{Hist: newHist(), CloseCodes: map[int]int{}}
		for _, w := range workers {
			s := w.latest()
			agg.Conns += s.Conns
			agg.ConnectErrors += s.ConnectErrors
			agg.ServerClosed += s.ServerClosed
			agg.Frames += s.Frames
			agg.Bytes += s.Bytes
			agg.SampledWire += s.SampledWire
			agg.SampledPlain += s.SampledPlain
			agg.Updates += s.Updates
			agg.Quotes += s.Quotes
			agg.SeqErrors += s.SeqErrors
			agg.Resyncs += s.Resyncs
			for i, n := range s.PerSecond {
				for len(agg.PerSecond) <= i {
					agg.PerSecond = append(agg.PerSecond, 0)
				}
				agg.PerSecond[i] += n
			}
			for k, v := range s.CloseCodes {
				agg.CloseCodes[k] += v
			}
			if agg.FirstError == "" {
				agg.FirstError = s.FirstError
			}
			if s.Hist != nil {
				agg.Hist.merge(s.Hist)
			}
		}
		return agg
	}

	// progress, once a second
	var cpuAtMeasure, rssPeak float64
	var rssBySecond []float64 // the server's RSS sampled in each measured second
	var connectedAt time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for now := range tick.C {
		s := aggregate()
		if connectedAt.IsZero() && s.Conns+s.ConnectErrors >= int64(c.Conns) {
			connectedAt = now
			r.ConnectRate = float64(s.Conns) / now.Sub(start).Seconds()
		}
		var cpu, rss float64
		if len(pids) > 0 {
			cpu = sumProc(pids, procCPU)
			rss = sumProc(pids, procRSSf)
			rssPeak = max(rssPeak, rss)
		}
		phase := "ramp"
		if now.After(measureAt) {
			phase = "measure"
			if cpuAtMeasure == 0 {
				cpuAtMeasure = cpu
			}
			rssBySecond = append(rssBySecond, rss/(1<<20))
		}
		fmt.Fprintf(os.Stderr, "\r%-7s %6.0fs  conns %6d (err %d)  frames %9d  %6.1f MB  p99 %6.1f ms  server cpu %6.1fs rss %6.1f MiB   ",
			phase, now.Sub(start).Seconds(), s.Conns, s.ConnectErrors, s.Frames, float64(s.Bytes)/1e6, float64(s.Hist.quantile(0.99))/1000, cpu, rss/(1<<20))
		if now.After(end) {
			if len(pids) > 0 {
				r.CPUSeconds = sumProc(pids, procCPU) - cpuAtMeasure
				r.RSSPeak = int64(rssPeak)
			}
			break
		}
	}
	fmt.Fprintln(os.Stderr)
	r.Metrics = serverMetrics()
	for _, w := range workers {
		w.stdin.Close()
	}
	for _, w := range workers {
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			return nil, errors.New("a worker did not stop within 30s")
		}
		w.cmd.Wait()
	}
	final := aggregate()
	r.fill(final, c.Duration)
	// the rate chart: frames the workers counted in each whole second of the
	// measured span, by their own clocks (nothing after the span; no point
	// before its first second)
	for i, n := range final.PerSecond {
		if float64(i+1) > c.Duration.Seconds() {
			break
		}
		p := point{T: float64(i + 1), FramesPerSec: float64(n)}
		if len(rssBySecond) > 0 {
			p.RSSMiB = rssBySecond[min(i, len(rssBySecond)-1)]
		}
		r.Series = append(r.Series, p)
	}
	if sampleMod > 0 {
		// sampled connections are those with index % sampleMod == 0, stallers excepted
		r.SampledConns = (c.Conns+sampleMod-1)/sampleMod - c.Stallers/sampleMod
	}
	return r, nil
}

// scrapeMetrics reads the server's counters that the report quotes.
func scrapeMetrics(addr string) map[string]float64 {
	out := map[string]float64{}
	all := scrapeAll(addr)
	for _, name := range []string{"ticker_drops_total", `ticker_snapshots_sent_total{reason="resync"}`, "ticker_slow_consumer_closes_total", "ticker_frames_built_total", "ticker_frames_deflated_total", "ticker_frames_assembled_total", "ticker_updates_sent_total",
		"ticker_subscriptions", "go_goroutines", "go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes"} {
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	for name, v := range all {
		if strings.HasPrefix(name, "ticker_window_interval_seconds_bucket") {
			out[name] = v
		}
	}
	return out
}
