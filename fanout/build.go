package fanout

import (
	"hash/maphash"

	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/splice"
)

// sameSymbols reports whether f carries exactly syms, in order.
func sameSymbols(f *Frame, syms []*symbol) bool {
	if len(f.syms) != len(syms) {
		return false
	}
	for i, s := range syms {
		if f.syms[i] != s {
			return false
		}
	}
	return true
}

// snapshotFrame encodes the published quotes of syms (those with a version)
// as a snapshot message, or returns nil if none has a quote. The caller owns
// the frame's one reference.
func (e *Engine) snapshotFrame(syms []*symbol, reason string, timeMicros int64) *Frame {
	return e.buildSnapshot(syms, reason, timeMicros, false)
}

// buildSnapshot is snapshotFrame; with empty, a snapshot of no quote is
// built too (a new epoch's, before any of its quotes arrived).
func (e *Engine) buildSnapshot(syms []*symbol, reason string, timeMicros int64, empty bool) *Frame {
	f := newFrame(kindData)
	buf := f.startPlain()
	buf = protocol.AppendSnapshotHead(buf, reason, e.stream, timeMicros)
	n := 0
	for _, s := range syms {
		q := s.state.PublishedRef()
		if q.Seq == 0 {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = q.AppendJSON(buf)
		n++
	}
	return e.endQuotes(f, buf, n > 0 || empty)
}

// endQuotes closes the quotes array begun in f's plain buffer and frames
// the message; when keep is false (no quote went in), it gives f back to
// the pool and returns nil.
func (e *Engine) endQuotes(f *Frame, buf []byte, keep bool) *Frame {
	if !keep {
		f.pbuf = buf
		f.release()
		return nil
	}
	buf = append(buf, ']', '}')
	f.finishPlain(buf)
	e.stats.FramesBuilt.Add(1)
	return f
}

// updateFrame returns the update message holding the deltas of syms (in id
// order), building it only if no other client got the same one this window.
func (e *Engine) updateFrame(syms []*symbol, timeMicros int64) *Frame {
	return e.cachedFrame(e.frames, syms, deltas{}, timeMicros)
}

// cachedFrame returns the frame of cache (a window's or a cadence's tick's)
// that carries exactly syms, or a new lazily built one from src that the
// cache holds the reference of until it is released.
func (e *Engine) cachedFrame(cache map[uint64]*Frame, syms []*symbol, src entries, timeMicros int64) *Frame {
	var h maphash.Hash
	h.SetSeed(e.seed)
	var b [4]byte
	for _, s := range syms {
		b[0], b[1], b[2], b[3] = byte(s.id), byte(s.id>>8), byte(s.id>>16), byte(s.id>>24)
		h.Write(b[:])
	}
	key := h.Sum64()
	first := cache[key]
	for f := first; f != nil; f = f.next {
		if sameSymbols(f, syms) {
			e.stats.FramesShared.Add(1)
			return f
		}
	}
	f := newFrame(kindData)
	f.syms = append(f.syms, syms...)
	f.src = src
	f.timeMicros = timeMicros
	f.next = first
	cache[key] = f
	return f
}

// dropFrames releases the window's cached updates: those no queue holds go
// back to the pool.
func (e *Engine) dropFrames() { releaseFrames(e.frames) }

// releaseFrames releases and forgets the frames of a cache.
func releaseFrames(frames map[uint64]*Frame) {
	for _, f := range frames {
		for f != nil {
			next := f.next
			f.next = nil
			f.release()
			f = next
		}
	}
	clear(frames)
}

// prepare builds the form of f a client needs: the plain frame, or the
// compressed one. A window's (or a cadence tick's) updates are spliced from
// entries coded once for it (splice.go); snapshots, and an update splicing
// refuses, are compressed whole.
func (e *Engine) prepare(f *Frame, deflate bool) {
	if !deflate {
		e.buildPlain(f)
		return
	}
	if f.deflated != nil {
		return
	}
	if f.src != nil && e.splice(f, e.comp) { // a lazily built update (a pooled snapshot may keep an empty syms)
		return
	}
	e.deflateWhole(f, e.comp)
}

// deflateWhole compresses f's whole message with comp.
func (e *Engine) deflateWhole(f *Frame, comp *compressor) {
	e.buildPlain(f)
	comp.deflate(f)
	e.stats.FramesDeflated.Add(1)
	e.stats.DeflateIn.Add(uint64(len(f.Payload())))
	e.stats.DeflateOut.Add(uint64(len(f.deflated)))
}

// buildPlain encodes a lazily built update.
func (e *Engine) buildPlain(f *Frame) {
	if f.plain != nil {
		return
	}
	buf := f.startPlain()
	buf = protocol.AppendQuotesHead(buf, "update", "", f.timeMicros)
	for i, s := range f.syms {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, f.src.entry(s)...)
	}
	e.endQuotes(f, buf, true)
}

// entries is where a lazily built update takes each symbol's entry from:
// this window's deltas (deltas), or a conflated cadence's net changes
// (*cadence).
type entries interface {
	// entry is s's JSON in the update.
	entry(s *symbol) []byte
	// spliced is the sealed splice window the entries of this window (or
	// tick) are part of, and the updates' head; it is sealed on the first
	// call of a window, which must come from the engine's goroutine.
	spliced(e *Engine, timeMicros int64) *spliceWindow
	// piece is s's entry in that window.
	piece(s *symbol) *splice.Piece
}

// deltas are the entries of a window's updates: each symbol's delta.
type deltas struct{}

func (deltas) entry(s *symbol) []byte { return s.delta }

func (deltas) spliced(e *Engine, timeMicros int64) *spliceWindow {
	if !e.spl.current(e.epoch) {
		e.spl.begin(e.epoch, timeMicros)
		for _, s := range e.changed {
			e.spl.w.Add(&s.piece, s.delta)
		}
		e.spl.seal()
	}
	return &e.spl
}

func (deltas) piece(s *symbol) *splice.Piece { return &s.piece }
