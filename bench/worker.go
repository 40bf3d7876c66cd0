package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fastjson"
)

// workerConfig is one worker process's share of the load.
type workerConfig struct {
	ID         int
	HostPort   string
	HostPorts  []string      // with several servers (edges): connection i goes to HostPorts[i % len]
	Conns      int           // connections this worker opens
	FirstIndex int           // global index of its first connection
	SampleMod  int           // connection i is sampled (fully decoded) when i % SampleMod == 0
	Deflate    bool          // offer permessage-deflate
	Inflate    bool          // every connection inflates every frame, not only the sampled ones
	Ramp       float64       // connections per second this worker opens
	Stallers   int           // how many of its connections never read
	K          int           // symbols per connection
	Skew       bool          // popular symbols (Zipf) instead of uniform
	SourceIPs  int           // spread over 127.0.0.2 .. 127.0.0.(1+SourceIPs)
	MeasureAt  int64         // Unix ns: counting starts here
	MeasureEnd int64         // Unix ns: and stops here (what arrives after the measured span is not counted)
	StrictSeq  bool          // a symbol's first update without a snapshot must be seq 1 (ticker); else it starts the count (baseline)
	Every      time.Duration // subscribe with ?every= (conflated updates; their entries' from continues the seq); 0: the window
	Seed       uint64
}

// snapshot is what a worker reports, cumulative since MeasureAt.
type snapshot struct {
	Worker        int         `json:"worker"`
	Conns         int64       `json:"conns"`
	ConnectErrors int64       `json:"connect_errors"`
	ServerClosed  int64       `json:"server_closed"`
	Frames        uint64      `json:"frames"`
	Bytes         uint64      `json:"bytes"`
	SampledWire   uint64      `json:"sampled_wire"`
	SampledPlain  uint64      `json:"sampled_plain"`
	Updates       uint64      `json:"updates"`
	Quotes        uint64      `json:"quotes"`
	SeqErrors     uint64      `json:"seq_errors"`
	Resyncs       uint64      `json:"resyncs"`
	CloseCodes    map[int]int `json:"close_codes,omitempty"`
	FirstError    string      `json:"first_error,omitempty"`
	Hist          *hist       `json:"hist"`
	PerSecond     []uint64    `json:"per_second"` // frames counted in each second of the measured span
	Final         bool        `json:"final"`
}

type workerState struct {
	cfg        workerConfig
	conns      atomic.Int64
	connErrs   atomic.Int64
	closed     atomic.Int64
	frames     atomic.Uint64
	bytes      atomic.Uint64
	perSecond  []atomic.Uint64 // frames by second of the measured span
	mu         sync.Mutex      // guards the sampled figures below
	sWire      uint64
	sPlain     uint64
	updates    uint64
	quotes     uint64
	seqErrors  uint64
	resyncs    uint64
	closeCodes map[int]int
	firstErr   string
	hist       *hist
}

func (w *workerState) snapshot(final bool) snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := newHist()
	h.merge(w.hist)
	cc := map[int]int{}
	for k, v := range w.closeCodes {
		cc[k] = v
	}
	ps := make([]uint64, len(w.perSecond))
	for i := range w.perSecond {
		ps[i] = w.perSecond[i].Load()
	}
	return snapshot{Worker: w.cfg.ID, Conns: w.conns.Load(), ConnectErrors: w.connErrs.Load(), ServerClosed: w.closed.Load(),
		Frames: w.frames.Load(), Bytes: w.bytes.Load(), SampledWire: w.sWire, SampledPlain: w.sPlain,
		Updates: w.updates, Quotes: w.quotes, SeqErrors: w.seqErrors, Resyncs: w.resyncs, CloseCodes: cc,
		FirstError: w.firstErr, Hist: h, PerSecond: ps, Final: final}
}

func (w *workerState) fail(err error) {
	w.mu.Lock()
	if w.firstErr == "" {
		w.firstErr = err.Error()
	}
	w.mu.Unlock()
}

// runWorker is the worker process: it opens its connections, reports a
// snapshot every 500ms on stdout, and stops when stdin closes or on SIGTERM.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cfgJSON := fs.String("config", "", "worker config as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg workerConfig
	if err := json.Unmarshal([]byte(*cfgJSON), &cfg); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	symbols, err := fetchSymbols(cfg.HostPort)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() { // the parent closes our stdin to stop us
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	w := &workerState{cfg: cfg, hist: newHist(), closeCodes: map[int]int{}}
	if cfg.MeasureEnd > cfg.MeasureAt {
		w.perSecond = make([]atomic.Uint64, (cfg.MeasureEnd-cfg.MeasureAt+int64(time.Second)-1)/int64(time.Second))
	}
	enc := json.NewEncoder(os.Stdout)
	var wg sync.WaitGroup
	var live sync.Map // *wsConn → struct{}
	go func() {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.ID)))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(symbols)-1))
		start := time.Now()
		for i := 0; i < cfg.Conns && ctx.Err() == nil; i++ {
			if wait := time.Until(start.Add(time.Duration(float64(i) / cfg.Ramp * float64(time.Second)))); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			global := cfg.FirstIndex + i
			subs := pickSymbols(rng, zipf, symbols, cfg.K, cfg.Skew)
			local := net.IPv4(127, 0, 0, byte(2+global%max(cfg.SourceIPs, 1)))
			sampled := cfg.SampleMod > 0 && global%cfg.SampleMod == 0 && i >= cfg.Stallers
			stall := i < cfg.Stallers
			wg.Add(1)
			go func() {
				defer wg.Done()
				// a stalled client gets a small receive buffer, so that it fills in
				// seconds, as a client stuck for minutes would fill a large one
				rcvbuf := 0
				if stall {
					rcvbuf = 4096
				}
				target := cfg.HostPort
				if len(cfg.HostPorts) > 0 {
					target = cfg.HostPorts[global%len(cfg.HostPorts)]
				}
				path := "/ws?symbols=" + url.QueryEscape(strings.Join(subs, ","))
				if cfg.Every > 0 {
					path += "&every=" + strconv.FormatInt(cfg.Every.Milliseconds(), 10) + "ms"
				}
				c, err := dialWS(ctx, local, target, path, cfg.Deflate, rcvbuf)
				if err != nil {
					if ctx.Err() == nil {
						w.connErrs.Add(1)
						w.fail(err)
					}
					return
				}
				live.Store(c, struct{}{})
				defer live.Delete(c)
				w.conns.Add(1)
				if stall {
					<-ctx.Done()
					c.nc.Close()
					return
				}
				w.read(ctx, c, sampled)
			}()
		}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			enc.Encode(w.snapshot(false))
		case <-ctx.Done():
			live.Range(func(k, _ any) bool { k.(*wsConn).nc.Close(); return true })
			wg.Wait()
			return enc.Encode(w.snapshot(true))
		}
	}
}

func pickSymbols(rng *rand.Rand, zipf *rand.Zipf, symbols []string, k int, skew bool) []string {
	k = min(k, len(symbols))
	seen := map[int]bool{}
	out := make([]string, 0, k)
	for len(out) < k {
		var i int
		if skew {
			i = int(zipf.Uint64())
		} else {
			i = rng.IntN(len(symbols))
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, symbols[i])
		}
	}
	return out
}

// read consumes a connection until it ends. Sampled connections decode every
// message: the per-symbol seq invariant and the latency from each update
// quote's ts to its arrival.
func (w *workerState) read(ctx context.Context, c *wsConn, sampled bool) {
	defer c.nc.Close()
	var p fastjson.Parser
	seqs := map[string]uint64{}
	for {
		f, err := c.next(sampled || w.cfg.Inflate)
		if err != nil {
			if ctx.Err() == nil {
				w.closed.Add(1)
				w.fail(err)
			}
			return
		}
		now := time.Now()
		counting := now.UnixNano() >= w.cfg.MeasureAt && (w.cfg.MeasureEnd == 0 || now.UnixNano() < w.cfg.MeasureEnd)
		if f.op == 0x8 {
			code := 1005
			if len(f.payload) >= 2 {
				code = int(f.payload[0])<<8 | int(f.payload[1])
			}
			w.closed.Add(1)
			w.mu.Lock()
			w.closeCodes[code]++
			w.mu.Unlock()
			return
		}
		if counting {
			w.frames.Add(1)
			w.bytes.Add(uint64(f.wireBytes))
			if i := int((now.UnixNano() - w.cfg.MeasureAt) / int64(time.Second)); i < len(w.perSecond) {
				w.perSecond[i].Add(1)
			}
		}
		if !sampled {
			continue
		}
		v, err := p.ParseBytes(f.payload)
		if err != nil {
			w.fail(fmt.Errorf("bad message: %v", err))
			continue
		}
		typ := string(v.GetStringBytes("type"))
		nowMicros := now.UnixMicro()
		w.mu.Lock()
		if counting {
			w.sWire += uint64(f.wireBytes)
			w.sPlain += uint64(len(f.payload))
		}
		if typ == "snapshot" && string(v.GetStringBytes("reason")) == "resync" {
			w.resyncs++
		}
		if typ == "update" && counting {
			w.updates++
		}
		for _, q := range v.GetArray("quotes") {
			s := string(q.GetStringBytes("s"))
			seq := q.GetUint64("seq")
			if typ == "update" {
				from := seq // a conflated entry covers from..seq
				if f := q.Get("from"); f != nil {
					from = q.GetUint64("from")
				}
				if last, ok := seqs[s]; (ok && from != last+1) || (!ok && w.cfg.StrictSeq && from != 1) || from > seq {
					w.seqErrors++
				}
				if counting {
					w.quotes++
					w.hist.add(nowMicros - q.GetInt64("ts"))
				}
			}
			seqs[s] = seq
		}
		w.mu.Unlock()
	}
}
