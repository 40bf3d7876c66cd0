package api

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/ticker-io/ticker/ws"
)

// The engine queues WebSocket frames, built and compressed once per distinct
// message and shared by every connection that sends it. An event stream
// (GET /stream) takes the same frames, in their uncompressed form, and
// events writes each one as a Server-Sent Event around the frame's own
// JSON payload: the payload bytes are the engine's, never copied or
// re-encoded.
//
//	id: 1764000000000:1764000000123456   (snapshot and update only: epoch:time)
//	event: update                         (the message's "type")
//	data: {"type":"update",…}             (the ticker.v1 message, one line)
//
// A ping control frame becomes the comment ": ping", the close frame a
// comment naming its code and reason followed by the end of the response.
// The response itself (head, retry hint) goes out with the first batch.

// events turns the frames one Take returned into the bytes of an event
// stream. Only the connection's running flusher uses it.
type events struct {
	head     []byte // the HTTP response head, until written
	preamble string // the body's first lines (the retry hint), written with the head
	chunked  bool   // HTTP/1.1: the body is chunked, and ends with a last chunk
	resume   bool   // the request carried a Last-Event-ID: its snapshots are resyncs
	epoch    uint64 // the stream's epoch, from its last snapshot or subscribed ack

	in      [][]byte // the frames being encoded (the caller's slice is the output)
	scratch []byte   // field lines, comments and chunk framing of one batch
	spans   []span   // what the output holds, in order: a piece of scratch or a payload
}

// span is one piece of an encoded batch: scratch[from:to], or a payload
// (with payload set, from skips its first bytes: a rewritten reason).
type span struct {
	from, to int
	payload  []byte
}

// heartbeat is the comment sent at the ping cadence.
const heartbeat = ": ping\n\n"

var (
	subscribeSnapshot = []byte(`{"type":"snapshot","reason":"subscribe"`)
	resyncSnapshot    = `{"type":"snapshot","reason":"resync"`
)

// encode replaces frames (what Take returned) with the stream bytes that
// carry them and returns them; the payloads stay the frames' own bytes, so
// the result is valid as long as Take's was. After the close frame the
// response ends; an aborted connection (closing without one) gets nothing.
func (e *events) encode(frames [][]byte) [][]byte {
	e.in = append(e.in[:0], frames...)
	e.scratch, e.spans = e.scratch[:0], e.spans[:0]
	if e.head != nil {
		e.text(e.preamble)
	}
	preamble := len(e.spans)
	ended := false
	for _, f := range e.in {
		op, p := splitFrame(f)
		switch op {
		case ws.OpPing:
			e.text(heartbeat)
		case ws.OpText:
			e.message(p)
		case ws.OpClose:
			code, reason := 0, ""
			if len(p) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
			}
			e.text(": closed " + strconv.Itoa(code) + " " + oneLine(reason) + "\n\n")
			ended = true
		}
	}
	clear(e.in)
	out := frames[:0]
	if len(e.spans) == preamble {
		return out // nothing to send yet (the head waits for the first event), or aborted
	}
	body := 0
	for _, s := range e.spans {
		body += s.len()
	}
	if e.head != nil {
		out = append(out, e.head)
		e.head = nil
	}
	var chunkEnd []byte
	if e.chunked {
		at := len(e.scratch)
		e.scratch = strconv.AppendInt(e.scratch, int64(body), 16)
		e.scratch = append(e.scratch, "\r\n\r\n"...)
		out = append(out, e.scratch[at:len(e.scratch)-2])
		chunkEnd = e.scratch[len(e.scratch)-2:]
	}
	for _, s := range e.spans {
		if s.payload != nil {
			out = append(out, s.payload[s.from:])
		} else {
			out = append(out, e.scratch[s.from:s.to])
		}
	}
	if e.chunked {
		out = append(out, chunkEnd)
		if ended {
			out = append(out, lastChunk)
		}
	}
	return out
}

func (s span) len() int {
	if s.payload != nil {
		return len(s.payload) - s.from
	}
	return s.to - s.from
}

// lastChunk ends a chunked response.
var lastChunk = []byte("0\r\n\r\n")

// text adds bytes of the stream's own (a comment).
func (e *events) text(s string) {
	from := len(e.scratch)
	e.scratch = append(e.scratch, s...)
	e.spans = append(e.spans, span{from: from, to: len(e.scratch)})
}

// message adds one ticker.v1 message as an event: snapshots and updates
// with an id, every message with its type as the event's name.
func (e *events) message(p []byte) {
	typ := messageType(p)
	switch typ {
	case "snapshot":
		if ep, ok := headNumber(p, `"epoch":`); ok {
			e.epoch = ep
		}
	case "subscribed": // its epoch follows its symbols (which hold no quote)
		if ep, ok := headNumber(p[bytes.LastIndexByte(p, ']')+1:], `"epoch":`); ok {
			e.epoch = ep
		}
	}
	from := len(e.scratch)
	if typ == "snapshot" || typ == "update" {
		tm, _ := headNumber(p, `"time":`)
		e.scratch = append(e.scratch, "id: "...)
		e.scratch = strconv.AppendUint(e.scratch, e.epoch, 10)
		e.scratch = append(e.scratch, ':')
		e.scratch = strconv.AppendUint(e.scratch, tm, 10)
		e.scratch = append(e.scratch, '\n')
	}
	if typ != "" {
		e.scratch = append(e.scratch, "event: "...)
		e.scratch = append(e.scratch, typ...)
		e.scratch = append(e.scratch, '\n')
	}
	e.scratch = append(e.scratch, "data: "...)
	skip := 0
	if e.resume && bytes.HasPrefix(p, subscribeSnapshot) {
		// the snapshot the server sends to repair a stream, with the same quotes
		e.scratch = append(e.scratch, resyncSnapshot...)
		skip = len(subscribeSnapshot)
	}
	e.spans = append(e.spans, span{from: from, to: len(e.scratch)}, span{from: skip, payload: p})
	e.text("\n\n")
}

// messageType returns the "type" of a message the server encoded (its
// first key, always), or "" for anything else.
func messageType(p []byte) string {
	const key = `{"type":"`
	if !bytes.HasPrefix(p, []byte(key)) {
		return ""
	}
	end := bytes.IndexByte(p[len(key):], '"')
	if end < 0 {
		return ""
	}
	switch t := p[len(key) : len(key)+end]; string(t) { // no allocation: the names are constants
	case "snapshot":
		return "snapshot"
	case "update":
		return "update"
	case "subscribed":
		return "subscribed"
	case "unsubscribed":
		return "unsubscribed"
	case "error":
		return "error"
	case "pong":
		return "pong"
	}
	return ""
}

// headNumber reads the unsigned integer after key in the head of a message
// (before its quotes or symbols).
func headNumber(p []byte, key string) (uint64, bool) {
	head := p[:min(len(p), 160)]
	if end := bytes.IndexByte(head, '['); end >= 0 {
		head = head[:end]
	}
	at := bytes.Index(head, []byte(key))
	if at < 0 {
		return 0, false
	}
	var n uint64
	digits := 0
	for _, c := range head[at+len(key):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
		digits++
	}
	return n, digits > 0 && digits <= 19
}

// splitFrame returns the opcode and payload of one complete, unmasked frame
// the server built; anything shorter than its header says is opcode 0.
func splitFrame(f []byte) (op byte, payload []byte) {
	if len(f) < 2 {
		return 0, nil
	}
	n, hdr := int(f[1]&0x7f), 2
	switch n {
	case 126:
		if len(f) < 4 {
			return 0, nil
		}
		n, hdr = int(binary.BigEndian.Uint16(f[2:4])), 4
	case 127:
		if len(f) < 10 {
			return 0, nil
		}
		n64 := binary.BigEndian.Uint64(f[2:10])
		if n64 > uint64(len(f)) {
			return 0, nil
		}
		n, hdr = int(n64), 10
	}
	if f[1]&0x80 != 0 || hdr+n != len(f) {
		return 0, nil
	}
	return f[0] & 0x0f, f[hdr:]
}

// oneLine keeps a comment on one line.
func oneLine(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, []byte(s)))
}
