package api

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
)

// rawConn is a WebSocket client that writes frames byte by byte, to send
// what well-behaved libraries refuse to.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return &rawConn{t: t, nc: nc, br: br}
}

// closeCode reads frames until a close frame and returns its code.
func (r *rawConn) closeCode() int {
	r.t.Helper()
	for {
		var h [2]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			r.t.Fatalf("no close frame: %v", err)
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(r.br, b[:])
			n = int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(r.br, b[:])
			n = int(binary.BigEndian.Uint64(b[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r.br, p); err != nil {
			r.t.Fatal(err)
		}
		if h[0]&0x0f == 0x8 {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

// frame builds a client frame; mask=false sends it unmasked.
func frame(b0 byte, payload []byte, mask bool) []byte {
	out := []byte{b0, byte(len(payload))}
	if len(payload) > 125 {
		out = []byte{b0, 126, byte(len(payload) >> 8), byte(len(payload))}
	}
	if !mask {
		return append(out, payload...)
	}
	out[1] |= 0x80
	key := []byte{1, 2, 3, 4}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// TestRawFrames: frames that break RFC 6455 get the RFC's answer, close
// 1002, on that connection only.
func TestRawFrames(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=3&rate=300&seed=1")
	bystander := dial(t, ts.wsURL("?symbols=AAPL"), true, nil)
	tests := []struct {
		name  string
		bytes []byte
		want  int
	}{
		{"unmasked frame", frame(0x81, []byte(`{"op":"ping"}`), false), 1002},
		{"reserved bit RSV2", frame(0x81|0x20, []byte(`{"op":"ping"}`), true), 1002},
		{"fragmented control frame", frame(0x09, []byte("x"), true), 1002}, // ping without FIN
		{"oversized control frame", frame(0x89, make([]byte, 126), true), 1002},
		{"unknown opcode", frame(0x83, []byte("x"), true), 1002},
		{"close with an invalid code", frame(0x88, []byte{0x03, 0xe7}, true), 1002}, // 999
		{"continuation without a start", frame(0x80, []byte("x"), true), 1002},
	}
	for _, tt := range tests {
		r := rawDial(t, ts.addr)
		if _, err := r.nc.Write(tt.bytes); err != nil {
			t.Fatal(err)
		}
		if got := r.closeCode(); got != tt.want {
			t.Errorf("%s: close %d, want %d", tt.name, got, tt.want)
		}
		// exactly one close frame, then the server closes the socket
		if n, err := r.br.Read(make([]byte, 16)); err != io.EOF {
			t.Errorf("%s: after the close frame: %d bytes, %v", tt.name, n, err)
		}
	}
	// a valid ping from a raw client gets its pong, and the bystander is untouched
	r := rawDial(t, ts.addr)
	r.nc.Write(frame(0x89, []byte("hi"), true))
	var h [4]byte
	for {
		if _, err := io.ReadFull(r.br, h[:2]); err != nil {
			t.Fatal(err)
		}
		if h[0] == 0x8a {
			io.ReadFull(r.br, h[2:4])
			if string(h[2:4]) != "hi" {
				t.Fatalf("pong payload %q", h[2:4])
			}
			break
		}
		io.CopyN(io.Discard, r.br, int64(h[1]&0x7f))
	}
	before := bystander.updates
	for bystander.updates < before+3 {
		if _, err := bystander.read(5 * time.Second); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	}
}
