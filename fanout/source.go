package fanout

import "github.com/ticker-io/ticker/market"

// source is where an engine's versions come from. The engine holds one and
// asks it, at the few points where the two kinds of engine differ, instead
// of branching on a mode: Promote swaps in own, Demote swaps back replica.
type source interface {
	// publish makes the pending change of s (a symbol with no version
	// queued) this window's version, appended to changed; wait reports
	// that it stays pending for a later window.
	publish(e *Engine, s *symbol, d *market.Quote, changed []*symbol) (out []*symbol, wait bool)
	// tapped reports whether this window's versions go to Config.Tap.
	tapped(e *Engine) bool
	// unwatched is told that s has lost its last subscriber.
	unwatched(e *Engine, s *symbol)
	// takesVersions reports whether versions pushed from elsewhere
	// (PushVersion) are served.
	takesVersions() bool
}

// own versions the ring's quotes: an engine that runs the feeds, or an
// ingest node that leads.
type own struct{}

func (own) publish(e *Engine, s *symbol, d *market.Quote, changed []*symbol) ([]*symbol, bool) {
	if e.held {
		return changed, true // Hold: no seq is issued; changes wait, coalesced
	}
	if s.full {
		s.full = false
		s.state.PublishAll(d)
	} else if !s.state.Publish(d) {
		return changed, false
	}
	s.delta = d.AppendJSON(s.delta[:0])
	s.fields, s.marks = d.Fields, d.Staleness
	return append(changed, s), false
}

func (own) tapped(e *Engine) bool      { return !e.held }
func (own) unwatched(*Engine, *symbol) {}
func (own) takesVersions() bool        { return false }

// replica serves versions published elsewhere (PushVersion): an edge node,
// or an ingest node standing by. Its symbols change only by queued
// versions, and one nobody subscribes to is forgotten, since its versions
// stop arriving and what it holds would go stale.
type replica struct{}

func (replica) publish(_ *Engine, _ *symbol, _ *market.Quote, changed []*symbol) ([]*symbol, bool) {
	return changed, false
}

func (replica) tapped(*Engine) bool { return false }

func (replica) unwatched(e *Engine, s *symbol) {
	if len(e.wildcards) == 0 {
		e.forget(s)
	}
}

func (replica) takesVersions() bool { return true }

// follower is the replica of an ingest standby (Config.FollowAll): its
// versions keep coming whoever subscribes, so it forgets nothing.
type follower struct{ replica }

func (follower) unwatched(*Engine, *symbol) {}

// replicaOf is the replica source cfg asks for.
func replicaOf(cfg Config) source {
	if cfg.FollowAll {
		return follower{}
	}
	return replica{}
}
