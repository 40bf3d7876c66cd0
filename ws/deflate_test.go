package ws

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ticker-io/ticker/internal/rawws"
)

// TestNegotiateDeflate: RFC 7692 §5 and §7.1, offer by offer.
func TestNegotiateDeflate(t *testing.T) {
	const base = DeflateResponse
	for _, tt := range []struct {
		offer []string
		want  string // "" = declined
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"permessage-deflate"}, base},
		{[]string{"Permessage-Deflate"}, base},
		{[]string{"permessage-deflatex"}, ""},
		{[]string{"x-webkit-deflate-frame"}, ""},
		{[]string{"foo, permessage-deflate"}, base},
		{[]string{"foo", "permessage-deflate"}, base},
		{[]string{"permessage-deflate; client_max_window_bits"}, base}, // what browsers send
		{[]string{"permessage-deflate; client_max_window_bits=15"}, base},
		{[]string{"permessage-deflate; client_max_window_bits=8"}, base},
		{[]string{`permessage-deflate; client_max_window_bits="10"`}, base},
		{[]string{"permessage-deflate; client_max_window_bits=99"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=7"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=08"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=16"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=99, permessage-deflate"}, base},
		{[]string{"permessage-deflate; foo=bar"}, ""},
		{[]string{"permessage-deflate; foo"}, ""},
		{[]string{"permessage-deflate; foo=bar, permessage-deflate; client_no_context_takeover"}, base},
		{[]string{"permessage-deflate; server_no_context_takeover"}, base},
		{[]string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, base},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, ""},
		{[]string{"permessage-deflate; client_no_context_takeover=x"}, ""},
		{[]string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=15"}, base + "; server_max_window_bits=15"},
		{[]string{"permessage-deflate; server_max_window_bits=10"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, base},
		{[]string{"permessage-deflate; server_max_window_bits"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=15; client_max_window_bits=9; server_no_context_takeover"}, base + "; server_max_window_bits=15"},
	} {
		got, ok := NegotiateDeflate(tt.offer)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("offer %q: got %q (%v), want %q", tt.offer, got, ok, tt.want)
		}
		// what is accepted names only parameters the offer allows (§7.1)
		if ok && strings.Contains(got, "server_max_window_bits") && !strings.Contains(strings.Join(tt.offer, ","), "server_max_window_bits") {
			t.Errorf("offer %q: answered server_max_window_bits it did not offer", tt.offer)
		}
	}
}

func TestInflate(t *testing.T) {
	for _, msg := range []string{"", "x", `{"op":"ping"}`, strings.Repeat("abc", 1000)} {
		got, err := Inflate(nil, rawws.Compress([]byte(msg)), 4096)
		if err != nil || string(got) != msg {
			t.Errorf("%d bytes: got %d, %v", len(msg), len(got), err)
		}
	}
	if _, err := Inflate(nil, rawws.Compress(bytes.Repeat([]byte("a"), 5000)), 4096); err != errTooBig {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := Inflate(nil, []byte{0xff, 0xff, 0xff}, 4096); err == nil {
		t.Error("garbage inflated")
	}
}

func BenchmarkReaderText(b *testing.B) {
	msg := cf(true, 0, OpText, `{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD"]}`)
	stream := bytes.Repeat(msg, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i += 1000 {
		r := NewReader(bytes.NewReader(stream), false, 4096)
		for range 1000 {
			if _, _, err := r.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
