package fanout

import (
	"hash/maphash"
	"slices"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// A cadence is the clients that asked for their updates every k windows
// (k ≥ 2; a subscribe's "every"): conflation. Between two of its ticks it
// accumulates, per symbol, the first seq not yet sent and the fields
// changed since; at each tick (the engine's window count a multiple of k,
// so that ticks line up with windows) it encodes each changed symbol's net
// change once, {"s","from","seq","ts", fields at their latest values}, and
// builds each distinct update once, shared and compressed once as a
// window's are. Clients on the window's own cadence are not in any: their
// Client.cad is nil.
//
// Continuity: a client's entry for a symbol starts at the seq after the
// last one it got, by update or by snapshot. A snapshot taken between two
// ticks (a subscribe, a change of cadence, a resync) may already hold
// versions the cadence accumulated for the next tick; those clients are
// joiners: their next tick's update is built for them alone, each entry
// starting after the snapshot's seq (and left out when the snapshot is
// newer than all the cadence has), so that from is always the previous
// seq + 1.
type cadence struct {
	every     uint64 // windows per tick
	members   int    // clients on this cadence
	subs      map[*symbol]map[*Client]struct{}
	wildcards map[*Client]struct{}
	acc       []accum   // by symbol id, grown as needed
	pending   []*symbol // symbols changed since the last tick
	joiners   []*Client // members whose joined is not empty
	frames    map[uint64]*Frame
	touched   []*Client
	scratch   []byte
}

// accum is what a cadence holds of one symbol between two ticks.
type accum struct {
	pending bool
	from    uint64          // first seq not yet sent at this cadence
	fields  market.FieldSet // changed in from..now
	entry   []byte          // at a tick: the encoded net change

	pieceEpoch            uint64 // the window pieceFirst and pieceNext were built in
	pieceFirst, pieceNext []byte
}

// cadences are an engine's conflated cadences in use, by windows per tick.
type cadences map[uint64]*cadence

// cadenceOf returns the cadence a subscribe's every asks for (c's own when
// zero). A value the engine cannot serve is refused with a bad_request
// error to c.
func (e *Engine) cadenceOf(c *Client, id []byte, every time.Duration) (*cadence, bool) {
	w := e.cfg.Window
	switch {
	case every == 0:
		return c.cad, true
	case every < w || every%w != 0 || every > protocol.MaxEvery:
		e.reply(c, protocol.AppendError(nil, id, protocol.CodeBadRequest,
			`"every" must be a multiple of the server's window (`+w.String()+`) of at most `+string(protocol.AppendEvery(nil, protocol.MaxEvery))+`; nothing was subscribed`, nil))
		return nil, false
	case every == w:
		return nil, true
	}
	k := uint64(every / w)
	if g := e.cadences[k]; g != nil {
		return g, true
	}
	if e.cadences == nil {
		e.cadences = cadences{}
	}
	g := &cadence{every: k, subs: map[*symbol]map[*Client]struct{}{}, wildcards: map[*Client]struct{}{}, frames: map[uint64]*Frame{}}
	e.cadences[k] = g
	return g, true
}

// interval is the time between g's ticks.
func (e *Engine) interval(g *cadence) time.Duration {
	if g == nil {
		return e.cfg.Window
	}
	return time.Duration(g.every) * e.cfg.Window
}

// setCadence moves c, with all its symbols, to cadence to (nil: the
// window's).
func (e *Engine) setCadence(c *Client, to *cadence) {
	from := c.cad
	if from == to {
		return
	}
	for s := range c.subs {
		delete(s.subs, c) // or from's index
		from.drop(c, s)
	}
	if from != nil {
		from.dropWildcard(c)
		if len(c.joined) > 0 {
			clear(c.joined)
			if i := slices.Index(from.joiners, c); i >= 0 {
				from.joiners = slices.Delete(from.joiners, i, i+1)
			}
		}
		if from.members--; from.members == 0 {
			delete(e.cadences, from.every)
		}
	}
	c.cad = to
	if to != nil {
		to.members++
	}
	for s := range c.subs {
		e.watch(c, s)
	}
	if c.wildcard {
		to.addWildcard(c)
	}
}

// watch adds c to the subscribers of s at c's cadence: s.subs for the
// window's, the cadence's own index for a conflated one (so that a window
// goes over its own subscribers only).
func (e *Engine) watch(c *Client, s *symbol) {
	g := c.cad
	if g == nil {
		s.subs[c] = struct{}{}
		return
	}
	m := g.subs[s]
	if m == nil {
		m = map[*Client]struct{}{}
		g.subs[s] = m
		s.groups = append(s.groups, g)
	}
	m[c] = struct{}{}
}

// subscribers is how many clients subscribe to s explicitly, at any
// cadence.
func (s *symbol) subscribers() int {
	n := len(s.subs)
	for _, g := range s.groups {
		n += len(g.subs[s])
	}
	return n
}

// addWildcard records c's wildcard subscription.
func (g *cadence) addWildcard(c *Client) {
	if g != nil {
		g.wildcards[c] = struct{}{}
	}
}

// drop forgets c's subscription to s.
func (g *cadence) drop(c *Client, s *symbol) {
	if g == nil {
		return
	}
	m := g.subs[s]
	delete(m, c)
	if len(m) == 0 && m != nil {
		delete(g.subs, s)
		if i := slices.Index(s.groups, g); i >= 0 {
			s.groups = slices.Delete(s.groups, i, i+1)
		}
	}
	delete(c.joined, s)
}

// dropWildcard forgets c's wildcard subscription.
func (g *cadence) dropWildcard(c *Client) {
	if g != nil {
		delete(g.wildcards, c)
	}
}

// joined records that c was just sent a snapshot of syms: of those the
// cadence holds changes of, c's next entry starts after the snapshot.
func (g *cadence) joined(c *Client, syms []*symbol) {
	if g == nil {
		return
	}
	for _, s := range syms {
		if s.id >= len(g.acc) || !g.acc[s.id].pending {
			continue // the next entry starts after the snapshot anyway
		}
		if c.joined == nil {
			c.joined = map[*symbol]uint64{}
		}
		if len(c.joined) == 0 {
			g.joiners = append(g.joiners, c)
		}
		c.joined[s] = s.state.PublishedRef().Seq
	}
}

// note accumulates this window's version of s.
func (g *cadence) note(s *symbol) {
	if s.id >= len(g.acc) {
		g.acc = append(g.acc, make([]accum, s.id+1-len(g.acc))...)
	}
	a := &g.acc[s.id]
	if a.pending {
		a.fields |= s.fields
		return
	}
	a.pending, a.from, a.fields = true, s.state.PublishedRef().Seq, s.fields
	g.pending = append(g.pending, s)
}

// repaired forgets what the cadences hold of symbols restored from a full
// quote: every subscriber gets a snapshot of them (sendRepaired), or a
// resync, and their entries start after it.
func (cs cadences) repaired(syms []*symbol) {
	if len(syms) == 0 {
		return
	}
	for _, g := range cs {
		for _, s := range syms {
			if s.id < len(g.acc) && g.acc[s.id].pending {
				g.acc[s.id].pending = false
				g.pending = slices.DeleteFunc(g.pending, func(p *symbol) bool { return p == s })
			}
			for _, c := range g.joiners {
				delete(c.joined, s)
			}
		}
	}
}

// reset forgets everything the cadences hold: a new stream, whose
// snapshot every client gets.
func (cs cadences) reset() {
	for _, g := range cs {
		for _, s := range g.pending {
			g.acc[s.id].pending = false
		}
		clear(g.pending)
		g.pending = g.pending[:0]
		g.forgetJoiners()
	}
}

func (g *cadence) forgetJoiners() {
	for _, c := range g.joiners {
		clear(c.joined)
	}
	clear(g.joiners)
	g.joiners = g.joiners[:0]
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
	touched := g.touched[:0]
	for _, s := range pending {
		for c := range g.subs[s] {
			if c.wildcard {
				continue
			}
			if c.mark != e.epoch {
				c.mark = e.epoch
				c.windowSyms = c.windowSyms[:0]
				touched = append(touched, c)
			}
			c.windowSyms = append(c.windowSyms, s)
		}
	}
	for _, c := range touched {
		e.deliverTick(g, c, c.windowSyms, tm, now)
	}
	if len(pending) > 0 {
		for c := range g.wildcards {
			c.mark = e.epoch
			e.deliverTick(g, c, pending, tm, now)
		}
	}
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
	dst, g.scratch = protocol.AppendRangeDelta(dst, g.scratch, &q, from)
	return dst
}

// frame returns the update holding the entries of syms, built once per
// tick whichever clients get it.
func (g *cadence) frame(e *Engine, syms []*symbol, timeMicros int64) *Frame {
	var h maphash.Hash
	h.SetSeed(e.seed)
	var b [4]byte
	for _, s := range syms {
		b[0], b[1], b[2], b[3] = byte(s.id), byte(s.id>>8), byte(s.id>>16), byte(s.id>>24)
		h.Write(b[:])
	}
	key := h.Sum64()
	first := g.frames[key]
	for f := first; f != nil; f = f.next {
		if sameSymbols(f, syms) {
			e.stats.FramesShared.Add(1)
			return f
		}
	}
	f := newFrame(kindData) // the cache's reference, dropped at the end of the tick
	f.syms = append(f.syms, syms...)
	f.src = g
	f.timeMicros = timeMicros
	f.next = first
	g.frames[key] = f
	return f
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
	if n == 0 {
		f.pbuf = buf
		f.release()
		return nil
	}
	buf = append(buf, ']', '}')
	f.finishPlain(buf)
	e.stats.FramesBuilt.Add(1)
	return f
}

func (g *cadence) entry(s *symbol) []byte { return g.acc[s.id].entry }

func (g *cadence) pieces(e *Engine, s *symbol) (first, next []byte) {
	a := &g.acc[s.id]
	if a.pieceEpoch != e.epoch {
		a.pieceEpoch = e.epoch
		a.pieceFirst = e.comp.piece(a.pieceFirst[:0], a.entry)
		e.scratch = append(append(e.scratch[:0], ','), a.entry...)
		a.pieceNext = e.comp.piece(a.pieceNext[:0], e.scratch)
	}
	return a.pieceFirst, a.pieceNext
}
