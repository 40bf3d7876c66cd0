package feeds

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ticker-io/ticker/market"
)

// instrument describes how one synthetic symbol moves: prices are whole
// multiples of its tick, sizes whole multiples of its lot.
type instrument struct {
	symbol     string
	class      string
	startTicks int64 // starting mid in ticks
	tickMant   int64 // tick = tickMant × 10^-tickScale
	tickScale  int32
	lotMant    int64 // lot = lotMant × 10^-lotScale
	lotScale   int32
	maxLots    int64 // book and trade sizes are 1..maxLots lots
	maxSpread  int64 // spread in ticks is 1..maxSpread
	stepTicks  int64 // a book move is at most ±stepTicks
}

// catalog interleaves asset classes so that a small symbols= count still
// shows a mix. Prices and ticks follow the venues' conventions: US equities
// in cents and round lots, crypto in cents with fractional sizes, FX in pips
// (a tenth of a pip for majors), futures in their exchange ticks.
var catalog = []instrument{
	{"AAPL", "equity", 18912, 1, 2, 100, 0, 50, 3, 2},
	{"BTC-USD", "crypto", 6400010, 1, 2, 1, 5, 200000, 5, 50},
	{"EUR-USD", "fx", 108215, 1, 5, 100000, 0, 50, 3, 2},
	{"ESZ6", "future", 20800, 25, 2, 1, 0, 40, 1, 2}, // 5200.00, tick 0.25
	{"MSFT", "equity", 41050, 1, 2, 100, 0, 40, 3, 2},
	{"ETH-USD", "crypto", 320045, 1, 2, 1, 4, 50000, 5, 10},
	{"GBP-USD", "fx", 127034, 1, 5, 100000, 0, 40, 4, 2},
	{"NQZ6", "future", 72000, 25, 2, 1, 0, 20, 1, 3}, // 18000.00
	{"NVDA", "equity", 12077, 1, 2, 100, 0, 80, 2, 2},
	{"SOL-USD", "crypto", 15012, 1, 2, 1, 3, 90000, 3, 4},
	{"USD-JPY", "fx", 151234, 1, 3, 100000, 0, 30, 3, 2},
	{"CLF7", "future", 7850, 1, 2, 1, 0, 30, 1, 2},
	{"AMZN", "equity", 18533, 1, 2, 100, 0, 30, 3, 2},
	{"DOGE-USD", "crypto", 12345, 1, 6, 1, 0, 500000, 4, 20},
	{"AUD-USD", "fx", 65871, 1, 5, 100000, 0, 30, 4, 2},
	{"GCG7", "future", 23000, 1, 1, 1, 0, 15, 2, 2}, // 2300.0
	{"TSLA", "equity", 24011, 1, 2, 100, 0, 60, 4, 3},
	{"XRP-USD", "crypto", 5213, 1, 4, 1, 1, 200000, 2, 2},
	{"META", "equity", 50022, 1, 2, 100, 0, 20, 4, 3},
	{"SPY", "equity", 52031, 1, 2, 100, 0, 90, 1, 1},
	{"GOOGL", "equity", 17015, 1, 2, 100, 0, 30, 3, 2},
	{"JPM", "equity", 20040, 1, 2, 100, 0, 25, 3, 2},
	{"V", "equity", 28018, 1, 2, 100, 0, 15, 3, 2},
	{"LTC-USD", "crypto", 8421, 1, 2, 1, 4, 80000, 3, 3},
}

type instrumentState struct {
	instrument
	bid, spread int64 // ticks
	lastTicks   int64 // price of the latest trade; 0 before the first
	volumeLots  int64
}

// Synthetic generates a random walk of quotes. Given the same seed and
// symbol count it produces the same sequence of values (timestamps are the
// wall clock at emission).
type Synthetic struct {
	name  string
	rate  float64 // quote changes per second
	rng   *rand.Rand
	insts []instrumentState
}

// SyntheticConfig configures NewSynthetic.
type SyntheticConfig struct {
	Symbols int     // 1..10000; beyond the named catalog, symbols are SYM0025, SYM0026, …
	Rate    float64 // quote changes per second, 0.1..1,000,000
	Seed    uint64
}

// Validate names the first bad field.
func (c SyntheticConfig) Validate() error {
	if c.Symbols < 1 || c.Symbols > 10000 {
		return fmt.Errorf("symbols=%d: want 1 to 10000", c.Symbols)
	}
	if !(c.Rate >= 0.1 && c.Rate <= 1e6) {
		return fmt.Errorf("rate=%g: want 0.1 to 1000000 changes per second", c.Rate)
	}
	return nil
}

// NewSynthetic returns a synthetic feed named name.
func NewSynthetic(name string, c SyntheticConfig) (*Synthetic, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("feed %q: %w", name, err)
	}
	s := &Synthetic{name: name, rate: c.Rate, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))}
	for i := 0; i < c.Symbols; i++ {
		var in instrument
		if i < len(catalog) {
			in = catalog[i]
		} else {
			// generated equities priced 5.00..500.00
			in = instrument{fmt.Sprintf("SYM%04d", i+1), "equity", 500 + s.rng.Int64N(49500), 1, 2, 100, 0, 40, 3, 2}
		}
		st := instrumentState{instrument: in, spread: 1}
		st.bid = in.startTicks
		s.insts = append(s.insts, st)
	}
	return s, nil
}

func newSyntheticFromOptions(o *options) (Feed, error) {
	n, err := o.int("symbols", 20, 1, 10000)
	if err != nil {
		return nil, err
	}
	rate, err := o.float("rate", 200, 0.1, 1e6)
	if err != nil {
		return nil, err
	}
	seed, err := o.int("seed", -1, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	if seed < 0 {
		seed = time.Now().UnixNano() & (1<<62 - 1)
	}
	return NewSynthetic(o.spec, SyntheticConfig{Symbols: int(n), Rate: rate, Seed: uint64(seed)})
}

// Name implements Feed.
func (s *Synthetic) Name() string { return s.name }

// Symbols implements Feed.
func (s *Synthetic) Symbols() []string {
	out := make([]string, len(s.insts))
	for i := range s.insts {
		out[i] = s.insts[i].symbol
	}
	return out
}

// Next fills q with the next update of the walk: a book change (bid, ask and
// their sizes) or, about one time in four, a trade (last, last_size, volume).
// ts is left to the caller.
func (s *Synthetic) Next(q *market.Quote) {
	st := &s.insts[s.rng.IntN(len(s.insts))]
	if s.rng.IntN(4) == 0 {
		s.trade(st, q)
	} else {
		s.move(st)
		s.book(st, q)
	}
}

func (s *Synthetic) lots(st *instrumentState) market.Decimal {
	return market.NewDecimal((1+s.rng.Int64N(st.maxLots))*st.lotMant, st.lotScale)
}

func (s *Synthetic) trade(st *instrumentState, q *market.Quote) {
	*q = market.Quote{Symbol: st.symbol}
	// a trade hits the bid or lifts the ask as the book stands now
	price := st.bid
	if s.rng.IntN(2) == 0 {
		price += st.spread
	}
	st.lastTicks = price
	size := 1 + s.rng.Int64N(st.maxLots)
	st.volumeLots += size
	q.Set(market.Last, market.NewDecimal(price*st.tickMant, st.tickScale))
	q.Set(market.LastSize, market.NewDecimal(size*st.lotMant, st.lotScale))
	q.Set(market.Volume, market.NewDecimal(st.volumeLots*st.lotMant, st.lotScale))
}

// move walks the bid and draws a new spread, mean-reverting gently so a long
// run stays within about 10% of the starting price. The book moves around
// the latest trade: it never leaves the last price outside [bid, ask], so a
// trade at the ask lets the bid climb to it and the price walks by trades.
func (s *Synthetic) move(st *instrumentState) {
	st.bid += s.rng.Int64N(2*st.stepTicks+1) - st.stepTicks
	if st.bid > st.startTicks*11/10 {
		st.bid -= st.stepTicks
	} else if st.bid < st.startTicks*9/10 {
		st.bid += st.stepTicks
	}
	st.spread = 1 + s.rng.Int64N(st.maxSpread)
	if l := st.lastTicks; l > 0 {
		st.bid = min(max(st.bid, l-st.spread), l)
	}
	if st.bid < 1 {
		st.bid = 1
	}
}

func (s *Synthetic) book(st *instrumentState, q *market.Quote) {
	*q = market.Quote{Symbol: st.symbol}
	q.Set(market.Bid, market.NewDecimal(st.bid*st.tickMant, st.tickScale))
	q.Set(market.BidSize, s.lots(st))
	q.Set(market.Ask, market.NewDecimal((st.bid+st.spread)*st.tickMant, st.tickScale))
	q.Set(market.AskSize, s.lots(st))
}

// Open fills q with the opening state of every symbol in turn: call i gives
// symbol i/2 a book when i is even and a trade when it is odd. It returns
// false once every symbol has opened.
func (s *Synthetic) Open(i int, q *market.Quote) bool {
	if i >= 2*len(s.insts) {
		return false
	}
	st := &s.insts[i/2]
	if i%2 == 0 {
		s.book(st, q)
	} else {
		s.trade(st, q)
	}
	return true
}

// Run implements Feed: it emits rate updates per second, paced every 5ms
// against the elapsed time so the average rate holds; after a stall of more
// than a second it skips ahead rather than bursting.
func (s *Synthetic) Run(ctx context.Context, sink Sink) error {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	var emitted float64
	var q market.Quote
	// every symbol opens at once, so a fresh server shows a full board
	for i := 0; s.Open(i, &q); i++ {
		q.TsMicros = time.Now().UnixMicro()
		if err := sink.Push(ctx, &q); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := now.Sub(start).Seconds() * s.rate
			if due-emitted > s.rate {
				emitted = due - s.rate/100
			}
			ts := now.UnixMicro()
			for ; emitted+1 <= due; emitted++ {
				s.Next(&q)
				q.TsMicros = ts
				if err := sink.Push(ctx, &q); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}
	}
}
