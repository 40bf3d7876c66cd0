package fanout

import (
	"fmt"
	"slices"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/splice"
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
	spl       spliceWindow // this tick's entries, for splicing its updates
	filtered  filters      // restricted wildcards' symbols of a tick (restrict.go)
}

// accum is what a cadence holds of one symbol between two ticks.
type accum struct {
	pending bool
	from    uint64          // first seq not yet sent at this cadence
	fields  market.FieldSet // changed in from..now
	marked  bool            // a version in from..now turned the symbol stale or fresh
	entry   []byte          // at a tick: the encoded net change
	piece   splice.Piece    // entry in the cadence's splice window
}

// cadences are an engine's conflated cadences in use, by windows per tick.
type cadences map[uint64]*cadence

// cadenceOf returns the cadence a subscribe's every asks for (c's own when
// zero). A value the engine cannot serve is refused with a bad_request
// error to c.
func (e *Engine) cadenceOf(c *Client, id []byte, every time.Duration) (*cadence, bool) {
	w := e.cfg.Window
	if every == 0 {
		return c.cad, true
	}
	if err := e.CheckEvery(every); err != nil {
		e.reply(c, protocol.AppendError(nil, id, protocol.CodeBadRequest, err.Error()+"; nothing was subscribed", nil))
		return nil, false
	}
	switch {
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

// CheckEvery reports an interval a subscribe may not ask for: not a
// multiple of the window, or longer than protocol.MaxEvery. The api checks
// a handshake's ?every= with it, so that a URL's bad interval is refused
// as the handshake's 400, not after it.
func (e *Engine) CheckEvery(every time.Duration) error {
	w := e.cfg.Window
	if every < w || every%w != 0 || every > protocol.MaxEvery {
		return fmt.Errorf(`"every" must be a multiple of the server's window (%v), at most %s`, w, protocol.AppendEvery(nil, protocol.MaxEvery))
	}
	return nil
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
