package fanout

import (
	"github.com/ticker-io/ticker/market"
)

// Symbols returns every known symbol (declared or delivered), sorted.
func (e *Engine) Symbols() []string {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	return append(make([]string, 0, len(e.names)), e.names...) // [] rather than null in JSON
}

// Quotes returns the published full quote of every symbol that has one,
// sorted by symbol.
func (e *Engine) Quotes() []market.Quote {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	out := make([]market.Quote, 0, len(e.pub))
	for _, name := range e.names {
		if q, ok := e.pub[name]; ok {
			out = append(out, q)
		}
	}
	return out
}

// Quote returns the published full quote of symbol, if it has one.
func (e *Engine) Quote(symbol string) (market.Quote, bool) {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	q, ok := e.pub[symbol]
	return q, ok
}
