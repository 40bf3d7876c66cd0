package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
)

// TestFirstMessageWithHandshake: a client may send its first messages in
// the same write as its handshake, so that fasthttp reads them with the
// request, into a buffer it takes back once the connection is handed off;
// they are answered all the same, in order.
func TestFirstMessageWithHandshake(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=3&rate=300&seed=1")
	waitQuote(t, ts, "AAPL")
	waitQuote(t, ts, "BTC-USD")
	tests := []struct {
		name     string
		path     string
		messages []string
		want     []string // the types of the first text messages, in order
	}{
		{"subscribe", "/ws", []string{`{"op":"subscribe","id":"a","symbols":["AAPL"]}`}, []string{"subscribed", "snapshot"}},
		{"ping then subscribe", "/ws", []string{`{"op":"ping","id":"p"}`, `{"op":"subscribe","id":"a","symbols":["BTC-USD"]}`}, []string{"pong", "subscribed", "snapshot"}},
		{"subscribe on the URL too", "/ws?symbols=BTC-USD", []string{`{"op":"subscribe","id":"b","symbols":["AAPL"]}`}, []string{"subscribed", "snapshot", "subscribed", "snapshot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			out := []byte("GET " + tt.path + " HTTP/1.1\r\nHost: " + ts.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
			for _, m := range tt.messages {
				out = append(out, frame(0x81, []byte(m), true)...)
			}
			if _, err := nc.Write(out); err != nil { // one write: handshake and messages together
				t.Fatal(err)
			}
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			var got []string
			for len(got) < len(tt.want) {
				op, payload := readServerFrame(t, br)
				if op != 0x1 {
					continue
				}
				var m struct{ Type string }
				if err := json.Unmarshal(payload, &m); err != nil {
					t.Fatalf("%q: %v", payload, err)
				}
				if m.Type == "update" {
					continue // the URL's subscription may get one before the replies
				}
				got = append(got, m.Type)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// readServerFrame reads one unmasked, uncompressed server frame.
func readServerFrame(t *testing.T, br *bufio.Reader) (op byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = int(b[0])<<8 | int(b[1])
	case 127:
		t.Fatal("unexpected 64-bit length")
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, payload
}

// TestConnectionsHoldNoRequest: an open WebSocket does not keep the HTTP
// request it was upgraded from (fasthttp's RequestCtx, with its headers and
// arguments), which fasthttp would hold until the hijack handler returned.
// The heap profile, sampling every allocation, counts what is still in use
// from the request's allocations with the connections open.
func TestConnectionsHoldNoRequest(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	t.Cleanup(func() { runtime.MemProfileRate = old })

	ts := startServer(t, Config{}, fanout.Config{Window: 5 * time.Millisecond}, "synthetic:?symbols=3&rate=300&seed=1")
	waitQuote(t, ts, "AAPL")
	waitQuote(t, ts, "BTC-USD")
	const conns = 100
	var cs []*client
	for range conns {
		c := dial(t, ts.wsURL("?symbols=AAPL,BTC-USD&token=none&padding="+strings.Repeat("x", 512)), false, http.Header{"X-Padding": {strings.Repeat("y", 512)}})
		c.expect("snapshot", 5*time.Second)
		cs = append(cs, c)
	}
	if n := ts.srv.Connections(); n != conns {
		t.Fatalf("%d connections, want %d", n, conns)
	}
	for range 3 { // the profile is of the last completed cycle; fasthttp's pools empty over two
		runtime.GC()
	}
	held := requestBytesInUse()
	t.Logf("%d connections: %d bytes of requests in use, %.0f per connection", conns, held, float64(held)/conns)
	// a request takes more than 1.5 KiB here (its padding alone); allow
	// the few a server may hold for requests in progress
	if held > 4*4096 {
		t.Errorf("%d bytes of HTTP requests still in use with %d WebSockets open: the connections keep their requests", held, conns)
	}
	for _, c := range cs {
		c.ws.Close()
	}
}

// requestBytesInUse sums the heap profile's bytes in use that fasthttp
// allocated for requests: the RequestCtx, its headers, URI and arguments.
func requestBytesInUse() int64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	var total int64
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if isRequestAlloc(f.Function) {
				total += r.InUseBytes()
				break
			}
			if !more {
				break
			}
		}
	}
	return total
}

func isRequestAlloc(fn string) bool {
	for _, p := range []string{
		"fasthttp.(*Server).acquireCtx", "fasthttp.(*RequestHeader).", "fasthttp.(*URI).", "fasthttp.(*Args).",
		"fasthttp.allocArg", "fasthttp.appendArg", "fasthttp.(*Request).", "fasthttp.(*userData).",
	} {
		if strings.Contains(fn, p) {
			return true
		}
	}
	return false
}
