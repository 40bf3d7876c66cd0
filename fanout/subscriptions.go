package fanout

import (
	"fmt"
	"slices"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

func (e *Engine) subscribe(c *Client, id []byte, names []string, every time.Duration) {
	to, ok := e.cadenceOf(c, id, every)
	if !ok {
		return // refused, with an error: nothing subscribed
	}
	moved := to != c.cad
	e.setCadence(c, to)
	var accepted, forbidden, unknown, excess []string
	var fresh []*symbol
	wildcardNew := false
	for _, name := range names {
		if name == "*" {
			if !c.wildcard {
				c.wildcard, wildcardNew = true, true
				e.wildcards[c] = struct{}{}
				c.cad.addWildcard(c)
				e.stats.Subscriptions.Add(1)
				if len(e.wildcards) == 1 {
					e.interest("*", true)
				}
			}
			accepted = append(accepted, name)
			continue
		}
		if c.allow != nil && !c.allow.Allows(name) {
			forbidden = append(forbidden, name) // before unknown: it tells nothing of what exists
			continue
		}
		s := e.symbols[name]
		if s == nil {
			unknown = append(unknown, name)
			continue
		}
		if _, ok := c.subs[s]; ok {
			accepted = append(accepted, name)
			continue
		}
		if len(c.subs) >= e.cfg.MaxSymbolsPerClient {
			excess = append(excess, name)
			continue
		}
		c.subs[s] = struct{}{}
		e.watch(c, s)
		if s.subscribers() == 1 {
			e.interest(s.name, true)
		}
		e.stats.Subscriptions.Add(1)
		accepted = append(accepted, name)
		fresh = append(fresh, s)
	}
	if len(forbidden) > 0 {
		e.reply(c, protocol.AppendError(nil, id, protocol.CodeForbidden, "your token does not entitle you to these symbols; they were not subscribed", forbidden))
	}
	if len(unknown) > 0 {
		e.reply(c, protocol.AppendError(nil, id, protocol.CodeUnknownSymbol, "no feed declares or has delivered these symbols", unknown))
	}
	if len(excess) > 0 {
		e.reply(c, protocol.AppendError(nil, id, protocol.CodeTooManySymbols,
			fmt.Sprintf("at most %d symbols per connection; these were not subscribed", e.cfg.MaxSymbolsPerClient), excess))
	}
	if accepted == nil {
		accepted = []string{}
	}
	ack := protocol.AppendSubscribed(nil, id, accepted, e.stream)
	if every != 0 {
		ack = protocol.AppendEveryField(ack, e.interval(to))
	}
	e.reply(c, ack)

	if c.resync {
		return // the pending resync snapshot covers the new symbols
	}
	var snap []*symbol
	switch {
	case moved:
		// a new cadence: its updates continue from a snapshot of everything
		snap = e.subscribed(c)
	case wildcardNew:
		// every symbol with a quote that the client was not already getting
		for _, s := range e.byID {
			if _, had := c.subs[s]; had && !slices.Contains(fresh, s) {
				continue
			}
			if c.allow != nil && !c.allow.Allows(s.name) {
				continue
			}
			snap = append(snap, s)
		}
	case !c.wildcard:
		snap = fresh
	}
	if f := e.snapshotFrame(snap, "subscribe", e.cfg.clock().Now().UnixMicro()); f != nil {
		e.offerData(c, f, &e.stats.SnapshotsQueued)
		f.release()
	}
	c.cad.joined(c, snap)
}

func (e *Engine) unsubscribe(c *Client, id []byte, names []string) {
	for _, name := range names {
		if name == "*" {
			if c.wildcard {
				e.dropWildcard(c)
			}
			continue
		}
		if s := e.symbols[name]; s != nil {
			if _, ok := c.subs[s]; ok {
				delete(c.subs, s)
				e.dropSub(c, s)
			}
		}
	}
	if names == nil {
		names = []string{}
	}
	e.reply(c, protocol.AppendAck(nil, "unsubscribed", id, names))
}

func (e *Engine) reply(c *Client, payload []byte) {
	c.offer(textFrame(payload, kindReply))
}

// dropSub removes c from s's subscribers (c.subs is the caller's).
func (e *Engine) dropSub(c *Client, s *symbol) {
	delete(s.subs, c)
	c.cad.drop(c, s)
	e.stats.Subscriptions.Add(-1)
	if s.subscribers() == 0 {
		e.interest(s.name, false)
		e.src.unwatched(e, s)
	}
}

// dropWildcard ends c's wildcard subscription.
func (e *Engine) dropWildcard(c *Client) {
	c.wildcard = false
	delete(e.wildcards, c)
	c.cad.dropWildcard(c)
	e.stats.Subscriptions.Add(-1)
	if len(e.wildcards) > 0 {
		return
	}
	e.interest("*", false)
	for _, s := range e.byID {
		if s.subscribers() == 0 {
			e.src.unwatched(e, s)
		}
	}
}

func (e *Engine) interest(symbol string, on bool) {
	if e.cfg.Interest != nil {
		e.cfg.Interest(symbol, on)
	}
}

// forget drops a replica's state of a symbol nobody subscribes to: its
// versions stop arriving, so what it holds would go stale. A later
// subscriber gets the symbol again from a full quote.
func (e *Engine) forget(s *symbol) {
	if s.state.PublishedRef().Seq == 0 && len(s.queue) == 0 {
		return
	}
	s.state = market.NewState(s.name)
	s.queue = s.queue[:0]
	e.pubMu.Lock()
	delete(e.pub, s.name)
	e.pubMu.Unlock()
}

// subscribed returns the symbols c subscribes to, in id order.
func (e *Engine) subscribed(c *Client) []*symbol {
	if c.wildcard {
		if c.allow != nil {
			return slices.Clone(c.allowed(e.byID))
		}
		return e.byID
	}
	syms := make([]*symbol, 0, len(c.subs))
	for s := range c.subs {
		syms = append(syms, s)
	}
	slices.SortFunc(syms, func(a, b *symbol) int { return a.id - b.id })
	return syms
}
