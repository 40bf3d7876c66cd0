package bars

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticker-io/ticker/market"
)

// Aggregator builds every symbol's bars from the published versions. It is
// a fanout.Tap; its zero value is not usable, call New.
type Aggregator struct {
	mu     sync.RWMutex
	series map[string]*series
	nowSec atomic.Int64 // the latest event time seen, Unix seconds
}

// series is one symbol's bars and what its previous version traded.
type series struct {
	mu     sync.Mutex
	rings  [numIntervals]ring
	traded bool              // has had a trade: mid prices no longer count
	trade  [3]market.Decimal // last, last_size, volume of the previous version
	fields market.FieldSet   // which of them it had
}

// New returns an empty Aggregator.
func New() *Aggregator { return &Aggregator{series: map[string]*series{}} }

// Version implements fanout.Tap: full is the symbol's quote at a new version.
func (a *Aggregator) Version(_ []byte, full *market.Quote) { a.Add(full) }

// Window implements fanout.Tap; bars need nothing at the end of a window.
func (a *Aggregator) Window(time.Time) {}

// Add folds one full quote (a new version of its symbol) into its bars.
func (a *Aggregator) Add(q *market.Quote) {
	s := a.get(q.Symbol)
	price, size, ok := s.point(q)
	if !ok {
		return
	}
	t := q.TsMicros / 1e6
	if t > a.nowSec.Load() {
		a.nowSec.Store(t) // only the engine's goroutine writes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rings {
		iv := Interval(i)
		r := &s.rings[i]
		start := t - t%iv.Seconds()
		if b := r.latest(); b != nil && start <= b.Time {
			b.add(price, size)
			continue
		}
		r.push(Bar{Time: start, Open: price, High: price, Low: price, Close: price, Volume: size}, iv.Keep())
	}
}

func (a *Aggregator) get(sym string) *series {
	a.mu.RLock()
	s := a.series[sym]
	a.mu.RUnlock()
	if s != nil {
		return s
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s = a.series[sym]; s == nil {
		s = &series{}
		a.series[sym] = s
	}
	return s
}

var tradeFields = [3]market.Field{market.Last, market.LastSize, market.Volume}

// point is the price and size q adds to the bars: a trade's, when last,
// last_size or volume changed since the previous version; the mid of a
// symbol that never traded; none for a book change of a traded symbol.
// Only the engine's goroutine calls it, so the trade state needs no lock.
func (s *series) point(q *market.Quote) (price, size market.Decimal, ok bool) {
	last, hasLast := q.Get(market.Last)
	traded := false
	for i, f := range tradeFields {
		v, has := q.Get(f)
		if has != s.fields.Has(f) || v != s.trade[i] {
			traded = true
		}
		s.trade[i] = v
	}
	s.fields = 0
	for _, f := range tradeFields {
		if q.Fields.Has(f) {
			s.fields = s.fields.With(f)
		}
	}
	if hasLast && traded {
		s.traded = true
		size, _ = q.Get(market.LastSize)
		return last, size, true
	}
	if s.traded || hasLast {
		return price, size, false
	}
	bid, okb := q.Get(market.Bid)
	ask, oka := q.Get(market.Ask)
	if !okb || !oka {
		return price, size, false
	}
	return bid.Add(ask).Half(), market.Decimal{}, true
}

// Bars returns symbol's newest bars of interval iv, at most limit, oldest
// first, within the interval's window (15 minutes of 1s bars, 24 hours of
// 1m bars) before the latest event seen. found is false for a symbol with
// no version yet. It never fails; the context and error are those of the
// REST handler's BarSource.
func (a *Aggregator) Bars(_ context.Context, symbol string, iv Interval, limit int) ([]Bar, bool, error) {
	a.mu.RLock()
	s := a.series[symbol]
	a.mu.RUnlock()
	if s == nil {
		return nil, false, nil
	}
	limit = min(max(limit, 0), iv.Keep())
	from := a.nowSec.Load() - iv.Seconds()*int64(iv.Keep()) + 1
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rings[iv].appendSince(make([]Bar, 0, min(limit, len(s.rings[iv].bars))), from, limit), true, nil
}
