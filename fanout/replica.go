package fanout

import (
	"context"
	"errors"
	"slices"

	"github.com/ticker-io/ticker/market"
)

// ErrNotReplica is returned by PushVersion on an engine that versions its
// own quotes.
var ErrNotReplica = errors.New("fanout engine is not a replica")

// Version is one input of a replica engine (Config.Replica).
type Version struct {
	// Quote is a delta (seq, ts and the changed fields) continuing the
	// symbol's published seq, or, with Full, its whole quote.
	Quote market.Quote
	// Full makes Quote replace the symbol's state: a resync. Subscribers
	// get a snapshot of it ("resync", or "subscribe" when the engine had
	// no quote of the symbol).
	Full bool
	// Declare only makes Quote.Symbol known (subscribable), and, with an
	// Epoch, tells an engine that knows none yet the stream's epoch, so
	// that its acks carry it before any version has come.
	Declare bool
	// Epoch is the stream the version belongs to (zero: the engine's). A
	// higher epoch than the engine's is a new stream: the engine drops every
	// symbol's state, and each subscriber gets a resync snapshot carrying
	// the new epoch, then the symbols again as their versions arrive. A
	// lower one is stale and dropped.
	Epoch uint64
}

// maxQueuedVersions bounds the versions a replica keeps per symbol waiting
// for their window; past it they are folded into one full quote (a resync).
const maxQueuedVersions = 64

// PushVersion hands a replica engine one version published elsewhere
// (see Version). Versions of a symbol must come in seq order, deltas
// continuing the seq without a gap; a Full version may jump. An engine
// created without Config.Replica takes none (ErrNotReplica).
func (e *Engine) PushVersion(ctx context.Context, v Version) error {
	if e.vers == nil {
		return ErrNotReplica
	}
	select {
	case e.vers <- v:
		return nil
	case <-e.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Promote turns a replica into the source of versions: from the next
// window on it versions the ring's quotes itself. Each symbol's seq goes on
// from the highest of the version it served and floors[symbol] (the
// highest seq the cluster is known to have published, which a replica
// behind a gap may not have served), and the symbol's first own version
// carries every field, so that any replica, whatever version it held, is
// whole again. Versions still queued are folded in first.
// epoch is the stream's epoch from now on (zero keeps the engine's).
func (e *Engine) Promote(ctx context.Context, floors map[string]uint64, epoch uint64) error {
	return e.send(ctx, command{kind: cmdPromote, floors: floors, epoch: epoch})
}

// Demote makes a promoted engine a replica again (one created with
// Config.Replica): an ingest node that another has replaced as the
// stream's source follows the stream again. The feeds may go on filling
// the ring; versions from PushVersion replace what they changed.
func (e *Engine) Demote(ctx context.Context) error {
	return e.send(ctx, command{kind: cmdDemote})
}

// Rebase raises, on a promoted engine, the seq of each symbol below
// floors[symbol] to it; each such symbol's next version carries every
// field. An ingest leader that finds, coming back, that another node
// published meanwhile goes on above what that node published.
func (e *Engine) Rebase(ctx context.Context, floors map[string]uint64) error {
	return e.send(ctx, command{kind: cmdRebase, floors: floors})
}

func (e *Engine) rebase(floors map[string]uint64) {
	if e.src.takesVersions() {
		return
	}
	for _, s := range e.byID {
		if served := s.state.PublishedRef().Seq; e.skip(s, floors[s.name]) {
			e.asSnapshot(s, served)
			s.full = true
			if !s.dirty {
				s.dirty = true
				e.dirty = append(e.dirty, s)
			}
		}
	}
}

// Hold stops (true) or restarts (false) a promoted engine's versioning:
// while held, changes wait, coalesced, and no seq is issued; the first
// window after release publishes them. An ingest leader holds its engine
// while it is not sure to hold the lease. Safe from any goroutine.
func (e *Engine) Hold(on bool) { e.holding.Store(on) }

func (e *Engine) promote(floors map[string]uint64, epoch uint64) {
	if !e.src.takesVersions() {
		return
	}
	e.src = own{}
	if epoch != 0 && epoch != e.stream {
		e.setEpoch(epoch)
	}
	for _, s := range e.byID {
		served := s.state.PublishedRef().Seq
		if len(s.queue) > 0 {
			q := e.folded(s, nil)
			s.queue = s.queue[:0]
			if q.Seq > served {
				s.state.Restore(q)
			}
		}
		// past the seqs served, by the floor or by the versions folded in
		// (a snapshot of the fold now, then the first own version as an
		// update, would say one seq twice once the flush has published it)
		if e.skip(s, floors[s.name]) || s.state.PublishedRef().Seq > served {
			e.asSnapshot(s, served)
		}
		if s.state.PublishedRef().Seq > 0 {
			s.full = true
			if !s.dirty {
				s.dirty = true
				e.dirty = append(e.dirty, s)
			}
		}
	}
}

// skip raises s's seq to floor, if it is below (the cluster published seqs
// this engine never served), and reports whether it did.
func (e *Engine) skip(s *symbol, floor uint64) bool {
	if floor <= s.state.PublishedRef().Seq {
		return false
	}
	s.state.SkipTo(floor)
	return true
}

// asSnapshot makes s's next own version, which jumps past served (the
// seq its subscribers had), reach them as a snapshot, as an edge's clients
// get one, not as an update with a gap: "subscribe" if they had nothing of
// it, "resync" if they had (jumped). Its published quote is not sent as it
// stands: under a raised seq it would be another version than the
// cluster's.
func (e *Engine) asSnapshot(s *symbol, served uint64) {
	s.jump = true
	s.fresh = served == 0 && !s.renewed
}

// jumped takes out of changed the symbols whose seq jumped (asSnapshot) and
// makes them repaired, so their subscribers get this version as a
// snapshot; they have been tapped already, as every version is.
func (e *Engine) jumped(changed []*symbol) []*symbol {
	return slices.DeleteFunc(changed, func(s *symbol) bool {
		if !s.jump {
			return false
		}
		s.jump = false
		e.repaired = append(e.repaired, s)
		return true
	})
}

// takeVersions takes the versions waiting, at most max.
func (e *Engine) takeVersions(max int) {
	for n := 0; n < max; n++ {
		select {
		case v := <-e.vers:
			e.takeVersion(v)
		default:
			return
		}
	}
}

func (e *Engine) takeVersion(v Version) {
	if err := market.ValidateSymbol(v.Quote.Symbol); err != nil {
		e.stats.QuotesRejected.Add(1)
		return
	}
	s := e.symbolFor(v.Quote.Symbol)
	if v.Declare {
		if e.stream == 0 && e.src.takesVersions() {
			e.stream = v.Epoch
		}
		return
	}
	if !e.src.takesVersions() {
		e.stats.QuotesRejected.Add(1) // promoted: versions come from this engine now
		return
	}
	switch {
	case v.Epoch == 0 || v.Epoch == e.stream:
	case v.Epoch < e.stream:
		e.stats.QuotesRejected.Add(1) // an older stream's, still in flight
		return
	default:
		e.setEpoch(v.Epoch)
	}
	e.stats.QuotesIn.Add(1)
	if len(s.queue) >= maxQueuedVersions {
		q := e.folded(s, &v)
		s.queue = append(s.queue[:0], Version{Quote: q, Full: true})
	} else {
		s.queue = append(s.queue, v)
	}
	if !s.dirty {
		s.dirty = true
		e.dirty = append(e.dirty, s)
	}
}

// setEpoch starts a new stream: a replica drops what it held of the old
// one (its seqs mean nothing in the new one), and every client gets a
// resync snapshot carrying the new epoch at the next flush.
func (e *Engine) setEpoch(epoch uint64) {
	old := e.stream
	e.stream = epoch
	if old == 0 {
		return // the first epoch this engine learns: nothing to drop
	}
	e.log.Warn("fanout: a new stream epoch; every symbol starts again", "epoch", epoch, "previous", old)
	e.stats.Epochs.Add(1)
	for _, s := range e.byID {
		if s.state.PublishedRef().Seq > 0 || len(s.queue) > 0 {
			s.renewed = true
		}
		s.state = market.NewState(s.name)
		s.queue = s.queue[:0]
	}
	clear(e.repaired)
	e.repaired = e.repaired[:0]
	e.pubMu.Lock()
	clear(e.pub)
	e.pubMu.Unlock()
	e.newStream = true
}

// folded returns s's published quote with its queued versions (and last,
// if not nil) applied.
func (e *Engine) folded(s *symbol, last *Version) market.Quote {
	tmp := *s.state
	apply := func(v *Version) {
		if v.Full {
			tmp.Restore(v.Quote)
		} else {
			tmp.ApplyDelta(&v.Quote)
		}
	}
	for i := range s.queue {
		apply(&s.queue[i])
	}
	if last != nil {
		apply(last)
	}
	return tmp.Published()
}

// nextVersion serves the next queued version of a replica's symbol: a
// delta joins this window's changes, a full quote replaces the state.
func (e *Engine) nextVersion(s *symbol, changed []*symbol) []*symbol {
	if len(s.queue) == 0 {
		return changed
	}
	v := s.queue[0]
	n := copy(s.queue, s.queue[1:])
	s.queue = s.queue[:n]
	if v.Full {
		s.fresh = s.state.PublishedRef().Seq == 0 && !s.renewed
		s.renewed = false
		s.state.Restore(v.Quote)
		e.repaired = append(e.repaired, s)
		return changed
	}
	if !s.state.ApplyDelta(&v.Quote) {
		e.stats.QuotesRejected.Add(1)
		e.log.Warn("replica: a delta out of sequence was skipped", "symbol", s.name, "seq", v.Quote.Seq, "have", s.state.PublishedRef().Seq)
		return changed
	}
	s.renewed = false
	s.delta = v.Quote.AppendJSON(s.delta[:0])
	s.fields, s.marks = v.Quote.Fields, v.Quote.Staleness
	return append(changed, s)
}

// sendEpoch gives every client with a subscription a resync snapshot of
// what the new stream holds of its symbols (perhaps none yet: the others
// follow as their quotes arrive).
func (e *Engine) sendEpoch(tm int64) {
	for _, s := range e.repaired {
		s.fresh = false
	}
	clear(e.repaired)
	e.repaired = e.repaired[:0]
	for c := range e.clients {
		if c.Closing() || (!c.wildcard && len(c.subs) == 0) {
			continue
		}
		f := e.buildSnapshot(e.subscribed(c), "resync", tm, true)
		e.offerData(c, f, &e.stats.Resyncs)
		f.release()
	}
}

// sendRepaired gives each subscriber of a symbol restored from a full
// quote a snapshot of it; its updates continue from there.
func (e *Engine) sendRepaired(tm int64) {
	for _, s := range e.repaired {
		reason := "resync"
		if s.fresh {
			reason = "subscribe"
		}
		s.fresh = false
		f := e.snapshotFrame([]*symbol{s}, reason, tm)
		if f == nil {
			continue
		}
		give := func(c *Client) {
			if !c.resync && !c.closing.Load() {
				e.offerData(c, f, &e.stats.Resyncs)
			}
		}
		for c := range s.subs {
			if !c.wildcard {
				give(c)
			}
		}
		for _, g := range s.groups {
			for c := range g.subs[s] {
				if !c.wildcard {
					give(c)
				}
			}
		}
		for c := range e.wildcards {
			if c.allow == nil || c.allow.Allows(s.name) {
				give(c)
			}
		}
		f.release()
	}
	clear(e.repaired)
	e.repaired = e.repaired[:0]
}
