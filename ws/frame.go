package ws

import (
	"encoding/binary"
	"io"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Bits of a frame's first byte.
const (
	BitFin  = 0x80
	BitRSV1 = 0x40 // permessage-deflate: the message is compressed (RFC 7692 §6)
	BitRSV2 = 0x20
	BitRSV3 = 0x10
)

// MaxControlPayload is the largest payload of a control frame (§5.5).
const MaxControlPayload = 125

// Header is a frame header as it was read.
type Header struct {
	Fin    bool
	RSV    byte // the RSV1..RSV3 bits, in place (BitRSV1|BitRSV2|BitRSV3)
	Op     byte
	Masked bool
	Mask   [4]byte
	Length uint64
}

// IsControl reports whether the opcode is a control frame's (§5.5).
func IsControl(op byte) bool { return op&0x8 != 0 }

// knownOp reports whether op is defined by RFC 6455; the others are reserved.
func knownOp(op byte) bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// ReadHeader reads one frame header. It checks only what the header's own
// encoding requires (a 64-bit length must have its top bit clear, §5.2);
// what a server accepts is the Reader's to decide.
func ReadHeader(r io.Reader) (Header, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return Header{}, err
	}
	h := Header{
		Fin:    b[0]&BitFin != 0,
		RSV:    b[0] & (BitRSV1 | BitRSV2 | BitRSV3),
		Op:     b[0] & 0x0f,
		Masked: b[1]&0x80 != 0,
		Length: uint64(b[1] & 0x7f),
	}
	switch h.Length {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, unexpected(err)
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return h, unexpected(err)
		}
		h.Length = binary.BigEndian.Uint64(b[:8])
		if h.Length>>63 != 0 {
			return h, protocolError("frame length has its most significant bit set")
		}
	}
	if h.Masked {
		if _, err := io.ReadFull(r, h.Mask[:]); err != nil {
			return h, unexpected(err)
		}
	}
	return h, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// HeaderLen is the length of an unmasked (server) header for n payload bytes.
func HeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// PutHeader writes an unmasked header with first byte b0 for n payload
// bytes so that it ends at buf[end], and returns where it starts; buf must
// have HeaderLen(n) bytes before end.
func PutHeader(buf []byte, end int, b0 byte, n int) int {
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

// AppendFrame appends a whole unmasked frame.
func AppendFrame(dst []byte, b0 byte, payload []byte) []byte {
	n := HeaderLen(len(payload))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	PutHeader(dst, start+n, b0, len(payload))
	return append(dst, payload...)
}

// mask XORs p with the key, starting at key position pos, and returns the
// position after p.
func mask(key [4]byte, pos int, p []byte) int {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
	return (pos + len(p)) & 3
}

// ControlFrame builds a server control frame; payload must fit (≤ 125).
func ControlFrame(op byte, payload []byte) []byte {
	return AppendFrame(make([]byte, 0, 2+len(payload)), BitFin|op, payload)
}

// PingFrame is a server ping with no payload.
func PingFrame() []byte { return ControlFrame(OpPing, nil) }

// PongFrame answers a ping with its application data (§5.5.3).
func PongFrame(appData []byte) []byte { return ControlFrame(OpPong, appData) }
