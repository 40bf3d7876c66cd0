package api

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/ticker-io/ticker/ws"
)

// TestSplitFrame: every payload length across the header's boundaries
// comes back whole, and a frame that is not a complete server frame gives
// opcode 0.
func TestSplitFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		op, got := splitFrame(ws.AppendFrame(nil, ws.BitFin|ws.OpText, p))
		if op != ws.OpText || !bytes.Equal(got, p) {
			t.Errorf("length %d: op %d, %d bytes", n, op, len(got))
		}
	}
	whole := ws.AppendFrame(nil, ws.BitFin|ws.OpText, make([]byte, 300))
	for _, tc := range []struct {
		name string
		f    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0x81}},
		{"cut payload", whole[:len(whole)-1]},
		{"cut 16-bit length", whole[:3]},
		{"cut 64-bit length", []byte{0x81, 127, 0, 0}},
		{"64-bit length past the bytes", []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"trailing bytes", append(ws.AppendFrame(nil, ws.BitFin|ws.OpText, []byte("{}")), 'x')},
		{"masked", []byte{0x81, 0x80, 1, 2, 3, 4}},
	} {
		if op, _ := splitFrame(tc.f); op != 0 {
			t.Errorf("%s: op %d, want 0", tc.name, op)
		}
	}
}

// FuzzSplitFrame: any bytes are refused or split, never a panic, and a
// payload split out is the frame's tail.
func FuzzSplitFrame(f *testing.F) {
	f.Add(ws.AppendFrame(nil, ws.BitFin|ws.OpText, []byte(`{"type":"update"}`)))
	f.Add([]byte{0x81, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if op, p := splitFrame(b); op != 0 && !bytes.HasSuffix(b, p) {
			t.Fatalf("payload %q is not the tail of %q", p, b)
		}
	})
}

func text(s string) []byte { return ws.AppendFrame(nil, ws.BitFin|ws.OpText, []byte(s)) }

// TestEventsEncode: what each batch of frames becomes on the stream.
func TestEventsEncode(t *testing.T) {
	const head = "HEAD\r\n\r\n"
	ack := `{"type":"subscribed","symbols":["*"],"epoch":7}`
	snap := `{"type":"snapshot","reason":"subscribe","epoch":7,"time":100,"quotes":[{"s":"A","seq":1,"ts":5}]}`
	upd := `{"type":"update","time":150,"quotes":[{"s":"A","seq":2,"ts":6}]}`
	errMsg := `{"type":"error","code":"unknown_symbol","message":"no","symbols":["B"]}`
	chunk := func(body string) string { return strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n" }
	for _, tc := range []struct {
		name    string
		chunked bool
		resume  bool
		batches [][][]byte
		want    []string // per batch
	}{
		{"messages, chunked", true, false,
			[][][]byte{{text(ack), text(snap)}, {text(upd)}},
			[]string{
				head + chunk("retry: 1000\n\nevent: subscribed\ndata: "+ack+"\n\nid: 7:100\nevent: snapshot\ndata: "+snap+"\n\n"),
				chunk("id: 7:150\nevent: update\ndata: " + upd + "\n\n"),
			}},
		{"the ack's epoch names the updates' ids", true, false,
			[][][]byte{{text(`{"type":"subscribed","symbols":["A","B"],"epoch":9}`)}, {text(upd)}},
			[]string{
				head + chunk("retry: 1000\n\nevent: subscribed\ndata: "+`{"type":"subscribed","symbols":["A","B"],"epoch":9}`+"\n\n"),
				chunk("id: 9:150\nevent: update\ndata: " + upd + "\n\n"),
			}},
		{"the head waits for something to send", true, false,
			[][][]byte{{}, {text(errMsg)}},
			[]string{"", head + chunk("retry: 1000\n\nevent: error\ndata: "+errMsg+"\n\n")}},
		{"ping and close", true, false,
			[][][]byte{{text(upd)}, {ws.PingFrame()}, {ws.CloseFrame(ws.CloseGoingAway, "server shutting down")}},
			[]string{
				head + chunk("retry: 1000\n\nid: 0:150\nevent: update\ndata: "+upd+"\n\n"),
				chunk(": ping\n\n"),
				chunk(": closed 1001 server shutting down\n\n") + "0\r\n\r\n",
			}},
		{"HTTP/1.0: no chunks", false, false,
			[][][]byte{{text(ack)}, {ws.PingFrame(), ws.CloseFrame(ws.ClosePolicy, "slow\nconsumer")}},
			[]string{head + "retry: 1000\n\nevent: subscribed\ndata: " + ack + "\n\n", ": ping\n\n: closed 1008 slow consumer\n\n"}},
		{"resumed: the subscribe snapshot is a resync", true, true,
			[][][]byte{{text(snap)}},
			[]string{head + chunk("retry: 1000\n\nid: 7:100\nevent: snapshot\ndata: "+strings.Replace(snap, "subscribe", "resync", 1)+"\n\n")}},
		{"aborted before anything: nothing", true, false,
			[][][]byte{{}},
			[]string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &events{head: []byte(head), preamble: "retry: 1000\n\n", chunked: tc.chunked, resume: tc.resume}
			for i, frames := range tc.batches {
				got := string(bytes.Join(e.encode(frames), nil))
				if got != tc.want[i] {
					t.Errorf("batch %d:\n got %q\nwant %q", i, got, tc.want[i])
				}
			}
		})
	}
}

// BenchmarkEventsEncode: one update to one stream; the payload is the
// engine's, referenced, not copied.
func BenchmarkEventsEncode(b *testing.B) {
	upd := text(`{"type":"update","time":1764000000123456,"quotes":[{"s":"BTC-USD","seq":8813,"ts":1764000000123000,"bid":"64000.2"}]}`)
	e := &events{chunked: true}
	frames := make([][]byte, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		frames = append(frames[:0], upd)
		frames = e.encode(frames)
	}
}
