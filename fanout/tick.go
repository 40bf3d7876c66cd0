package fanout

import (
	"slices"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/splice"
)

// note accumulates this window's version of s.
func (g *cadence) note(s *symbol) {
	if s.id >= len(g.acc) {
		g.acc = append(g.acc, make([]accum, s.id+1-len(g.acc))...)
	}
	a := &g.acc[s.id]
	if a.pending {
		a.fields |= s.fields
		a.marked = a.marked || s.marks != market.Unstated
		return
	}
	a.pending, a.from, a.fields = true, s.state.PublishedRef().Seq, s.fields
	a.marked = s.marks != market.Unstated
	g.pending = append(g.pending, s)
}

// tickCadences accumulates this window's versions in every cadence that
// has subscribers of them, and delivers the cadences whose tick it is.
func (e *Engine) tickCadences(changed []*symbol, tm int64, now time.Time) {
	if len(e.cadences) == 0 {
		return
	}
	for _, s := range changed {
		for _, g := range s.groups {
			g.note(s)
		}
	}
	for _, g := range e.cadences {
		if len(g.wildcards) > 0 {
			for _, s := range changed {
				g.note(s)
			}
		}
		if e.epoch%g.every == 0 {
			e.tick(g, tm, now)
		}
	}
}

// tick sends each client of g its update: the net change of its symbols
// since the last tick.
func (e *Engine) tick(g *cadence, tm int64, now time.Time) {
	pending := g.pending
	for _, s := range pending {
		a := &g.acc[s.id]
		a.entry = g.encode(a.entry[:0], s, a.from)
	}
	slices.SortFunc(pending, func(a, b *symbol) int { return a.id - b.id })
	touched := bySubscriber(g.touched[:0], pending, func(s *symbol) map[*Client]struct{} { return g.subs[s] }, e.epoch)
	for _, c := range touched {
		e.deliverTick(g, c, c.windowSyms, tm, now)
	}
	if len(pending) > 0 {
		for c := range g.wildcards {
			c.mark = e.epoch
			syms := pending
			if c.allow != nil {
				if syms = g.filtered.allowed(c, pending, e.epoch); len(syms) == 0 && !c.resync {
					continue // nothing of its own this tick
				}
			}
			e.deliverTick(g, c, syms, tm, now)
		}
	}
	g.filtered.trim(len(g.wildcards))
	releaseFrames(g.frames)
	for _, s := range pending {
		g.acc[s.id].pending = false
	}
	clear(pending)
	g.pending = pending[:0]
	clear(touched)
	g.touched = touched[:0]
	g.forgetJoiners()
}

// deliverTick is deliver at a cadence's tick.
func (e *Engine) deliverTick(g *cadence, c *Client, syms []*symbol, tm int64, now time.Time) {
	switch {
	case c.closing.Load():
	case c.resync:
		e.resync(c, tm, now)
	case len(c.joined) > 0:
		if f := g.joinerFrame(e, c, syms, tm); f != nil {
			e.offerData(c, f, &e.stats.UpdatesQueued)
			f.release()
		}
	default:
		e.offerData(c, g.frame(e, syms, tm), &e.stats.UpdatesQueued)
	}
}

// encode appends s's net change since from.
func (g *cadence) encode(dst []byte, s *symbol, from uint64) []byte {
	q := *s.state.PublishedRef()
	q.Fields = g.acc[s.id].fields
	if g.acc[s.id].marked && q.Staleness != market.Stale {
		q.Staleness = market.Fresh // it was stale in the interval, and is not now: say so
	}
	dst, g.scratch = protocol.AppendRangeDelta(dst, g.scratch, &q, from)
	return dst
}

// frame returns the update holding the entries of syms, built once per
// tick whichever clients get it.
func (g *cadence) frame(e *Engine, syms []*symbol, timeMicros int64) *Frame {
	return e.cachedFrame(g.frames, syms, g, timeMicros) // released at the end of the tick
}

// joinerFrame builds a joiner's own update (see cadence), or returns nil
// when its snapshot already holds everything. The caller owns the frame's
// one reference.
func (g *cadence) joinerFrame(e *Engine, c *Client, syms []*symbol, timeMicros int64) *Frame {
	f := newFrame(kindData)
	buf := f.startPlain()
	buf = protocol.AppendQuotesHead(buf, "update", "", timeMicros)
	n := 0
	for _, s := range syms {
		a := &g.acc[s.id]
		seen, ok := c.joined[s]
		if ok && seen >= s.state.PublishedRef().Seq {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		if ok && a.from <= seen {
			buf = g.encode(buf, s, seen+1)
			continue
		}
		buf = append(buf, a.entry...)
	}
	return e.endQuotes(f, buf, n > 0)
}

func (g *cadence) entry(s *symbol) []byte { return g.acc[s.id].entry }

func (g *cadence) spliced(e *Engine, timeMicros int64) *spliceWindow {
	if !g.spl.current(e.epoch) {
		g.spl.begin(e.epoch, timeMicros)
		for _, s := range g.pending {
			a := &g.acc[s.id]
			g.spl.w.Add(&a.piece, a.entry)
		}
		g.spl.seal()
	}
	return &g.spl
}

func (g *cadence) piece(s *symbol) *splice.Piece { return &g.acc[s.id].piece }
