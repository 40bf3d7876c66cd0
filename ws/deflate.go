package ws

import (
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// DeflateResponse is the answer to an accepted permessage-deflate offer:
// the server compresses each message on its own, so that one compressed
// frame can go to many connections, and asks the client to do the same, so
// that a connection keeps no 32 KiB inflate window between messages
// (RFC 7692 §7.1.1.2 lets a server ask that even when not offered).
const DeflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// Compression parameters of RFC 7692 §7.1.
const (
	paramServerNoContext = "server_no_context_takeover"
	paramClientNoContext = "client_no_context_takeover"
	paramServerMaxWindow = "server_max_window_bits"
	paramClientMaxWindow = "client_max_window_bits"
)

// NegotiateDeflate reads the Sec-WebSocket-Extensions values of a request
// and returns the response header for the first acceptable
// permessage-deflate offer, or ok false when none is (RFC 7692 §5: an
// offer with an unknown, repeated or invalid parameter is declined, and
// the next one is tried; RFC 6455 §9.1: only an offered extension is
// accepted). An offer that limits the server's window below 32 KiB
// (server_max_window_bits < 15) is declined too: the server's frames are
// compressed once, with a 32 KiB window, for every connection.
func NegotiateDeflate(values []string) (response string, ok bool) {
	for _, v := range values {
		for _, offer := range splitOutsideQuotes(v, ',') {
			if resp, ok := acceptOffer(offer); ok {
				return resp, true
			}
		}
	}
	return "", false
}

func acceptOffer(offer string) (string, bool) {
	parts := splitOutsideQuotes(offer, ';')
	if len(parts) == 0 || !strings.EqualFold(strings.TrimSpace(parts[0]), "permessage-deflate") {
		return "", false
	}
	seen := map[string]bool{}
	resp := DeflateResponse
	for _, p := range parts[1:] {
		name, value, hasValue := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			return "", false
		}
		seen[name] = true
		if hasValue {
			var ok bool
			if value, ok = unquote(strings.TrimSpace(value)); !ok {
				return "", false
			}
		}
		switch name {
		case paramServerNoContext, paramClientNoContext:
			if hasValue {
				return "", false
			}
		case paramServerMaxWindow:
			bits, ok := windowBits(value)
			if !hasValue || !ok || bits != 15 {
				return "", false
			}
			resp += "; server_max_window_bits=15"
		case paramClientMaxWindow:
			if hasValue {
				if _, ok := windowBits(value); !ok {
					return "", false
				}
			}
			// the client may use any window up to what it offered: the
			// server inflates with a 32 KiB window, so it asks nothing
		default:
			return "", false
		}
	}
	return resp, true
}

// windowBits parses the value of a *_max_window_bits parameter: 8 to 15,
// written without leading zeros (RFC 7692 §7.1.2.1).
func windowBits(v string) (int, bool) {
	switch {
	case len(v) == 1 && v[0] >= '8' && v[0] <= '9':
		return int(v[0] - '0'), true
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + int(v[1]-'0'), true
	}
	return 0, false
}

// unquote accepts a token or a quoted-string (RFC 7230 §3.2.6) and returns
// its content.
func unquote(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			if v[i] == '\\' && i+1 < len(v)-1 {
				i++
			} else if v[i] == '"' || v[i] == '\\' {
				return "", false
			}
			b.WriteByte(v[i])
		}
		return b.String(), true
	}
	if v == "" || strings.ContainsAny(v, "\" \t,;=") {
		return "", false
	}
	return v, true
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted
// string, trimming blanks and dropping empty elements.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	add := func(part string) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQuote:
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == sep && !inQuote:
			add(s[start:i])
			start = i + 1
		}
	}
	add(s[start:])
	return out
}

// inflaters are shared by every connection: one is taken for a compressed
// message and given back after it, so an idle connection holds none.
var inflaters sync.Pool

// tail ends a message's DEFLATE data: the 00 00 ff ff that the sender
// removed (RFC 7692 §7.2.2), then an empty final stored block, so that the
// stream ends cleanly.
var tail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

type msgSource struct {
	p   []byte
	pos int
}

func (s *msgSource) Read(b []byte) (int, error) {
	if s.pos < len(s.p) {
		n := copy(b, s.p[s.pos:])
		s.pos += n
		return n, nil
	}
	t := s.pos - len(s.p)
	if t >= len(tail) {
		return 0, io.EOF
	}
	n := copy(b, tail[t:])
	s.pos += n
	return n, nil
}

func (s *msgSource) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := s.Read(b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// errTooBig is returned by Inflate when the output passes its limit.
var errTooBig = errors.New("inflated message over the limit")

// Inflate appends the decompressed form of one permessage-deflate message
// to dst. It stops with errTooBig once the output would pass limit bytes;
// any other error means the data does not inflate.
func Inflate(dst, compressed []byte, limit int) ([]byte, error) {
	src := &msgSource{p: compressed}
	var r io.ReadCloser
	if v := inflaters.Get(); v != nil {
		r = v.(io.ReadCloser)
		if err := r.(flate.Resetter).Reset(src, nil); err != nil {
			return dst, err
		}
	} else {
		r = flate.NewReader(src)
	}
	defer inflaters.Put(r)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, errTooBig
		}
		if err == io.EOF { // a message may also end in a final block of its own (RFC 7692 §7.2.3.4)
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
