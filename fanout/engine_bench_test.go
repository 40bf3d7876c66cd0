package fanout

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// benchEngine builds an engine with symbols and clients each subscribed to k
// random symbols, all with published quotes.
func benchEngine(b *testing.B, symbols, clients, k int, deflate bool) (*Engine, []*Client, []string) {
	names := make([]string, symbols)
	for i := range names {
		names[i] = fmt.Sprintf("SYM%04d", i)
	}
	e, err := New(Config{QueueBytes: 64 << 20}, market.NewRing(1<<16), names, nil)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var cs []*Client
	for i := 0; i < clients; i++ {
		c := NewClient(deflate, 64<<20)
		e.handle(command{kind: cmdRegister, c: c})
		sub := make([]string, k)
		for j := range sub {
			sub[j] = names[rng.IntN(symbols)]
		}
		e.handle(command{kind: cmdSubscribe, c: c, symbols: sub})
		c.Take(nil)
		cs = append(cs, c)
	}
	return e, cs, names
}

// BenchmarkWindow measures one coalescing window: fold the window's quotes,
// publish, build and queue every client's update, and drain the queues as
// writers would. The default shape is goal 1 of issue 3 scaled down: 1,000
// clients × 20 of 500 symbols, 1,000 quote changes per window.
func BenchmarkWindow(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", deflate), func(b *testing.B) {
			e, cs, names := benchEngine(b, 500, 1000, 20, deflate)
			rng := rand.New(rand.NewPCG(3, 4))
			var q market.Quote
			var bufs [][]byte
			frames := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := 0; j < 1000; j++ {
					q = market.Quote{Symbol: names[rng.IntN(len(names))], TsMicros: int64(i*1000 + j + 1)}
					q.Set(market.Bid, market.NewDecimal(int64(10000+rng.IntN(100)), 2))
					q.Set(market.Ask, market.NewDecimal(int64(10100+rng.IntN(100)), 2))
					e.ring.TryPush(&q)
				}
				window(e)
				for _, c := range cs {
					bufs, _ = c.Take(bufs[:0])
					frames += len(bufs)
				}
			}
			b.ReportMetric(float64(frames)/float64(b.N), "frames/window")
		})
	}
}

// BenchmarkCompressShared vs BenchmarkCompressPerSubscriber: 100 subscribers
// get the same update; compressing it once (what the engine does) against
// compressing it for each of them (what a per-connection compressor does).
func benchUpdatePayload() []byte {
	var buf []byte
	buf = protocol.AppendQuotesHead(buf, "update", "", 1764000000123456)
	for i := 0; i < 20; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"s":"SYM%04d","seq":%d,"ts":1764000000123456,"bid":"189.%02d","ask":"189.%02d","bid_size":"100"}`, i, 1000+i, i, i+1)
	}
	return append(buf, ']', '}')
}

func BenchmarkCompressShared(b *testing.B) {
	payload := benchUpdatePayload()
	comp := newCompressor(1)
	b.ReportAllocs()
	for b.Loop() {
		f := textFrame(payload, kindData)
		comp.deflate(f) // once, then shared by 100 subscribers
		for s := 0; s < 100; s++ {
			_ = f.Wire(true)
		}
	}
}

func BenchmarkCompressPerSubscriber(b *testing.B) {
	payload := benchUpdatePayload()
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, 1)
	b.ReportAllocs()
	for b.Loop() {
		for s := 0; s < 100; s++ {
			out.Reset()
			w.Reset(&out)
			w.Write(payload)
			w.Flush()
		}
	}
}

// BenchmarkCompressionPerWindow is goal 3 of the performance work: the
// compression CPU of one 50 ms window at 10,000 deflate subscribers, each on
// 20 of 500 symbols, with 1,000 quote changes in the window.
//
// engine: the Engine codes each distinct update once (here every
// subscriber's frame is distinct, so 10,000 spliced messages of ~2 KB); its
// figure is the whole flush's time.
// per-subscriber: a naive server compresses every change for every
// subscriber of its symbol (1,000 changes × ~400 subscribers each), with
// compress/flate as gorilla/websocket does.
func BenchmarkCompressionPerWindow(b *testing.B) {
	const clients, symbols, k, changes = 10000, 500, 20, 1000
	b.Run("engine", func(b *testing.B) {
		e, cs, names := benchEngine(b, symbols, clients, k, true)
		rng := rand.New(rand.NewPCG(3, 4))
		var q market.Quote
		var bufs [][]byte
		var spent time.Duration
		for i := 0; b.Loop(); i++ {
			for j := 0; j < changes; j++ {
				q = market.Quote{Symbol: names[rng.IntN(len(names))], TsMicros: int64(i*changes + j + 1)}
				q.Set(market.Bid, market.NewDecimal(int64(10000+rng.IntN(100)), 2))
				q.Set(market.Ask, market.NewDecimal(int64(10100+rng.IntN(100)), 2))
				q.Set(market.BidSize, market.NewDecimal(int64(1+rng.IntN(50))*100, 0))
				e.ring.TryPush(&q)
			}
			t0 := time.Now()
			window(e)
			spent += time.Since(t0) // the whole flush: building, splicing, queueing
			for _, c := range cs {
				bufs, _ = c.Take(bufs[:0])
			}
		}
		b.ReportMetric(float64(spent.Microseconds())/float64(b.N), "compress-µs/window")
		st := e.Stats()
		if n := st.FramesDeflated.Load() + st.FramesAssembled.Load(); n > 0 {
			b.ReportMetric(float64(st.DeflateOut.Load())/float64(n), "wire-B/msg")
			b.ReportMetric(float64(st.DeflateIn.Load())/float64(n), "plain-B/msg")
		}
	})
	b.Run("per-subscriber", func(b *testing.B) {
		// subscribers per symbol: clients × k / symbols = 400
		perSymbol := clients * k / symbols
		var out bytes.Buffer
		w, _ := flate.NewWriter(&out, flate.BestSpeed)
		msg := []byte(`{"type":"update","time":1764000000123456,"quotes":[{"s":"SYM0123","seq":12345,"ts":1764000000123456,"bid":"100.12","ask":"101.34","bid_size":"1200"}]}`)
		var spent time.Duration
		for b.Loop() {
			t0 := time.Now()
			for j := 0; j < changes; j++ {
				for s := 0; s < perSymbol; s++ {
					out.Reset()
					w.Reset(&out)
					w.Write(msg)
					w.Flush()
				}
			}
			spent += time.Since(t0)
		}
		b.ReportMetric(float64(spent.Microseconds())/float64(b.N), "compress-µs/window")
	})
}
