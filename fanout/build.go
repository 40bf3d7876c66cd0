package fanout

import (
	"hash/maphash"
	"time"

	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/ws"
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
	if n == 0 && !empty {
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
// compressed one. Whole messages are compressed while this window's
// compression budget lasts; after that, updates for deflate clients are
// assembled from per-symbol pieces, each compressed once per window, so that
// compression never makes the engine miss its window (the bytes are larger,
// about 0.8 of plain against 0.26 for a whole message).
func (e *Engine) prepare(f *Frame, deflate bool) {
	if !deflate {
		e.buildPlain(f)
		return
	}
	if f.deflated != nil {
		return
	}
	if f.src != nil && e.compressSpent >= e.compressBudget { // a lazily built update (a pooled snapshot may keep an empty syms)
		e.assemble(f)
		return
	}
	e.buildPlain(f)
	t0 := time.Now()
	e.comp.deflate(f)
	e.compressSpent += time.Since(t0)
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
	buf = append(buf, ']', '}')
	f.finishPlain(buf)
	e.stats.FramesBuilt.Add(1)
}

// assemble builds f's compressed form by concatenating pieces: the window's
// envelope head, each symbol's delta, and the tail.
func (e *Engine) assemble(f *Frame) {
	if e.headPiece == nil || e.headTime != f.timeMicros {
		e.headPiece = e.comp.piece(e.headPiece[:0], protocol.AppendQuotesHead(nil, "update", "", f.timeMicros))
		e.headTime = f.timeMicros
	}
	buf := append(f.dbuf[:0], zeroHeader[:]...)
	buf = append(buf, e.headPiece...)
	for i, s := range f.syms {
		first, next := f.src.pieces(e, s)
		if i == 0 {
			buf = append(buf, first...)
		} else {
			buf = append(buf, next...)
		}
	}
	buf = append(buf, e.tailPiece...)
	buf = buf[:len(buf)-4] // the message's final 00 00 ff ff
	at := ws.PutHeader(buf, maxHeaderLen, ws.BitFin|ws.BitRSV1|ws.OpText, len(buf)-maxHeaderLen)
	f.dbuf = buf
	f.deflated = buf[at:]
	e.stats.FramesAssembled.Add(1)
}

// entries is where a lazily built update takes each symbol's entry from:
// this window's deltas (deltas), or a conflated cadence's net changes
// (*cadence).
type entries interface {
	// entry is s's JSON in the update.
	entry(s *symbol) []byte
	// pieces is the entry compressed as a piece (see compressor.piece),
	// as the first of a message and with a leading comma; built once per
	// window.
	pieces(e *Engine, s *symbol) (first, next []byte)
}

// deltas are the entries of a window's updates: each symbol's delta.
type deltas struct{}

func (deltas) entry(s *symbol) []byte { return s.delta }

func (deltas) pieces(e *Engine, s *symbol) (first, next []byte) {
	if s.pieceEpoch != e.epoch {
		s.pieceEpoch = e.epoch
		s.pieceFirst = e.comp.piece(s.pieceFirst[:0], s.delta)
		e.scratch = append(append(e.scratch[:0], ','), s.delta...)
		s.pieceNext = e.comp.piece(s.pieceNext[:0], e.scratch)
	}
	return s.pieceFirst, s.pieceNext
}
