package fanout

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
)

// WebSocket opcodes and flags (RFC 6455 section 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
	bitFin  = 0x80
	bitRsv1 = 0x40 // "compressed" under permessage-deflate (RFC 7692)

	maxHeaderLen = 10 // server frames are never masked
)

// minCompressBytes: smaller payloads go out uncompressed, as RFC 7692 allows
// per message; deflate's framing would eat most of the gain.
const minCompressBytes = 128

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
	timeMicros int64

	pooled bool
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
	f.syms, f.timeMicros, f.next = f.syms[:0], 0, nil
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
	at := putHeader(buf, maxHeaderLen, bitFin|opText, len(buf)-maxHeaderLen)
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

// appendHeader writes a server frame header for n payload bytes ending at
// buf[end], returning where it starts.
func putHeader(buf []byte, end int, b0 byte, n int) int {
	switch {
	case n < 126:
		buf[end-2] = b0
		buf[end-1] = byte(n)
		return end - 2
	case n <= 0xFFFF:
		buf[end-4] = b0
		buf[end-3] = 126
		binary.BigEndian.PutUint16(buf[end-2:end], uint16(n))
		return end - 4
	default:
		buf[end-10] = b0
		buf[end-9] = 127
		binary.BigEndian.PutUint64(buf[end-8:end], uint64(n))
		return end - 10
	}
}

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
	putHeader(out, hdr, bitFin|opText, len(payload))
	return &Frame{kind: kind, plain: out, hdrLen: hdr}
}

// compressor deflates payloads for permessage-deflate with no context
// takeover: each message is a fresh deflate stream, flushed, without the
// final 00 00 ff ff (RFC 7692 section 7.2.1). It is owned by one goroutine.
type compressor struct {
	w   *flate.Writer
	out bytes.Buffer
}

func newCompressor(level int) *compressor {
	c := &compressor{}
	w, err := flate.NewWriter(&c.out, level)
	if err != nil {
		panic(err) // level is validated by Config
	}
	c.w = w
	return c
}

// piece appends data compressed as a self-contained run of deflate blocks
// ending in a sync flush (00 00 ff ff kept). Pieces compressed this way can be
// concatenated into one message under no context takeover: each starts on a
// byte boundary with no reference to what precedes it; only the message's
// final 4 bytes are stripped.
func (c *compressor) piece(dst, data []byte) []byte {
	c.out.Reset()
	c.w.Reset(&c.out)
	c.w.Write(data)
	c.w.Flush()
	return append(dst, c.out.Bytes()...)
}

// deflate fills f.deflated. Payloads too small to gain, or that do not
// shrink, keep the plain frame.
func (c *compressor) deflate(f *Frame) {
	if f.deflated != nil {
		return
	}
	p := f.Payload()
	if len(p) < minCompressBytes {
		f.deflated = f.plain
		return
	}
	c.out.Reset()
	c.out.Write(zeroHeader[:]) // room for the header, filled in below
	c.w.Reset(&c.out)
	c.w.Write(p)
	c.w.Flush()
	buf := c.out.Bytes()
	buf = buf[:len(buf)-4] // strip 00 00 ff ff
	n := len(buf) - maxHeaderLen
	if n+maxHeaderLen >= len(f.plain) {
		f.deflated = f.plain
		return
	}
	at := putHeader(buf, maxHeaderLen, bitFin|bitRsv1|opText, n)
	f.dbuf = append(f.dbuf[:0], buf[at:]...)
	f.deflated = f.dbuf
}

var zeroHeader [maxHeaderLen]byte

// controlFrame returns a control frame (payload at most 125 bytes).
func controlFrame(op byte, payload []byte) []byte {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	out := make([]byte, 2+len(payload))
	out[0] = bitFin | op
	out[1] = byte(len(payload))
	copy(out[2:], payload)
	return out
}

// CloseFrame returns a close frame with code and reason (cut to fit 125
// bytes without splitting a UTF-8 sequence).
func CloseFrame(code int, reason string) []byte {
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	p := make([]byte, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	copy(p[2:], reason)
	return controlFrame(opClose, p)
}

// PingFrame is an empty ping control frame.
func PingFrame() []byte { return controlFrame(opPing, nil) }

// PongFrame answers a ping with its application data.
func PongFrame(appData []byte) []byte { return controlFrame(opPong, appData) }
