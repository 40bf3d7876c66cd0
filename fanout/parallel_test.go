package fanout

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
)

// TestParallelCompressionSameBytes: sharing a window's compression among
// workers changes nothing a client gets: every client of an engine with 4
// workers is queued the same frames, byte for byte and in the same order,
// as its twin on an engine that compresses alone, over windows of 200
// deflate and plain clients on random symbol sets.
func TestParallelCompressionSameBytes(t *testing.T) {
	names := make([]string, 60)
	for i := range names {
		names[i] = fmt.Sprintf("SYM%02d", i)
	}
	build := func(workers int) (*Engine, []*Client) {
		e, err := New(Config{QueueBytes: 16 << 20, CompressWorkers: workers}, market.NewRing(1<<12), names, nil)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		var cs []*Client
		for i := range 200 {
			c := register(e, i%5 != 0, 16<<20)
			var syms []string
			for range 1 + rng.IntN(8) {
				syms = append(syms, names[rng.IntN(len(names))])
			}
			subscribe(e, c, "", syms...)
			c.Take(nil)
			cs = append(cs, c)
		}
		return e, cs
	}
	{
		serial, sc := build(1)
		par, pc := build(4)
		if len(par.comps) != 3 || len(serial.comps) != 0 {
			t.Fatalf("%d and %d extra compressors, want 3 and 0", len(par.comps), len(serial.comps))
		}
		rng := rand.New(rand.NewPCG(7, 8))
		at := time.Unix(1764000000, 0)
		for w := range 5 {
			for j := range 120 {
				q := market.Quote{Symbol: names[rng.IntN(len(names))], TsMicros: int64(w*1000 + j + 1)}
				q.Set(market.Bid, market.NewDecimal(int64(10000+rng.IntN(100)), 2))
				q.Set(market.BidSize, market.NewDecimal(int64(1+rng.IntN(50))*100, 0))
				serial.ring.TryPush(&q)
				par.ring.TryPush(&q)
			}
			at = at.Add(50 * time.Millisecond)
			for _, e := range []*Engine{serial, par} {
				e.drain(e.ring.Cap())
				e.flush(at)
			}
			frames := 0
			for i := range sc {
				a, _ := sc[i].Take(nil)
				b, _ := pc[i].Take(nil)
				if len(a) != len(b) {
					t.Fatalf("window %d, client %d: %d frames alone, %d shared", w, i, len(a), len(b))
				}
				for k := range a {
					if !bytes.Equal(a[k], b[k]) {
						t.Fatalf("window %d, client %d, frame %d differs:\n%q\n%q", w, i, k, a[k], b[k])
					}
				}
				frames += len(a)
			}
			if frames == 0 {
				t.Fatalf("window %d: no frame queued", w)
			}
		}
		if par.stats.FramesAssembled.Load() == 0 || par.stats.FramesAssembled.Load() != serial.stats.FramesAssembled.Load() {
			t.Errorf("spliced %d shared, %d alone", par.stats.FramesAssembled.Load(), serial.stats.FramesAssembled.Load())
		}
		if par.stats.FramesDeflated.Load() != serial.stats.FramesDeflated.Load() {
			t.Errorf("deflated %d shared, %d alone", par.stats.FramesDeflated.Load(), serial.stats.FramesDeflated.Load())
		}
	}
}
