package fanout

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
)

// BenchmarkConflation is one simulated second (20 windows of 50 ms, 1,000
// quote changes each, over 500 symbols) delivered to 1,000 deflate
// subscribers of 20 random symbols each: at the window (every=50ms, what
// every ticker.v1 client gets) against every=1s (one conflated update per
// subscriber per second). ns/op is the engine's CPU for that second (fold,
// publish, build, compress, queue, and the queues drained); wire-B/s is the
// bytes the subscribers would be sent.
func BenchmarkConflation(b *testing.B) {
	const symbols, clients, k, changes, windows = 500, 1000, 20, 1000, 20
	for _, every := range []time.Duration{50 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("every=%v", every), func(b *testing.B) {
			e, cs, names := benchEngine(b, symbols, clients, k, true)
			for _, c := range cs {
				e.handle(command{kind: cmdSubscribe, c: c, symbols: []string{names[0]}, every: every})
				c.Take(nil)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			var q market.Quote
			var bufs [][]byte
			wire, updates := 0, 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for w := 0; w < windows; w++ {
					for j := 0; j < changes; j++ {
						q = market.Quote{Symbol: names[rng.IntN(len(names))], TsMicros: int64((i*windows+w)*changes + j + 1)}
						q.Set(market.Bid, market.NewDecimal(int64(10000+rng.IntN(100)), 2))
						q.Set(market.Ask, market.NewDecimal(int64(10100+rng.IntN(100)), 2))
						e.ring.TryPush(&q)
					}
					window(e)
					for _, c := range cs {
						bufs, _ = c.Take(bufs[:0])
						for _, buf := range bufs {
							wire += len(buf)
						}
						updates += len(bufs)
					}
				}
			}
			b.ReportMetric(float64(wire)/float64(b.N), "wire-B/s")
			b.ReportMetric(float64(updates)/float64(b.N)/clients, "updates/s/client")
		})
	}
}
