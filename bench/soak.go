package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// soakConfig is the shape of a churn soak.
type soakConfig struct {
	Duration    time.Duration `json:"duration"`
	Rate        float64       `json:"connects_per_sec"`
	Concurrency int           `json:"concurrency"`
	Steady      int           `json:"steady_subscribers"`
	FeedRate    float64       `json:"feed_rate"`
	Symbols     int           `json:"symbols"`
	K           int           `json:"symbols_per_conn"`
	SourceIPs   int           `json:"source_ips"`
	Settle      time.Duration `json:"settle"`
}

// lifecycles are the ways a churning client comes and goes, taken in turn.
var lifecycles = []string{
	"url-subscribe, read, close 1000",    // ?symbols= on the URL, first data, a clean close
	"op-subscribe, unsubscribe, abort",   // subscribe and unsubscribe messages, then TCP close without a close frame
	"upgrade, reset",                     // handshake done, then RST (linger 0)
	"half a handshake, close",            // part of the HTTP request, then close
	"subscribe *, never read, close",     // the wildcard, nothing read for 200 ms, then close
	"bad messages, server closes (1007)", // garbage then invalid UTF-8: the server ends it
}

// serverSample is the server's footprint at one moment.
type serverSample struct {
	Goroutines   float64 `json:"goroutines"`
	FDs          int     `json:"fds"`
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
	RSSMiB       float64 `json:"rss_mib"`
	Connections  float64 `json:"connections"`
}

// soakResult is what a soak reports.
type soakResult struct {
	Config     soakConfig     `json:"config"`
	Before     serverSample   `json:"before"`
	Peak       serverSample   `json:"peak"`
	After      serverSample   `json:"after"`
	Lifecycles map[string]int `json:"lifecycles"`
	Failures   map[string]int `json:"failures,omitempty"`
	Achieved   float64        `json:"connects_per_sec"`
	SteadyOK   int            `json:"steady_still_streaming"`
	SteadySeq  uint64         `json:"steady_seq_errors"`
	SteadyQuo  uint64         `json:"steady_quotes"`
	Closes     map[string]float64
}

// runSoak is `bench soak`: a server under connection churn, with steady
// subscribers that must keep streaming gaplessly throughout; before and
// after the churn it samples the server's goroutines, open files, heap
// (after a forced GC) and RSS.
func runSoak(args []string) error {
	var c soakConfig
	var out string
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&c.Duration, "duration", 3*time.Minute, "how long the churn lasts")
	fs.Float64Var(&c.Rate, "rate", 2000, "connections opened per second")
	fs.IntVar(&c.Concurrency, "concurrency", 512, "churning connections open at once, at most")
	fs.IntVar(&c.Steady, "steady", 50, "subscribers that stay connected and check every seq")
	fs.Float64Var(&c.FeedRate, "feed-rate", 5000, "feed quote changes per second")
	fs.IntVar(&c.Symbols, "symbols", 500, "symbols the synthetic feed serves")
	fs.IntVar(&c.K, "k", 5, "symbols each churning client subscribes to")
	fs.IntVar(&c.SourceIPs, "source-ips", 16, "loopback source addresses the connections are spread over, 127.0.0.2 to 127.0.0.(1+N), 1 to 250")
	fs.DurationVar(&c.Settle, "settle", 25*time.Second, "wait after the churn before the final sample (fasthttp lets an idle worker go 10–20 s after its last request)")
	fs.StringVar(&out, "out", "bench/out", "folder for the JSON report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Duration <= 0 || c.Rate <= 0 || c.Concurrency < 1 || c.Steady < 0 || c.K < 1 || c.Symbols < 1 || c.SourceIPs < 1 || c.SourceIPs > 250 {
		return errors.New("bad flags: duration, rate, concurrency, k, symbols must be positive; source-ips 1..250")
	}
	if c.Concurrency+c.Steady > 15000 {
		return errors.New("--concurrency + --steady above 15,000: one process may open 20,000 files")
	}
	bins, err := buildBinaries(false, false)
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins.dir)
	lc := loadConfig{Symbols: c.Symbols, Rate: c.FeedRate, Coalesce: 50 * time.Millisecond,
		ServerArgs: "--pprof --max-conns-per-ip 0"}
	cmd, addr, err := startServer(lc, "ticker", bins)
	if err != nil {
		return err
	}
	pid := cmd.Process.Pid
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	symbols, err := fetchSymbols(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Steady subscribers, checked like the load generator's sampled ones.
	steady := &workerState{cfg: workerConfig{StrictSeq: true}, hist: newHist(), closeCodes: map[int]int{}}
	var steadyWG sync.WaitGroup
	var steadyConns []*wsConn
	var steadyDone atomic.Int64
	for i := 0; i < c.Steady; i++ {
		ws, err := dialWS(ctx, net.IPv4(127, 0, 0, 200), addr, "/ws?symbols="+url.QueryEscape(strings.Join(symbols[:min(20, len(symbols))], ",")), true, 0)
		if err != nil {
			return fmt.Errorf("steady subscriber: %w", err)
		}
		steadyConns = append(steadyConns, ws)
		steadyWG.Add(1)
		go func() {
			defer steadyWG.Done()
			defer steadyDone.Add(1)
			steady.read(ctx, ws, true)
		}()
	}
	time.Sleep(3 * time.Second)
	r := &soakResult{Config: c, Lifecycles: map[string]int{}, Failures: map[string]int{}}
	r.Before, err = sampleServer(addr, pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "before: %+v\n", r.Before)

	// The churn: a paced spawner, a bounded number in flight.
	var (
		mu      sync.Mutex
		started atomic.Int64
		wg      sync.WaitGroup
		sem     = make(chan struct{}, c.Concurrency)
	)
	churnCtx, stopChurn := context.WithTimeout(ctx, c.Duration)
	defer stopChurn()
	peakDone := make(chan struct{})
	go func() { // the peak sample and a progress line every 5 s
		defer close(peakDone)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-churnCtx.Done():
				return
			case <-t.C:
			}
			s, err := sampleServerNoGC(addr, pid)
			if err != nil {
				continue
			}
			mu.Lock()
			if s.FDs > r.Peak.FDs {
				r.Peak = s
			}
			mu.Unlock()
			fmt.Fprintf(os.Stderr, "%s  connects %d  server: %d connections, %.0f goroutines, %d fds, %.1f MiB heap\n",
				time.Now().Format("15:04:05"), started.Load(), int(s.Connections), s.Goroutines, s.FDs, s.HeapInuseMiB)
		}
	}()
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; churnCtx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(float64(i) / c.Rate * float64(time.Second)))); wait > 0 {
			select {
			case <-churnCtx.Done():
			case <-time.After(wait):
			}
		}
		select {
		case sem <- struct{}{}:
		case <-churnCtx.Done():
		}
		if churnCtx.Err() != nil {
			break
		}
		kind := i % len(lifecycles)
		subs := pickSymbols(rng, nil, symbols, c.K, false)
		local := net.IPv4(127, 0, 0, byte(2+i%c.SourceIPs))
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := churnOnce(ctx, kind, local, addr, subs)
			mu.Lock()
			r.Lifecycles[lifecycles[kind]]++
			if err != nil {
				r.Failures[lifecycles[kind]+": "+errClass(err)]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-peakDone
	elapsed := time.Since(start)
	r.Achieved = float64(started.Load()) / elapsed.Seconds()
	time.Sleep(c.Settle)

	r.SteadyOK = c.Steady - int(steadyDone.Load())
	r.After, err = sampleServer(addr, pid)
	if err != nil {
		return err
	}
	snap := steady.snapshot(true)
	r.SteadySeq, r.SteadyQuo = snap.SeqErrors, snap.Quotes
	r.Closes = map[string]float64{}
	for k, v := range scrapeAll(addr) {
		if strings.HasPrefix(k, "ticker_closes_total") {
			r.Closes[k] = v
		}
	}
	cancel()
	for _, ws := range steadyConns {
		ws.nc.Close()
	}
	steadyWG.Wait()

	fmt.Print(soakMarkdown(r))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	path := filepath.Join(out, fmt.Sprintf("soak-r%g-%s.json", c.Rate, c.Duration))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "wrote", path)
	if resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1"); err == nil {
		g, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		gpath := strings.TrimSuffix(path, ".json") + "-goroutines.txt"
		os.WriteFile(gpath, g, 0o644)
		fmt.Fprintln(os.Stderr, "wrote", gpath, "(the server's goroutines after the churn)")
	}
	if r.SteadyOK != c.Steady || r.SteadySeq != 0 {
		return fmt.Errorf("steady subscribers: %d of %d still streaming, %d seq errors", r.SteadyOK, c.Steady, r.SteadySeq)
	}
	return nil
}

// churnOnce runs one client lifecycle of the given kind.
func churnOnce(ctx context.Context, kind int, local net.IP, addr string, subs []string) error {
	list := strings.Join(subs, ",")
	switch kind {
	case 0:
		ws, err := dialWS(ctx, local, addr, "/ws?symbols="+url.QueryEscape(list), true, 0)
		if err != nil {
			return err
		}
		defer ws.nc.Close()
		ws.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := ws.next(false); err != nil {
			return err
		}
		ws.close()
		return nil
	case 1:
		ws, err := dialWS(ctx, local, addr, "/ws", true, 0)
		if err != nil {
			return err
		}
		defer ws.nc.Close()
		q, _ := json.Marshal(subs)
		if err := ws.writeText([]byte(`{"op":"subscribe","id":1,"symbols":` + string(q) + `}`)); err != nil {
			return err
		}
		ws.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := ws.next(false); err != nil {
			return err
		}
		if err := ws.writeText([]byte(`{"op":"unsubscribe","id":2,"symbols":` + string(q) + `}`)); err != nil {
			return err
		}
		return nil // the deferred Close: no close frame
	case 2:
		ws, err := dialWS(ctx, local, addr, "/ws?symbols="+url.QueryEscape(list), false, 0)
		if err != nil {
			return err
		}
		if tc, ok := ws.nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		return ws.nc.Close()
	case 3:
		d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: local}}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConn")
		nc.Close()
		return err
	case 4:
		ws, err := dialWS(ctx, local, addr, "/ws?symbols=*", true, 4096)
		if err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		return ws.nc.Close()
	default:
		ws, err := dialWS(ctx, local, addr, "/ws", false, 0)
		if err != nil {
			return err
		}
		defer ws.nc.Close()
		ws.writeText([]byte(`{"op":`))
		ws.writeText([]byte{0xff, 0xfe, 0xfd})
		ws.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := ws.next(true)
			if err != nil {
				return err
			}
			if f.op == 0x8 {
				if len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != 1007 {
					return fmt.Errorf("close %v, want 1007", f.payload)
				}
				return nil
			}
		}
	}
}

// errClass shortens an error to its kind, for counting.
func errClass(err error) string {
	s := err.Error()
	for _, k := range []string{"connection reset", "broken pipe", "i/o timeout", "refused", "EOF", "handshake", "cannot assign", "want 1007"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// sampleServer forces a GC in the server (through its pprof endpoint) and
// then samples it.
func sampleServer(addr string, pid int) (serverSample, error) {
	for i := 0; i < 2; i++ { // twice: the second GC also frees what sync.Pools dropped in the first
		resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1")
		if err != nil {
			return serverSample{}, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return sampleServerNoGC(addr, pid)
}

func sampleServerNoGC(addr string, pid int) (serverSample, error) {
	m := scrapeAll(addr)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return serverSample{}, err
	}
	rss, _ := procRSS(pid)
	return serverSample{Goroutines: m["go_goroutines"], FDs: len(ents), HeapInuseMiB: m["go_memstats_heap_inuse_bytes"] / (1 << 20),
		RSSMiB: float64(rss) / (1 << 20), Connections: m["ticker_connections"]}, nil
}

// scrapeAll returns every sample of the server's /metrics by its name and
// labels as written there (`ticker_closes_total{code="1000"}`).
func scrapeAll(addr string) map[string]float64 {
	out := map[string]float64{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			var v float64
			fmt.Sscan(line[i+1:], &v)
			out[line[:i]] = v
		}
	}
	return out
}

func soakMarkdown(r *soakResult) string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "\n### Churn soak: %s at %g connects/s (achieved %.0f/s), ≤ %d in flight, %d steady subscribers, feed %g changes/s\n\n",
		c.Duration, c.Rate, r.Achieved, c.Concurrency, c.Steady, c.FeedRate)
	b.WriteString("| server | before | peak (during) | after |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| connections | %.0f | %.0f | %.0f |\n", r.Before.Connections, r.Peak.Connections, r.After.Connections)
	fmt.Fprintf(&b, "| goroutines | %.0f | %.0f | %.0f |\n", r.Before.Goroutines, r.Peak.Goroutines, r.After.Goroutines)
	fmt.Fprintf(&b, "| open files | %d | %d | %d |\n", r.Before.FDs, r.Peak.FDs, r.After.FDs)
	fmt.Fprintf(&b, "| heap in use, MiB (before, after: past a forced GC) | %.1f | %.1f | %.1f |\n", r.Before.HeapInuseMiB, r.Peak.HeapInuseMiB, r.After.HeapInuseMiB)
	fmt.Fprintf(&b, "| RSS, MiB | %.1f | %.1f | %.1f |\n\n", r.Before.RSSMiB, r.Peak.RSSMiB, r.After.RSSMiB)
	total := 0
	names := make([]string, 0, len(r.Lifecycles))
	for k, v := range r.Lifecycles {
		total += v
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "Client lifecycles: %d in all.\n\n", total)
	for _, k := range names {
		fmt.Fprintf(&b, "- %s: %d\n", k, r.Lifecycles[k])
	}
	if len(r.Failures) > 0 {
		b.WriteString("\nFailures:\n\n")
		for k, v := range r.Failures {
			fmt.Fprintf(&b, "- %s: %d\n", k, v)
		}
	} else {
		b.WriteString("\nFailures: none.\n")
	}
	keys := make([]string, 0, len(r.Closes))
	for k := range r.Closes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nServer closes: ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f", strings.TrimPrefix(k, "ticker_closes_total"), r.Closes[k])
	}
	fmt.Fprintf(&b, "\n\nSteady subscribers: %d of %d still streaming, %d quotes checked, %d seq errors.\n", r.SteadyOK, c.Steady, r.SteadyQuo, r.SteadySeq)
	return b.String()
}
