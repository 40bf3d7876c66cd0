package market

// State is one symbol's versioned state: the current quote, which folds in
// every update as it arrives, and the published quote, the version clients
// have been told about. Publish turns the difference into a Delta with the
// next seq. A State is owned by one goroutine (the fanout engine).
type State struct {
	cur Quote
	pub Quote
}

// NewState returns the state of a symbol that has no quote yet (seq 0).
func NewState(symbol string) *State {
	return &State{cur: Quote{Symbol: symbol}, pub: Quote{Symbol: symbol}}
}

// Symbol returns the symbol's name.
func (s *State) Symbol() string { return s.cur.Symbol }

// Apply folds a feed update into the current quote. Only fields the update
// carries are touched. The current ts becomes the update's ts when at least one
// field value changed: ts is the time of the latest change, and an update that
// repeats known values is not a change. A live update also makes a stale
// symbol fresh (a change too, which takes its ts). A stale mark (Staleness
// Stale) only marks the symbol stale, keeping its values and ts, so that ts
// still says how old they are; a symbol with no value yet has nothing to
// mark. It reports whether anything changed.
func (s *State) Apply(u *Quote) bool {
	if u.Staleness == Stale {
		if s.cur.Staleness == Stale || s.cur.Fields == 0 {
			return false
		}
		s.cur.Staleness = Stale
		return true
	}
	changed := false
	if s.cur.Staleness == Stale {
		s.cur.Staleness, changed = Unstated, true
	}
	for f := Field(0); f < NumFields; f++ {
		if !u.Fields.Has(f) {
			continue
		}
		if !s.cur.Fields.Has(f) || s.cur.Values[f] != u.Values[f] {
			s.cur.Set(f, u.Values[f])
			changed = true
		}
	}
	if changed {
		s.cur.TsMicros = u.TsMicros
	}
	return changed
}

// Diff returns the fields of next that are absent from prev or differ from it.
func Diff(prev, next *Quote) FieldSet {
	var d FieldSet
	for f := Field(0); f < NumFields; f++ {
		if next.Fields.Has(f) && (!prev.Fields.Has(f) || prev.Values[f] != next.Values[f]) {
			d = d.With(f)
		}
	}
	return d
}

// Pending reports whether the current quote differs from the published one.
func (s *State) Pending() bool {
	return s.cur.TsMicros != s.pub.TsMicros || s.cur.Fields != s.pub.Fields ||
		s.cur.Staleness != s.pub.Staleness || s.cur.Values != s.pub.Values
}

// Publish makes the current quote the next version if it differs from the
// published one: seq rises by exactly 1 and delta receives s, seq, ts, the
// fields changed since seq-1 and the staleness if it changed (Stale or
// Fresh). Values that changed and changed back within one
// window yield a delta with no fields but the new ts, so that ts always equals
// the time of the latest change. It reports whether a version was published.
func (s *State) Publish(delta *Quote) bool {
	if !s.Pending() {
		return false
	}
	changed := Diff(&s.pub, &s.cur)
	stale := staleChange(&s.pub, &s.cur)
	seq := s.pub.Seq + 1
	s.pub = s.cur
	s.pub.Seq = seq
	s.cur.Seq = seq
	*delta = Quote{Symbol: s.pub.Symbol, Seq: seq, TsMicros: s.pub.TsMicros, Fields: changed, Staleness: stale}
	for f := Field(0); f < NumFields; f++ {
		if changed.Has(f) {
			delta.Values[f] = s.pub.Values[f]
		}
	}
	return true
}

// Published returns the full quote at the published seq (seq 0 and no fields
// before the first publish).
func (s *State) Published() Quote { return s.pub }

// PublishedRef returns a pointer to the published quote, valid until the next
// Publish. It saves copying on the engine's own goroutine.
func (s *State) PublishedRef() *Quote { return &s.pub }

// Restore makes q (a full quote with its seq, as another node published it)
// both the current and the published quote. Versions continue from q.Seq.
func (s *State) Restore(q Quote) {
	q.Symbol = s.cur.Symbol
	if q.Staleness != Stale {
		q.Staleness = Unstated
	}
	s.cur, s.pub = q, q
}

// ApplyDelta folds a delta published elsewhere (seq, ts and the changed
// fields, the staleness if it says one) into the published quote, which must
// be at d.Seq-1; the current quote follows. It reports false, changing nothing, for any other seq.
func (s *State) ApplyDelta(d *Quote) bool {
	if d.Seq != s.pub.Seq+1 {
		return false
	}
	for f := Field(0); f < NumFields; f++ {
		if d.Fields.Has(f) {
			s.pub.Set(f, d.Values[f])
		}
	}
	switch d.Staleness {
	case Stale:
		s.pub.Staleness = Stale
	case Fresh:
		s.pub.Staleness = Unstated
	}
	s.pub.Seq, s.pub.TsMicros = d.Seq, d.TsMicros
	s.cur = s.pub
	return true
}

// PublishAll publishes the current quote as the next version whatever
// changed, with every field it has and its staleness (Fresh if not stale)
// in the delta: the first version of a node taking over the stream, which
// must make every replica whole whatever version it held.
func (s *State) PublishAll(delta *Quote) {
	seq := s.pub.Seq + 1
	s.pub = s.cur
	s.pub.Seq = seq
	s.cur.Seq = seq
	*delta = s.pub
	if delta.Staleness != Stale {
		delta.Staleness = Fresh
	}
}

// SkipTo raises the published seq to seq (keeping the values), so that the
// next version is seq+1. Lower values change nothing.
func (s *State) SkipTo(seq uint64) {
	if seq > s.pub.Seq {
		s.pub.Seq, s.cur.Seq = seq, seq
	}
}
