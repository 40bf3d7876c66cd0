package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/rawws"
)

// A conformance step: something the client sends, or what it must get.
type step struct {
	send    []byte        // written at once
	chopped []byte        // written a byte at a time
	sleep   time.Duration // pause before the next step
	reply   string        // a text message containing this must come next (pings answered, none skipped)
	pong    *string       // a pong with exactly this payload must come next
	close   int           // a close frame with this code must come next, then the end of the connection
	quiet   time.Duration // nothing but server pings may arrive for this long
}

func send(fs ...[]byte) step     { return step{send: bytes.Join(fs, nil)} }
func reply(s string) step        { return step{reply: s} }
func pong(p string) step         { return step{pong: &p} }
func closeWith(code int) step    { return step{close: code} }
func quiet(d time.Duration) step { return step{quiet: d} }

var testMask = &[4]byte{0xa1, 0x02, 0x7f, 0x33}

// fr is a masked client frame: op with the RSV bits rsv (RSV1 = 4).
func fr(fin bool, rsv, op byte, p string) []byte {
	return rawws.EncodeFrame(fin, rsv, op, []byte(p), testMask)
}
func text(p string) []byte { return fr(true, 0, rawws.OpText, p) }

// pingMsg is a ticker.v1 ping of exactly n bytes (n ≥ 29 for a one-digit id), padded in an
// ignored field.
func pingMsg(id, n int) string {
	head := fmt.Sprintf(`{"op":"ping","id":%d,"pad":"`, id)
	return head + strings.Repeat("x", n-len(head)-2) + `"}`
}

func closeFrame(code int, reason string) []byte {
	return fr(true, 0, rawws.OpClose, string(rawws.ClosePayload(code, reason)))
}

// runSteps plays one case on a fresh connection.
func runSteps(t *testing.T, addr, ext string, steps []step) {
	t.Helper()
	c, err := rawws.Dial(addr, rawws.Options{Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func(d time.Duration) rawws.Message {
		t.Helper()
		for {
			m, err := c.ReadMessage(d)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.Op == rawws.OpPing { // the server's own heartbeat
				continue
			}
			return m
		}
	}
	for i, s := range steps {
		switch {
		case s.send != nil:
			if err := c.Write(s.send); err != nil {
				t.Fatalf("step %d: write: %v", i, err)
			}
		case s.chopped != nil:
			for _, b := range s.chopped {
				if err := c.Write([]byte{b}); err != nil {
					t.Fatalf("step %d: write: %v", i, err)
				}
				time.Sleep(time.Millisecond)
			}
		case s.sleep > 0:
			time.Sleep(s.sleep)
		case s.reply != "":
			m := next(5 * time.Second)
			if m.Op != rawws.OpText || !strings.Contains(string(m.Payload), s.reply) {
				t.Fatalf("step %d: got op %d %q, want a text message with %q", i, m.Op, m.Payload, s.reply)
			}
		case s.pong != nil:
			m := next(5 * time.Second)
			if m.Op != rawws.OpPong || string(m.Payload) != *s.pong {
				t.Fatalf("step %d: got op %d %q, want a pong %q", i, m.Op, m.Payload, *s.pong)
			}
		case s.close != 0:
			m := next(5 * time.Second)
			code, reason := rawws.CloseCode(m.Payload)
			if m.Op != rawws.OpClose || code != s.close {
				t.Fatalf("step %d: got op %d %q (code %d), want close %d", i, m.Op, m.Payload, code, s.close)
			}
			if m.Compressed {
				t.Fatalf("step %d: close frame with RSV1", i)
			}
			// the server then closes the TCP connection (RFC 6455 §7.1.1)
			start := time.Now()
			for {
				_, err := c.ReadFrame(5 * time.Second)
				if err == nil {
					continue
				}
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("step %d: close %d %q, then the TCP connection stayed open", i, code, reason)
				}
				if !errors.Is(err, io.EOF) {
					t.Logf("step %d: after close %d the connection ended with %v", i, code, err)
				}
				break
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("step %d: TCP closed %v after the close frame", i, d)
			}
		case s.quiet > 0:
			for end := time.Now().Add(s.quiet); ; {
				m, err := c.ReadMessage(time.Until(end))
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if m.Op != rawws.OpPing {
					t.Fatalf("step %d: got op %d %q, want nothing", i, m.Op, m.Payload)
				}
			}
		}
	}
}

// TestConformance runs the built binary against raw frames built byte by
// byte, one case for each rule of the Autobahn|Testsuite categories that
// apply to a server speaking ticker.v1 (1 framing, 2 pings, 3 reserved
// bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 closing, 9 limits, 12–13
// compression), and the RFC 7692 negotiation. ticker.v1 is not an echo
// service: where Autobahn expects an echo, the case sends a ping request
// and expects its pong, and binary messages are refused 1003 by contract.
func TestConformance(t *testing.T) {
	_, addr := startBinary(t, "--feed", "synthetic:?symbols=5&rate=100&seed=1", "--max-message-bytes", "70000",
		"--rate-limit", "1000", "--rate-burst", "1000", "--ping-interval", "30s", "--idle-timeout", "60s")
	const deflate = "permessage-deflate"
	z := func(p string) string { return string(rawws.Compress([]byte(p))) }
	long := func(n int) string { return strings.Repeat("p", n) }
	cases := []struct {
		name  string
		ext   string
		steps []step
	}{
		// 1: framing, every length boundary; binary is refused by contract
		{"1.1 text of 29 bytes", "", []step{send(text(pingMsg(1, 29))), reply(`"id":1`)}},
		{"1.1 text of 125 bytes", "", []step{send(text(pingMsg(1, 125))), reply(`"id":1`)}},
		{"1.1 text of 126 bytes", "", []step{send(text(pingMsg(1, 126))), reply(`"id":1`)}},
		{"1.1 text of 127 bytes", "", []step{send(text(pingMsg(1, 127))), reply(`"id":1`)}},
		{"1.1 text of 65535 bytes", "", []step{send(text(pingMsg(1, 65535))), reply(`"id":1`)}},
		{"1.1 text of 65536 bytes", "", []step{send(text(pingMsg(1, 65536))), reply(`"id":1`)}},
		{"1.1 text of 300 bytes, a byte at a time", "", []step{{chopped: text(pingMsg(1, 300))}, reply(`"id":1`)}},
		{"1.1 empty text", "", []step{send(text("")), reply(`"code":"bad_request"`)}},
		{"1.2 binary", "", []step{send(fr(true, 0, rawws.OpBinary, "\x00\xff")), closeWith(1003)}},
		{"1.2 empty binary", "", []step{send(fr(true, 0, rawws.OpBinary, "")), closeWith(1003)}},
		// 2: pings and pongs
		{"2.1 ping without payload", "", []step{send(fr(true, 0, rawws.OpPing, "")), pong("")}},
		{"2.2 ping with payload", "", []step{send(fr(true, 0, rawws.OpPing, "Hello, world!")), pong("Hello, world!")}},
		{"2.3 ping with binary payload", "", []step{send(fr(true, 0, rawws.OpPing, "\x00\xff\xfe\xfd")), pong("\x00\xff\xfe\xfd")}},
		{"2.4 ping of 125 bytes", "", []step{send(fr(true, 0, rawws.OpPing, long(125))), pong(long(125))}},
		{"2.5 ping of 126 bytes", "", []step{send(fr(true, 0, rawws.OpPing, long(126))), closeWith(1002)}},
		{"2.6 ping of 125 bytes a byte at a time", "", []step{{chopped: fr(true, 0, rawws.OpPing, long(125))}, pong(long(125))}},
		{"2.7 unsolicited pong", "", []step{send(fr(true, 0, rawws.OpPong, "")), quiet(300 * time.Millisecond), send(text(`{"op":"ping","id":2}`)), reply(`"id":2`)}},
		{"2.8 unsolicited pong with payload", "", []step{send(fr(true, 0, rawws.OpPong, "unsolicited")), quiet(300 * time.Millisecond)}},
		{"2.9 pong then ping", "", []step{send(fr(true, 0, rawws.OpPong, "x"), fr(true, 0, rawws.OpPing, "y")), pong("y")}},
		{"2.10 ten pings", "", []step{send(bytes.Repeat(fr(true, 0, rawws.OpPing, "z"), 10)), pong("z"), pong("z"), pong("z"), pong("z"), pong("z"), pong("z"), pong("z"), pong("z"), pong("z"), pong("z")}},
		// 3: reserved bits
		{"3.1 RSV2 on text", "", []step{send(fr(true, 2, rawws.OpText, `{"op":"ping"}`)), closeWith(1002)}},
		{"3.2 RSV2 after a valid text", "", []step{send(text(`{"op":"ping","id":3}`), fr(true, 2, rawws.OpText, `{"op":"ping"}`)), reply(`"id":3`), closeWith(1002)}},
		{"3.3 RSV3 after a valid text", "", []step{send(text(`{"op":"ping","id":3}`)), reply(`"id":3`), send(fr(true, 1, rawws.OpText, `{"op":"ping"}`)), closeWith(1002)}},
		{"3.4 RSV1|RSV3 on text", "", []step{send(fr(true, 5, rawws.OpText, `{"op":"ping"}`)), closeWith(1002)}},
		{"3.5 RSV1|RSV2 on binary", "", []step{send(fr(true, 6, rawws.OpBinary, "\x00")), closeWith(1002)}},
		{"3.6 RSV2|RSV3 on ping", "", []step{send(fr(true, 3, rawws.OpPing, "")), closeWith(1002)}},
		{"3.7 all RSV bits on close", "", []step{send(fr(true, 7, rawws.OpClose, "")), closeWith(1002)}},
		{"3.x RSV1 on text without deflate", "", []step{send(fr(true, 4, rawws.OpText, z(`{"op":"ping"}`))), closeWith(1002)}},
		// 4: opcodes
		{"4.1.1 opcode 3", "", []step{send(fr(true, 0, 3, "")), closeWith(1002)}},
		{"4.1.2 opcode 4 with payload", "", []step{send(fr(true, 0, 4, "reserved")), closeWith(1002)}},
		{"4.1.3 opcode 5 after a valid text", "", []step{send(text(`{"op":"ping","id":4}`), fr(true, 0, 5, "")), reply(`"id":4`), closeWith(1002)}},
		{"4.1.4 opcode 6", "", []step{send(fr(true, 0, 6, "x")), closeWith(1002)}},
		{"4.1.5 opcode 7", "", []step{send(fr(true, 0, 7, "")), closeWith(1002)}},
		{"4.2.1 opcode 11", "", []step{send(fr(true, 0, 11, "")), closeWith(1002)}},
		{"4.2.2 opcode 12", "", []step{send(fr(true, 0, 12, "x")), closeWith(1002)}},
		{"4.2.3 opcode 13 after a valid text", "", []step{send(text(`{"op":"ping","id":4}`), fr(true, 0, 13, "")), reply(`"id":4`), closeWith(1002)}},
		{"4.2.4 opcode 14", "", []step{send(fr(true, 0, 14, "")), closeWith(1002)}},
		{"4.2.5 opcode 15", "", []step{send(fr(true, 0, 15, "x")), closeWith(1002)}},
		// 5: fragmentation
		{"5.1 fragmented ping", "", []step{send(fr(false, 0, rawws.OpPing, "a"), fr(true, 0, rawws.OpContinuation, "b")), closeWith(1002)}},
		{"5.2 fragmented pong", "", []step{send(fr(false, 0, rawws.OpPong, "a"), fr(true, 0, rawws.OpContinuation, "b")), closeWith(1002)}},
		{"5.3 text in two fragments", "", []step{send(fr(false, 0, rawws.OpText, `{"op":"pi`), fr(true, 0, rawws.OpContinuation, `ng","id":5}`)), reply(`"id":5`)}},
		{"5.5 text in many fragments, with pauses", "", []step{send(fr(false, 0, rawws.OpText, `{"op"`)), {sleep: 50 * time.Millisecond}, send(fr(false, 0, rawws.OpContinuation, `:"ping"`)), {sleep: 50 * time.Millisecond}, send(fr(true, 0, rawws.OpContinuation, `,"id":5}`)), reply(`"id":5`)}},
		{"5.6 ping between two fragments", "", []step{send(fr(false, 0, rawws.OpText, `{"op":"pi`), fr(true, 0, rawws.OpPing, "mid"), fr(true, 0, rawws.OpContinuation, `ng","id":5}`)), pong("mid"), reply(`"id":5`)}},
		{"5.8 ping between fragments, a byte at a time", "", []step{{chopped: bytes.Join([][]byte{fr(false, 0, rawws.OpText, `{"op":"pi`), fr(true, 0, rawws.OpPing, "mid"), fr(true, 0, rawws.OpContinuation, `ng","id":5}`)}, nil)}, pong("mid"), reply(`"id":5`)}},
		{"5.9 continuation with FIN first", "", []step{send(fr(true, 0, rawws.OpContinuation, "x"), text(`{"op":"ping"}`)), closeWith(1002)}},
		{"5.10 continuation without FIN first", "", []step{send(fr(false, 0, rawws.OpContinuation, "x"), text(`{"op":"ping"}`)), closeWith(1002)}},
		{"5.15 new text before the last one ended", "", []step{send(fr(false, 0, rawws.OpText, `{"op":`), fr(true, 0, rawws.OpText, `{"op":"ping"}`)), closeWith(1002)}},
		{"5.18 text fragments, both first", "", []step{send(fr(false, 0, rawws.OpText, "a"), fr(false, 0, rawws.OpText, "b")), closeWith(1002)}},
		{"5.19 fragments with pings and pauses", "", []step{send(fr(false, 0, rawws.OpText, `{"op"`), fr(true, 0, rawws.OpPing, "1")), pong("1"), {sleep: 100 * time.Millisecond}, send(fr(false, 0, rawws.OpContinuation, `:"ping",`), fr(true, 0, rawws.OpPing, "2")), pong("2"), send(fr(true, 0, rawws.OpContinuation, `"id":19}`)), reply(`"id":19`)}},
		// 6: UTF-8
		{"6.2 valid UTF-8", "", []step{send(text(`{"op":"ping","id":"κόσμε"}`)), reply(`"id":"κόσμε"`)}},
		{"6.2 valid UTF-8 split inside a code point", "", []step{send(fr(false, 0, rawws.OpText, "{\"op\":\"ping\",\"id\":\"\xce"), fr(true, 0, rawws.OpContinuation, "\xba\"}")), reply(`"id":"κ"`)}},
		{"6.3 invalid UTF-8", "", []step{send(text("{\"op\":\"ping\",\"id\":\"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited\"}")), closeWith(1007)}},
		{"6.4 invalid UTF-8 in a later fragment", "", []step{send(fr(false, 0, rawws.OpText, `{"op":"ping","id":"`), fr(true, 0, rawws.OpContinuation, "\xf4\x90\x80\x80\"}")), closeWith(1007)}},
		{"6.x overlong encoding", "", []step{send(text("{\"op\":\"ping\",\"id\":\"\xc0\xaf\"}")), closeWith(1007)}},
		{"6.x surrogate", "", []step{send(text("{\"op\":\"ping\",\"id\":\"\xed\xbf\xbf\"}")), closeWith(1007)}},
		{"6.x truncated sequence at the end", "", []step{send(text("{\"op\":\"ping\"}\xe2\x82")), closeWith(1007)}},
		// 7: closing
		{"7.1.1 close after a text", "", []step{send(text(`{"op":"ping","id":7}`), closeFrame(1000, "")), reply(`"id":7`), closeWith(1000)}},
		{"7.1.3 ping after close is not answered", "", []step{send(closeFrame(1000, ""), fr(true, 0, rawws.OpPing, "late")), closeWith(1000)}},
		{"7.1.5 close inside a fragmented message", "", []step{send(fr(false, 0, rawws.OpText, `{"op":`), closeFrame(1000, "")), closeWith(1000)}},
		{"7.3.1 close without a body", "", []step{send(fr(true, 0, rawws.OpClose, "")), closeWith(1000)}},
		{"7.3.2 close with a 1-byte body", "", []step{send(fr(true, 0, rawws.OpClose, "\x03")), closeWith(1002)}},
		{"7.3.4 close with a reason", "", []step{send(closeFrame(1000, "bye")), closeWith(1000)}},
		{"7.3.5 close with a 123-byte reason", "", []step{send(closeFrame(1000, long(123))), closeWith(1000)}},
		{"7.3.6 close with a 124-byte reason", "", []step{send(closeFrame(1000, long(124))), closeWith(1002)}},
		{"7.5.1 close reason not UTF-8", "", []step{send(closeFrame(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")), closeWith(1007)}},
		// 9: limits (--max-message-bytes 70000 here)
		{"9.x text over the limit", "", []step{send(text(pingMsg(1, 70001))), closeWith(1009)}},
		{"9.x 2^62-byte header, refused from the header", "", []step{send([]byte{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), closeWith(1009)}},
		{"9.x fragments adding up over the limit", "", []step{send(fr(false, 0, rawws.OpText, long(40000)), fr(true, 0, rawws.OpContinuation, long(40000))), closeWith(1009)}},
		{"9.x 64-bit length with its top bit set", "", []step{send([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), closeWith(1002)}},
		{"9.x unmasked frame", "", []step{send(rawws.EncodeFrame(true, 0, rawws.OpText, []byte(`{"op":"ping"}`), nil)), closeWith(1002)}},
		// 12–13: compression
		{"12.x compressed text", deflate, []step{send(fr(true, 4, rawws.OpText, z(`{"op":"ping","id":12}`))), reply(`"id":12`)}},
		{"12.x compressed text of 65536 bytes", deflate, []step{send(fr(true, 4, rawws.OpText, z(pingMsg(12, 65536)))), reply(`"id":12`)}},
		{"12.x compressed, fragmented", deflate, []step{send(fr(false, 4, rawws.OpText, z(`{"op":"ping","id":12}`)[:3]), fr(true, 0, rawws.OpContinuation, z(`{"op":"ping","id":12}`)[3:])), reply(`"id":12`)}},
		{"12.x uncompressed text on a deflate connection", deflate, []step{send(text(`{"op":"ping","id":12}`)), reply(`"id":12`)}},
		{"12.x RSV1 on a ping", deflate, []step{send(fr(true, 4, rawws.OpPing, "")), closeWith(1002)}},
		{"12.x RSV1 on a continuation", deflate, []step{send(fr(false, 4, rawws.OpText, z(`{"op":"ping"}`)[:3]), fr(true, 4, rawws.OpContinuation, z(`{"op":"ping"}`)[3:])), closeWith(1002)}},
		{"12.x compressed data that does not inflate", deflate, []step{send(fr(true, 4, rawws.OpText, "\xff\xff\xff\xff\xff")), closeWith(1007)}},
		{"12.x compressed, over the limit once inflated", deflate, []step{send(fr(true, 4, rawws.OpText, z(pingMsg(1, 70001)))), closeWith(1009)}},
		{"12.x compressed invalid UTF-8", deflate, []step{send(fr(true, 4, rawws.OpText, z("{\"op\":\"ping\",\"id\":\"\xff\"}"))), closeWith(1007)}},
	}
	for _, v := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, struct {
			name  string
			ext   string
			steps []step
		}{fmt.Sprintf("7.7 close code %d is echoed", v), "", []step{send(closeFrame(v, "")), closeWith(v)}})
	}
	for _, v := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, struct {
			name  string
			ext   string
			steps []step
		}{fmt.Sprintf("7.9 close code %d is refused", v), "", []step{send(closeFrame(v, "")), closeWith(1002)}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, addr, tc.ext, tc.steps) })
	}
}

// TestDeflateNegotiation offers permessage-deflate to the built binary as
// RFC 7692 §5–7 allow and forbid, and checks the answer: an offer with an
// unknown parameter or a bad value is declined (the next one is tried),
// only what was offered is accepted, server_max_window_bits is answered
// when offered (15) or the offer declined, and what the server then sends
// inflates with the window agreed.
func TestDeflateNegotiation(t *testing.T) {
	_, addr := startBinary(t, "--feed", "synthetic:?symbols=50&rate=2000&seed=1")
	const base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tt := range []struct{ offer, want string }{
		{"permessage-deflate", base},
		{"permessage-deflate; client_max_window_bits", base},
		{"permessage-deflate; client_max_window_bits=10", base},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", base},
		{"permessage-deflate; server_max_window_bits=15", base + "; server_max_window_bits=15"},
		{"permessage-deflate; server_max_window_bits=10", ""},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", base},
		{"permessage-deflate; foo=bar", ""},
		{"permessage-deflate; foo=bar, permessage-deflate; client_max_window_bits", base},
		{"permessage-deflate; client_max_window_bits=99", ""},
		{"permessage-deflate; server_no_context_takeover=yes", ""},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
		{"permessage-deflatex", ""},
		{"x-webkit-deflate-frame", ""},
	} {
		c, err := rawws.Dial(addr, rawws.Options{Path: "/ws?symbols=*", Extensions: tt.offer})
		if err != nil {
			t.Fatalf("%q: %v", tt.offer, err)
		}
		got := c.Resp.Header.Get("Sec-WebSocket-Extensions")
		if got != tt.want {
			t.Errorf("offer %q: answered %q, want %q", tt.offer, got, tt.want)
		}
		// frames carry RSV1 only if deflate was accepted, and inflate then
		compressed := 0
		for range 20 {
			m, err := c.ReadMessage(5 * time.Second)
			if err != nil {
				t.Fatalf("offer %q: %v", tt.offer, err)
			}
			if m.Compressed {
				compressed++
				if got == "" {
					t.Fatalf("offer %q declined, yet a compressed frame came", tt.offer)
				}
			}
			if m.Op == rawws.OpText && !json.Valid(m.Payload) {
				t.Fatalf("offer %q: message is not JSON: %q", tt.offer, m.Payload)
			}
		}
		if got != "" && compressed == 0 {
			t.Errorf("offer %q accepted, but no message of 20 was compressed", tt.offer)
		}
		c.Close()
	}
}

// TestPingCadence: with --ping-interval 500ms the server pings every
// 500 ms, not a sweep later (the bug: 16 s apart for 15 s, 625 ms for 500).
func TestPingCadence(t *testing.T) {
	_, addr := startBinary(t, "--ping-interval", "500ms", "--idle-timeout", "5s")
	c, err := rawws.Dial(addr, rawws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var at []time.Time
	for len(at) < 12 {
		m, err := c.ReadMessage(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Op == rawws.OpPing {
			at = append(at, time.Now())
			c.WriteFrame(true, 0, rawws.OpPong, m.Payload)
		}
	}
	var gaps []time.Duration
	late := 0
	for i := 1; i < len(at); i++ {
		gap := at[i].Sub(at[i-1])
		gaps = append(gaps, gap.Round(time.Millisecond))
		if gap > 560*time.Millisecond || gap < 440*time.Millisecond {
			late++
		}
	}
	// one or two late ticks are a shared machine's noise; more is the period
	if late > 2 {
		t.Errorf("pings %v apart: %d of %d off the 500ms period by more than 60ms", gaps, late, len(gaps))
	}
	t.Logf("pings %v apart (interval 500ms)", gaps)
}
