package ws

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ticker-io/ticker/internal/rawws"
)

var key = &[4]byte{0x37, 0xfa, 0x21, 0x3d}

// cf builds a masked client frame.
func cf(fin bool, rsv, op byte, payload string) []byte {
	return rawws.EncodeFrame(fin, rsv, op, []byte(payload), key)
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// TestReaderRules runs the reader over client byte streams, one rule of
// RFC 6455 / RFC 7692 each, and checks the messages it returns and the
// close code it ends with (0: the stream just ended).
func TestReaderRules(t *testing.T) {
	long := strings.Repeat("a", 4096)
	deflated := string(rawws.Compress([]byte(`{"op":"ping"}`)))
	for _, tt := range []struct {
		name    string
		deflate bool
		in      []byte
		msgs    []string // text messages returned, in order
		pings   int
		close   int // the CloseError's code, or for a PeerClose its code; 0: io.EOF
		peer    bool
	}{
		{name: "text", in: cf(true, 0, OpText, "hello"), msgs: []string{"hello"}},
		{name: "empty text", in: cf(true, 0, OpText, ""), msgs: []string{""}},
		{name: "binary is returned as binary", in: cf(true, 0, OpBinary, "\x00\x01"), msgs: []string{"bin:\x00\x01"}},
		{name: "fragmented text", in: cat(cf(false, 0, OpText, "hel"), cf(false, 0, OpContinuation, ""), cf(true, 0, OpContinuation, "lo")), msgs: []string{"hello"}},
		{name: "ping inside a fragmented message", in: cat(cf(false, 0, OpText, "a"), cf(true, 0, OpPing, "p"), cf(true, 0, OpContinuation, "b")), msgs: []string{"ab"}, pings: 1},
		{name: "limit exactly", in: cf(true, 0, OpText, long), msgs: []string{long}},
		{name: "unmasked", in: rawws.EncodeFrame(true, 0, OpText, []byte("x"), nil), close: CloseProtocolError},
		{name: "RSV1 without deflate", in: cf(true, 4, OpText, "x"), close: CloseProtocolError},
		{name: "RSV2", in: cf(true, 2, OpText, "x"), close: CloseProtocolError},
		{name: "RSV3", in: cf(true, 1, OpText, "x"), close: CloseProtocolError},
		{name: "RSV2 with deflate", deflate: true, in: cf(true, 2, OpText, "x"), close: CloseProtocolError},
		{name: "RSV1 on a ping with deflate", deflate: true, in: cf(true, 4, OpPing, ""), close: CloseProtocolError},
		{name: "RSV1 on a continuation with deflate", deflate: true, in: cat(cf(false, 4, OpText, deflated[:3]), cf(true, 4, OpContinuation, deflated[3:])), close: CloseProtocolError},
		{name: "reserved opcode 3", in: cf(true, 0, 3, ""), close: CloseProtocolError},
		{name: "reserved opcode 7", in: cf(true, 0, 7, ""), close: CloseProtocolError},
		{name: "reserved opcode 0xB", in: cf(true, 0, 0xB, ""), close: CloseProtocolError},
		{name: "reserved opcode 0xF", in: cf(true, 0, 0xF, ""), close: CloseProtocolError},
		{name: "fragmented ping", in: cf(false, 0, OpPing, ""), close: CloseProtocolError},
		{name: "ping of 126 bytes", in: cf(true, 0, OpPing, strings.Repeat("p", 126)), close: CloseProtocolError},
		{name: "ping of 125 bytes", in: cf(true, 0, OpPing, strings.Repeat("p", 125)), pings: 1},
		{name: "continuation first", in: cf(true, 0, OpContinuation, "x"), close: CloseProtocolError},
		{name: "text inside a fragmented text", in: cat(cf(false, 0, OpText, "a"), cf(true, 0, OpText, "b")), close: CloseProtocolError},
		{name: "close with a 1-byte body", in: cf(true, 0, OpClose, "\x03"), close: CloseProtocolError},
		{name: "close with code 1005", in: cf(true, 0, OpClose, "\x03\xed"), close: CloseProtocolError},
		{name: "close with a reason not UTF-8", in: cf(true, 0, OpClose, "\x03\xe8\xff\xfe"), close: CloseInvalidData},
		{name: "close 1000", in: cf(true, 0, OpClose, "\x03\xe8bye"), close: 1000, peer: true},
		{name: "close without a body", in: cf(true, 0, OpClose, ""), close: CloseNoStatus, peer: true},
		{name: "close 4000", in: cf(true, 0, OpClose, "\x0f\xa0"), close: 4000, peer: true},
		{name: "invalid UTF-8", in: cf(true, 0, OpText, "\xce\xba\xe1\xbd"), close: CloseInvalidData},
		{name: "invalid UTF-8 across fragments", in: cat(cf(false, 0, OpText, "\xce"), cf(true, 0, OpContinuation, "\xff")), close: CloseInvalidData},
		{name: "valid UTF-8 split across fragments", in: cat(cf(false, 0, OpText, "\xce"), cf(true, 0, OpContinuation, "\xba")), msgs: []string{"κ"}},
		{name: "over the limit, from the header", in: cf(true, 0, OpText, long+"a")[:8], close: CloseTooBig},
		{name: "over the limit across fragments", in: cat(cf(false, 0, OpText, long), cf(true, 0, OpContinuation, "a")), close: CloseTooBig},
		{name: "2^62 bytes, from the header", in: []byte{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, close: CloseTooBig},
		{name: "2^63 bytes", in: []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, close: CloseProtocolError},
		{name: "compressed", deflate: true, in: cf(true, 4, OpText, deflated), msgs: []string{`{"op":"ping"}`}},
		{name: "compressed, fragmented", deflate: true, in: cat(cf(false, 4, OpText, deflated[:2]), cf(true, 0, OpContinuation, deflated[2:])), msgs: []string{`{"op":"ping"}`}},
		{name: "uncompressed with deflate on", deflate: true, in: cf(true, 0, OpText, "plain"), msgs: []string{"plain"}},
		{name: "compressed data that does not inflate", deflate: true, in: cf(true, 4, OpText, "\xff\xff\xff\xff"), close: CloseInvalidData},
		{name: "compressed, over the limit once inflated", deflate: true, in: cf(true, 4, OpText, string(rawws.Compress([]byte(long+"a")))), close: CloseTooBig},
		{name: "compressed invalid UTF-8", deflate: true, in: cf(true, 4, OpText, string(rawws.Compress([]byte("\xff")))), close: CloseInvalidData},
		{name: "stream cut inside a frame", in: cf(true, 0, OpText, "hello")[:7], close: -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bufReader(tt.in), tt.deflate, 4096)
			pings := 0
			r.OnPing = func([]byte) { pings++ }
			var msgs []string
			var err error
			for {
				var op byte
				var p []byte
				op, p, err = r.Next()
				if err != nil {
					break
				}
				if op == OpBinary {
					msgs = append(msgs, "bin:"+string(p))
				} else {
					msgs = append(msgs, string(p))
				}
			}
			if strings.Join(msgs, "|") != strings.Join(tt.msgs, "|") || len(msgs) != len(tt.msgs) {
				t.Errorf("messages %q, want %q", msgs, tt.msgs)
			}
			if pings != tt.pings {
				t.Errorf("%d pings, want %d", pings, tt.pings)
			}
			var ce *CloseError
			var pc *PeerClose
			switch {
			case tt.close == 0:
				if err != io.EOF {
					t.Errorf("ended with %v, want EOF", err)
				}
			case tt.close == -1:
				if err != io.ErrUnexpectedEOF {
					t.Errorf("ended with %v, want unexpected EOF", err)
				}
			case tt.peer:
				if !errors.As(err, &pc) || pc.Code != tt.close {
					t.Errorf("ended with %v, want the peer's close %d", err, tt.close)
				}
			default:
				if !errors.As(err, &ce) || ce.Code != tt.close {
					t.Errorf("ended with %v, want close %d", err, tt.close)
				}
			}
		})
	}
}

// FuzzReader: any byte stream ends in messages and then an error, never
// a panic; every message returned is within the limit and, as text, UTF-8.
func FuzzReader(f *testing.F) {
	f.Add(cf(true, 0, OpText, "hello"), false)
	f.Add(cat(cf(false, 0, OpText, "a"), cf(true, 0, OpPing, "p"), cf(true, 0, OpContinuation, "b")), false)
	f.Add(cf(true, 4, OpText, string(rawws.Compress([]byte(`{"op":"ping","id":1}`)))), true)
	f.Add(cf(true, 0, OpClose, "\x03\xe8"), false)
	f.Add([]byte{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, in []byte, deflate bool) {
		r := NewReader(bufReader(in), deflate, 256)
		for range 1000 {
			op, p, err := r.Next()
			if err != nil {
				return
			}
			if len(p) > 256 {
				t.Fatalf("message of %d bytes over the limit", len(p))
			}
			if op == OpText && !bytes.Equal(p, bytes.ToValidUTF8(p, nil)) {
				t.Fatalf("invalid UTF-8 returned: %q", p)
			}
		}
	})
}
