package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

var errMalformedQuote = errors.New("malformed quote in the bucket")

// bucketQuote reads symbol's latest full quote, and the epoch of the
// stream it belongs to, from the bucket; found is false when the bucket
// has none.
func bucketQuote(ctx context.Context, kv jetstream.KeyValue, p *fastjson.Parser, symbol string) (q market.Quote, epoch uint64, found bool, err error) {
	e, err := kv.Get(ctx, Token(symbol))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return q, 0, false, nil
	case err != nil:
		return q, 0, false, err
	}
	epoch, obj := SplitEpoch(e.Value())
	if err := protocol.ParseVersion(p, obj, &q); err != nil || q.Symbol != symbol {
		return market.Quote{}, 0, false, errMalformedQuote
	}
	return q, epoch, true, nil
}

// heldQuotes is what EdgeQuotes needs of the edge's engine: the quotes it
// holds (those its clients want) and every symbol it knows.
type heldQuotes interface {
	Quote(symbol string) (market.Quote, bool)
	Symbols() []string
}

// EdgeQuotes answers an edge's REST quote requests (api.QuoteSource). An
// edge receives only the symbols its clients want, so a symbol its engine
// does not hold is read from the bucket, where the ingest leader keeps
// every symbol's latest full quote: the same answer as on any other node.
type EdgeQuotes struct {
	engine heldQuotes
	kv     jetstream.KeyValue
	pool   sync.Pool // *fastjson.Parser
}

// restReads bounds the bucket reads one /api/quotes request makes at once.
const restReads = 8

// NewEdgeQuotes returns the REST quote source of an edge whose engine is
// engine, reading kv (OpenBucket) for the symbols the engine does not hold.
func NewEdgeQuotes(engine heldQuotes, kv jetstream.KeyValue) *EdgeQuotes {
	return &EdgeQuotes{engine: engine, kv: kv}
}

// Quote returns symbol's current full quote; found is false when the
// cluster has none. An error means the bucket could not be read.
func (eq *EdgeQuotes) Quote(ctx context.Context, symbol string) (market.Quote, bool, error) {
	if q, ok := eq.engine.Quote(symbol); ok {
		return q, true, nil
	}
	p, _ := eq.pool.Get().(*fastjson.Parser)
	if p == nil {
		p = new(fastjson.Parser)
	}
	defer eq.pool.Put(p)
	q, _, found, err := bucketQuote(ctx, eq.kv, p, symbol)
	if err != nil {
		return market.Quote{}, false, fmt.Errorf("reading %s from the bucket: %w", symbol, err)
	}
	return q, found, nil
}

// Quotes returns the current full quote of every symbol the cluster has
// declared, in the engine's symbol order (sorted); a symbol with no quote
// yet is left out.
func (eq *EdgeQuotes) Quotes(ctx context.Context) ([]market.Quote, error) {
	syms := eq.engine.Symbols()
	qs := make([]market.Quote, len(syms))
	found := make([]bool, len(syms))
	errs := make([]error, len(syms))
	sem := make(chan struct{}, restReads)
	var wg sync.WaitGroup
	for i, sym := range syms {
		if q, ok := eq.engine.Quote(sym); ok {
			qs[i], found[i] = q, true
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			qs[i], found[i], errs[i] = eq.Quote(ctx, sym)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := qs[:0]
	for i, q := range qs {
		if found[i] {
			out = append(out, q)
		}
	}
	return out, nil
}
