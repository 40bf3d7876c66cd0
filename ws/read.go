package ws

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Reader reads a client's frames, enforcing RFC 6455 and RFC 7692 as a
// server must, and returns whole messages. Every violation is returned as
// a *CloseError carrying the code to close with:
//
//   - 1002: an unmasked frame; RSV2 or RSV3 set; RSV1 without
//     permessage-deflate, or on a control or continuation frame; a reserved
//     opcode; a control frame fragmented or over 125 bytes; a continuation
//     with no message to continue, or a new message inside a fragmented
//     one; a close frame with a 1-byte body or a code no peer may send; a
//     64-bit length with its top bit set.
//   - 1007: a text message, or a close reason, that is not UTF-8;
//     compressed data that does not inflate.
//   - 1009: a message over the limit, refused from the frame header when
//     the header already says so, counted after decompression otherwise.
//
// A ping or pong is handed to OnPing or OnPong and reading goes on; a valid
// close frame ends Next with a *PeerClose. Any other error is the
// connection's own (io.EOF, a timeout, a reset).
type Reader struct {
	r        io.Reader
	deflate  bool
	limit    int
	buf      []byte // the message being read; kept while small
	inflated []byte // its inflated form; kept while small
	ctl      [MaxControlPayload]byte

	// OnPing and OnPong see each ping's and pong's payload, valid only
	// during the call.
	OnPing func(payload []byte)
	OnPong func(payload []byte)
}

// NewReader reads frames from r (buffered by the caller). deflate says
// whether permessage-deflate was negotiated; limit is the largest message
// accepted, in bytes after decompression.
func NewReader(r io.Reader, deflate bool, limit int) *Reader {
	return &Reader{r: r, deflate: deflate, limit: limit}
}

// keptBytes is the largest buffer a Reader keeps between messages.
const keptBytes = 4 << 10

// wireLimit is how many bytes a message may take on the wire: the limit,
// or for a compressed one the limit and what DEFLATE can add to data that
// does not compress (stored blocks, 5 bytes per 64 KiB, and a margin).
func (r *Reader) wireLimit(compressed bool) uint64 {
	if compressed {
		return uint64(r.limit + r.limit/16 + 64)
	}
	return uint64(r.limit)
}

// Next reads frames until a whole data message and returns its opcode
// (OpText or OpBinary) and payload, decompressed; the payload is valid
// until the next call.
func (r *Reader) Next() (op byte, payload []byte, err error) {
	var inMsg, compressed bool
	buf := r.buf[:0]
	for {
		h, err := ReadHeader(r.r)
		if err != nil {
			return 0, nil, err
		}
		if err := r.check(h, inMsg); err != nil {
			return 0, nil, err
		}
		if IsControl(h.Op) {
			if err := r.control(h); err != nil {
				return 0, nil, err
			}
			continue
		}
		if h.Op != OpContinuation {
			inMsg, op, compressed = true, h.Op, h.RSV&BitRSV1 != 0
		}
		if uint64(len(buf))+h.Length > r.wireLimit(compressed) {
			return 0, nil, &CloseError{Code: CloseTooBig, Reason: "message too big"}
		}
		n := len(buf)
		buf = grow(buf, int(h.Length))
		if _, err := io.ReadFull(r.r, buf[n:]); err != nil {
			return 0, nil, unexpected(err)
		}
		mask(h.Mask, 0, buf[n:])
		if !h.Fin {
			continue
		}
		if cap(buf) <= keptBytes {
			r.buf = buf
		}
		payload = buf
		if compressed {
			out, err := Inflate(r.inflated[:0], buf, r.limit)
			if cap(out) <= keptBytes {
				r.inflated = out
			}
			if errors.Is(err, errTooBig) {
				return 0, nil, &CloseError{Code: CloseTooBig, Reason: "message too big"}
			}
			if err != nil {
				return 0, nil, &CloseError{Code: CloseInvalidData, Reason: "compressed data does not inflate"}
			}
			payload = out
		}
		if op == OpText && !utf8.Valid(payload) {
			return 0, nil, &CloseError{Code: CloseInvalidData, Reason: "invalid UTF-8"}
		}
		return op, payload, nil
	}
}

// check applies the rules a frame's header alone decides.
func (r *Reader) check(h Header, inMsg bool) error {
	switch {
	case !h.Masked:
		return protocolError("client frames must be masked")
	case h.RSV&(BitRSV2|BitRSV3) != 0:
		return protocolError("reserved bits RSV2 or RSV3 set")
	case !knownOp(h.Op):
		return protocolError(fmt.Sprintf("reserved opcode %#x", h.Op))
	case IsControl(h.Op) && !h.Fin:
		return protocolError("fragmented control frame")
	case IsControl(h.Op) && h.Length > MaxControlPayload:
		return protocolError("control frame over 125 bytes")
	case IsControl(h.Op) && h.RSV != 0:
		return protocolError("RSV1 on a control frame")
	case IsControl(h.Op):
		return nil
	case h.Op == OpContinuation && !inMsg:
		return protocolError("continuation frame with no message to continue")
	case h.Op != OpContinuation && inMsg:
		return protocolError("new message inside a fragmented message")
	case h.Op == OpContinuation && h.RSV != 0:
		return protocolError("RSV1 on a continuation frame")
	case h.RSV&BitRSV1 != 0 && !r.deflate:
		return protocolError("RSV1 set without permessage-deflate")
	}
	return nil
}

// control reads and handles one control frame.
func (r *Reader) control(h Header) error {
	p := r.ctl[:h.Length]
	if _, err := io.ReadFull(r.r, p); err != nil {
		return unexpected(err)
	}
	mask(h.Mask, 0, p)
	switch h.Op {
	case OpPing:
		if r.OnPing != nil {
			r.OnPing(p)
		}
	case OpPong:
		if r.OnPong != nil {
			r.OnPong(p)
		}
	case OpClose:
		code, reason, err := ParseClose(p)
		if err != nil {
			return err
		}
		return &PeerClose{Code: code, Reason: reason}
	}
	return nil
}

// grow extends b by n bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
