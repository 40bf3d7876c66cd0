package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ticker-io/ticker/internal/rawws"
)

// TestHeaderRoundTrip writes headers with an encoder written apart from
// this package (internal/rawws) and reads them back: every length
// boundary, every opcode, every RSV combination, masked and not.
func TestHeaderRoundTrip(t *testing.T) {
	lengths := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	for _, n := range lengths {
		for op := byte(0); op < 16; op++ {
			for rsv := byte(0); rsv < 8; rsv++ {
				for _, masked := range []bool{false, true} {
					for _, fin := range []bool{false, true} {
						payload := bytes.Repeat([]byte{'x'}, n)
						var key *[4]byte
						if masked {
							key = &[4]byte{1, 2, 3, byte(n)}
						}
						raw := rawws.EncodeFrame(fin, rsv, op, payload, key)
						h, err := ReadHeader(bytes.NewReader(raw))
						if err != nil {
							t.Fatalf("n=%d op=%d rsv=%d masked=%v: %v", n, op, rsv, masked, err)
						}
						want := Header{Fin: fin, RSV: rsv << 4, Op: op, Masked: masked, Length: uint64(n)}
						if key != nil {
							want.Mask = *key
						}
						if h != want {
							t.Fatalf("n=%d op=%d rsv=%d masked=%v: read %+v, want %+v", n, op, rsv, masked, h, want)
						}
						if hl := len(raw) - n; masked && hl != HeaderLen(n)+4 || !masked && hl != HeaderLen(n) {
							t.Fatalf("n=%d: header of %d bytes, HeaderLen says %d", n, hl, HeaderLen(n))
						}
					}
				}
			}
		}
	}
}

// TestPutHeader: the server's headers read back as written, for every
// length boundary.
func TestPutHeader(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		f := AppendFrame(nil, BitFin|BitRSV1|OpText, make([]byte, n))
		h, err := ReadHeader(bytes.NewReader(f))
		if err != nil || h.Length != uint64(n) || !h.Fin || h.RSV != BitRSV1 || h.Op != OpText || h.Masked {
			t.Fatalf("n=%d: %+v %v", n, h, err)
		}
		if len(f) != HeaderLen(n)+n {
			t.Fatalf("n=%d: frame of %d bytes", n, len(f))
		}
	}
}

// TestRandomHeaders: 10,000 random headers read back exactly.
func TestRandomHeaders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 10000 {
		n := int(r.Uint32N(1 << uint(r.IntN(18))))
		fin, rsv, op := r.IntN(2) == 0, byte(r.IntN(8)), byte(r.IntN(16))
		key := &[4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		raw := rawws.EncodeFrame(fin, rsv, op, make([]byte, n), key)
		h, err := ReadHeader(bytes.NewReader(raw))
		if err != nil || h.Fin != fin || h.RSV != rsv<<4 || h.Op != op || h.Length != uint64(n) || h.Mask != *key {
			t.Fatalf("header %d: %+v %v", i, h, err)
		}
	}
}

func TestHeaderTopBitOfLength(t *testing.T) {
	raw := []byte{0x81, 0xff}
	raw = binary.BigEndian.AppendUint64(raw, 1<<63)
	_, err := ReadHeader(bytes.NewReader(raw))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseProtocolError {
		t.Fatalf("got %v, want 1002", err)
	}
	if _, err := ReadHeader(bytes.NewReader([]byte{0x81, 0xfe, 0x00})); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut header: %v", err)
	}
}

func TestCloseFrameReasonFits(t *testing.T) {
	f := CloseFrame(1008, strings.Repeat("é", 100))
	if len(f) > 127 || f[1] > 125 {
		t.Fatalf("close frame too long: %d", len(f))
	}
	if !utf8.Valid(f[4:]) {
		t.Fatal("reason cut inside a UTF-8 sequence")
	}
	code, reason, err := ParseClose(f[2:])
	if err != nil || code != 1008 || !strings.HasPrefix(strings.Repeat("é", 100), reason) {
		t.Fatalf("%d %q %v", code, reason, err)
	}
}

func TestParseClose(t *testing.T) {
	for _, tt := range []struct {
		payload []byte
		code    int // wanted code, or the close code of the error
		err     bool
	}{
		{nil, CloseNoStatus, false},
		{[]byte{0x03}, CloseProtocolError, true},
		{rawws.ClosePayload(1000, ""), 1000, false},
		{rawws.ClosePayload(1000, "bye"), 1000, false},
		{rawws.ClosePayload(1001, ""), 1001, false},
		{rawws.ClosePayload(1002, ""), 1002, false},
		{rawws.ClosePayload(1003, ""), 1003, false},
		{rawws.ClosePayload(1004, ""), CloseProtocolError, true},
		{rawws.ClosePayload(1005, ""), CloseProtocolError, true},
		{rawws.ClosePayload(1006, ""), CloseProtocolError, true},
		{rawws.ClosePayload(1007, ""), 1007, false},
		{rawws.ClosePayload(1011, ""), 1011, false},
		{rawws.ClosePayload(1014, ""), 1014, false},
		{rawws.ClosePayload(1015, ""), CloseProtocolError, true},
		{rawws.ClosePayload(1016, ""), CloseProtocolError, true},
		{rawws.ClosePayload(2999, ""), CloseProtocolError, true},
		{rawws.ClosePayload(3000, ""), 3000, false},
		{rawws.ClosePayload(4999, ""), 4999, false},
		{rawws.ClosePayload(5000, ""), CloseProtocolError, true},
		{rawws.ClosePayload(0, ""), CloseProtocolError, true},
		{rawws.ClosePayload(999, ""), CloseProtocolError, true},
		{rawws.ClosePayload(65535, ""), CloseProtocolError, true},
		{rawws.ClosePayload(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), CloseInvalidData, true},
		{rawws.ClosePayload(1000, "\xff"), CloseInvalidData, true},
	} {
		code, _, err := ParseClose(tt.payload)
		var ce *CloseError
		switch {
		case tt.err && (!errors.As(err, &ce) || ce.Code != tt.code):
			t.Errorf("ParseClose(%x) = %d, %v; want close %d", tt.payload, code, err, tt.code)
		case !tt.err && (err != nil || code != tt.code):
			t.Errorf("ParseClose(%x) = %d, %v; want %d", tt.payload, code, err, tt.code)
		}
	}
}

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" { // RFC 6455 §1.3
		t.Fatal(got)
	}
	if !ValidKey("dGhlIHNhbXBsZSBub25jZQ==") || ValidKey("dGhlIHNhbXBsZQ==") || ValidKey("not base64!") {
		t.Fatal("ValidKey")
	}
}

// bufReader wraps a byte stream as a server connection reads it.
func bufReader(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 16) }
