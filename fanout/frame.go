package fanout

import (
	"sync"
	"sync/atomic"

	"github.com/ticker-io/ticker/ws"
)

// maxHeaderLen is room for the longest server frame header (never masked).
const maxHeaderLen = 10

type frameKind uint8

const (
	kindData    frameKind = iota // snapshot or update: dropped on overflow, repaired by resync
	kindReply                    // ack, error, pong: kept on overflow
	kindControl                  // ping, pong control frame
)

// Frame is one server message as complete WebSocket frames, shared by every
// client that sends it. The engine builds each form (plain, deflated) the
// first time a client needs it, before queueing the frame to that client;
// a form, once built, never changes, and a writer reads only the form its
// client was queued with.
//
// Frames the engine builds (snapshots and updates) are pooled: each queue
// holding one counts as a reference, as does the engine while it builds and
// shares it; the last release returns the frame, with its buffers, to the
// pool. Reply frames (acks, errors, pongs) are not pooled.
type Frame struct {
	kind     frameKind
	plain    []byte // header + JSON payload
	deflated []byte // header with RSV1 + compressed payload; plain when compression does not pay
	hdrLen   int

	// an update built lazily: the symbols whose deltas it carries, and its time
	syms       []*symbol
	src        entries // where the entries of syms come from
	timeMicros int64

	pooled bool
	jobbed bool // waiting in the engine's jobs for compressDeferred
	job    int  // its index there
	refs   atomic.Int32
	pbuf   []byte // backing array of plain, kept across reuse
	dbuf   []byte // backing array of deflated, kept across reuse
	next   *Frame // next frame in the same bucket of the engine's window cache
}

var framePool = sync.Pool{New: func() any { return &Frame{pooled: true} }}

// newFrame returns a pooled frame of kind holding one reference, the caller's.
func newFrame(kind frameKind) *Frame {
	f := framePool.Get().(*Frame)
	f.kind = kind
	f.refs.Store(1)
	return f
}

// retain adds a reference.
func (f *Frame) retain() {
	if f.pooled {
		f.refs.Add(1)
	}
}

// release drops a reference; the last one returns f to the pool, so f must
// not be used by the caller afterwards.
func (f *Frame) release() {
	if !f.pooled {
		return
	}
	switch n := f.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("fanout: frame released more often than retained")
	}
	f.plain, f.deflated, f.hdrLen = nil, nil, 0
	clear(f.syms)
	f.syms, f.src, f.timeMicros, f.next = f.syms[:0], nil, 0, nil
	if cap(f.pbuf) > maxPooledBytes || cap(f.dbuf) > maxPooledBytes {
		f.pbuf, f.dbuf = nil, nil // a rare big snapshot: let it go
	}
	framePool.Put(f)
}

// maxPooledBytes bounds the buffers a pooled frame keeps.
const maxPooledBytes = 64 << 10

// startPlain returns f's plain buffer, reset, with room for the largest
// header in front: append the payload to it and pass it to finishPlain.
func (f *Frame) startPlain() []byte {
	if cap(f.pbuf) < maxHeaderLen+256 {
		f.pbuf = make([]byte, maxHeaderLen, 4096)
	}
	return f.pbuf[:maxHeaderLen]
}

// finishPlain frames the payload appended after startPlain as a text message.
func (f *Frame) finishPlain(buf []byte) {
	f.pbuf = buf
	at := ws.PutHeader(buf, maxHeaderLen, ws.BitFin|ws.OpText, len(buf)-maxHeaderLen)
	f.plain, f.hdrLen = buf[at:], maxHeaderLen-at
}

// Payload returns the JSON text of the message.
func (f *Frame) Payload() []byte { return f.plain[f.hdrLen:] }

// Wire returns the bytes to write for a connection with or without
// permessage-deflate.
func (f *Frame) Wire(deflate bool) []byte {
	if deflate && f.deflated != nil {
		return f.deflated
	}
	return f.plain
}

// size is what the frame counts against a queue's byte limit.
func (f *Frame) size(deflate bool) int { return len(f.Wire(deflate)) }

// textFrame frames an already encoded payload in one exact-size allocation.
func textFrame(payload []byte, kind frameKind) *Frame {
	hdr := 2
	switch {
	case len(payload) > 0xFFFF:
		hdr = 10
	case len(payload) >= 126:
		hdr = 4
	}
	out := make([]byte, hdr+len(payload))
	copy(out[hdr:], payload)
	ws.PutHeader(out, hdr, ws.BitFin|ws.OpText, len(payload))
	return &Frame{kind: kind, plain: out, hdrLen: hdr}
}
