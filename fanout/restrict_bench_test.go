package fanout

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/market"
)

// BenchmarkWildcardRestricted: one window for 1,000 "*" subscribers of 500
// symbols with 1,000 quote changes, unrestricted against restricted by a
// token's patterns (three of them, matching 200 of the symbols), which the
// engine applies to each window's changed symbols once per key: shared by
// all (tokens with the same patterns), or one key per subscriber (the worst
// case: every token with patterns of its own).
func BenchmarkWildcardRestricted(b *testing.B) {
	grant, err := access.ParseGrant([]string{"SYM00*", "SYM0100", "SYM02*"})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"none", "shared-key", "key-per-client"} {
		b.Run("restricted="+mode, func(b *testing.B) {
			names := make([]string, 500)
			for i := range names {
				names[i] = fmt.Sprintf("SYM%04d", i)
			}
			e, err := New(Config{QueueBytes: 64 << 20}, market.NewRing(1<<16), names, nil)
			if err != nil {
				b.Fatal(err)
			}
			cs := make([]*Client, 1000)
			for i := range cs {
				c := NewClient(false, 64<<20)
				switch mode {
				case "shared-key":
					c.Restrict(grant.Filter())
				case "key-per-client":
					c.Restrict(ownKey{grant, fmt.Sprint(i)})
				}
				e.handle(command{kind: cmdRegister, c: c})
				e.handle(command{kind: cmdSubscribe, c: c, symbols: []string{"*"}})
				c.Take(nil)
				cs[i] = c
			}
			rng := rand.New(rand.NewPCG(3, 4))
			var q market.Quote
			var bufs [][]byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := 0; j < 1000; j++ {
					q = market.Quote{Symbol: names[rng.IntN(len(names))], TsMicros: int64(i*1000 + j + 1)}
					q.Set(market.Bid, market.NewDecimal(int64(10000+rng.IntN(100)), 2))
					e.ring.TryPush(&q)
				}
				window(e)
				for _, c := range cs {
					bufs, _ = c.Take(bufs[:0])
				}
			}
		})
	}
}

// ownKey is a restriction with a key of its own.
type ownKey struct {
	*access.Grant
	key string
}

func (o ownKey) Key() string { return o.key }
