package access

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ticker-io/ticker/market"
)

// Grant is what one authenticated token may see: the symbols its patterns
// match, until its expiry. A Grant never changes once built, so the engine
// goroutine, REST handlers and timers may share one. A nil *Grant is
// Everything.
//
// Patterns: "*" alone matches every symbol; "PREFIX*" (one "*", at the end)
// matches the symbols that start with PREFIX ("BTC-*"); anything else is a
// symbol matched exactly and case-sensitively ("AAPL", "EUR/USD").
type Grant struct {
	all      bool
	exact    map[string]struct{}
	prefixes []string
	key      string    // the patterns, canonical: sorted, deduplicated, joined by ","
	expiry   time.Time // zero: never
}

// Everything is the grant of an open server and of a token-file token
// listed without patterns: every symbol, no expiry.
var Everything = &Grant{all: true, key: "*"}

// Nothing is a grant of no symbol: what a request that was never
// authenticated may see.
var Nothing = &Grant{}

// ErrPattern is the error of a pattern that is neither "*", a symbol, nor
// a symbol prefix followed by "*".
var ErrPattern = errors.New(`not a symbol pattern (a symbol, a symbol prefix followed by "*", or "*" alone)`)

// ParseGrant builds the grant of patterns, with no expiry. An empty list
// is an error: a grant of nothing would be a token that opens no data.
func ParseGrant(patterns []string) (*Grant, error) {
	if len(patterns) == 0 {
		return nil, errors.New("no symbol patterns")
	}
	g := &Grant{exact: map[string]struct{}{}}
	for _, p := range patterns {
		if err := g.add(p); err != nil {
			return nil, err
		}
	}
	if g.all {
		return Everything, nil
	}
	keys := slices.Collect(maps.Keys(g.exact))
	for _, p := range g.prefixes {
		keys = append(keys, p+"*")
	}
	slices.Sort(keys)
	g.key = strings.Join(slices.Compact(keys), ",")
	return g, nil
}

func (g *Grant) add(p string) error {
	if p == "*" {
		g.all = true
		return nil
	}
	prefix, wild := strings.CutSuffix(p, "*")
	if market.ValidateSymbol(prefix) != nil { // also refuses a "*" elsewhere
		return ErrPattern
	}
	if wild {
		g.prefixes = append(g.prefixes, prefix)
	} else {
		g.exact[prefix] = struct{}{}
	}
	return nil
}

// WithExpiry returns a copy of g that expires at t.
func (g *Grant) WithExpiry(t time.Time) *Grant {
	if g == nil {
		g = Everything
	}
	c := *g
	c.expiry = t
	return &c
}

// Allows reports whether the grant covers symbol. "*" itself is not a
// symbol: see Split.
func (g *Grant) Allows(symbol string) bool {
	if g == nil || g.all {
		return true
	}
	if _, ok := g.exact[symbol]; ok {
		return true
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(symbol, p) {
			return true
		}
	}
	return false
}

// All reports whether the grant covers every symbol, present and future.
func (g *Grant) All() bool { return g == nil || g.all }

// Expiry returns when the grant ends; zero for never.
func (g *Grant) Expiry() time.Time {
	if g == nil {
		return time.Time{}
	}
	return g.expiry
}

// Expired reports whether the grant has ended at now.
func (g *Grant) Expired(now time.Time) bool {
	e := g.Expiry()
	return !e.IsZero() && !now.Before(e)
}

// Key names the symbols the grant covers: grants with the same key (and
// only those) cover the same symbols. Symbols cannot hold ",", so it is
// the sorted patterns joined by ","; "*" for everything, "" for Nothing.
func (g *Grant) Key() string {
	if g == nil {
		return "*"
	}
	return g.key
}

// Filter returns what a subscriber is restricted with
// (fanout.Client.Restrict): the grant, or nil when it covers everything and
// nothing needs filtering.
func (g *Grant) Filter() interface {
	Allows(symbol string) bool
	Key() string
} {
	if g.All() {
		return nil
	}
	return g
}

// Split divides requested symbols into those the grant covers and those it
// does not, each in the order given. "*" is always allowed: for a limited
// grant it means every symbol the grant covers.
func (g *Grant) Split(symbols []string) (allowed, forbidden []string) {
	if g.All() {
		return symbols, nil
	}
	for _, s := range symbols {
		if s == "*" || g.Allows(s) {
			allowed = append(allowed, s)
		} else {
			forbidden = append(forbidden, s)
		}
	}
	return allowed, forbidden
}
