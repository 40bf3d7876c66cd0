package protocol

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

// Request is a parsed client message.
type Request struct {
	Op      string   // "subscribe", "unsubscribe" or "ping"
	ID      []byte   // raw JSON of the id, nil when absent
	Symbols []string // for subscribe and unsubscribe
	// Every is a subscribe's interval ("every"; see ParseEvery), zero when
	// not given: the connection then keeps the interval it has.
	Every time.Duration
}

// Error is a refused request: Code is the error message's code (CodeBadRequest
// or CodeUnknownOp), ID the request's id when it could be read.
type Error struct {
	Code    string
	Message string
	ID      []byte
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// MaxIDBytes is the longest id: a number's characters, or a string's bytes
// once unescaped.
const MaxIDBytes = 64

// ParseRequest parses one client message:
//
//	{"op":"subscribe","id":1,"symbols":["AAPL"]}
//
// op is required; id is optional and must be a number or a string (echoed
// as given); symbols is required, a non-empty array of strings, for
// subscribe and unsubscribe. A subscribe may carry "every", an interval
// string (ParseEvery). Unknown keys are ignored, so clients may add their
// own. An op the server does not know is unknown_op; anything else
// wrong is bad_request.
func ParseRequest(p *fastjson.Parser, msg []byte) (Request, *Error) {
	var r Request
	var perr *Error
	// fastjson's parser is lenient (it takes \x41 escapes and raw control
	// characters in strings); its validator follows RFC 8259
	if fastjson.ValidateBytes(msg) != nil {
		return r, &Error{Code: CodeBadRequest, Message: "message is not JSON"}
	}
	if !pairedSurrogates(msg) {
		// valid JSON syntax, but no Unicode text: decoders disagree on it
		return r, &Error{Code: CodeBadRequest, Message: `message has a \u escape of an unpaired UTF-16 surrogate`}
	}
	v, err := p.ParseBytes(msg)
	if err != nil {
		return r, &Error{Code: CodeBadRequest, Message: "message is not JSON"}
	}
	o, err := v.Object()
	if err != nil {
		return r, &Error{Code: CodeBadRequest, Message: "message is not a JSON object"}
	}
	if r.ID, perr = parseID(o); perr != nil {
		return r, perr
	}
	opv := o.Get("op")
	if opv == nil {
		return r, &Error{Code: CodeBadRequest, Message: `missing "op"`, ID: r.ID}
	}
	op, err := opv.StringBytes()
	if err != nil {
		return r, &Error{Code: CodeBadRequest, Message: `"op" must be a string`, ID: r.ID}
	}
	switch string(op) {
	case OpSubscribe, OpUnsubscribe:
		r.Op = string(op)
		sv := o.Get("symbols")
		if sv == nil {
			return r, &Error{Code: CodeBadRequest, Message: `missing "symbols"`, ID: r.ID}
		}
		arr, err := sv.Array()
		if err != nil || len(arr) == 0 {
			return r, &Error{Code: CodeBadRequest, Message: `"symbols" must be a non-empty array of strings`, ID: r.ID}
		}
		r.Symbols = make([]string, 0, len(arr))
		for _, s := range arr {
			b, err := s.StringBytes()
			if err != nil {
				return r, &Error{Code: CodeBadRequest, Message: `"symbols" must be a non-empty array of strings`, ID: r.ID}
			}
			r.Symbols = append(r.Symbols, string(b))
		}
		if r.Op == OpSubscribe {
			if r.Every, perr = parseEvery(o, r.ID); perr != nil {
				return r, perr
			}
		}
	case OpPing:
		r.Op = OpPing
	default:
		return r, &Error{Code: CodeUnknownOp, Message: "unknown op " + truncate(string(op), 32) + "; want subscribe, unsubscribe or ping", ID: r.ID}
	}
	return r, nil
}

// parseEvery returns a subscribe's "every" (zero when absent).
func parseEvery(o *fastjson.Object, id []byte) (time.Duration, *Error) {
	v := o.Get("every")
	if v == nil {
		return 0, nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return 0, &Error{Code: "bad_request", Message: `"every" must be a string such as "1s" or "250ms"`, ID: id}
	}
	d, ok := ParseEvery(b)
	if !ok {
		return 0, &Error{Code: "bad_request", Message: BadEvery, ID: id}
	}
	return d, nil
}

// parseID returns the raw JSON of a message's id (nil when it has none).
func parseID(o *fastjson.Object) ([]byte, *Error) {
	idv := o.Get("id")
	if idv == nil {
		return nil, nil
	}
	tooLong := &Error{Code: CodeBadRequest, Message: "id must be a number or a string of at most 64 bytes"}
	var id []byte
	switch idv.Type() {
	case fastjson.TypeNumber:
		id = idv.MarshalTo(nil)
		if len(id) > MaxIDBytes {
			return nil, tooLong
		}
	case fastjson.TypeString:
		// re-encoded rather than echoed raw, so the echo is always valid JSON
		b, _ := idv.StringBytes()
		if !utf8.Valid(b) {
			return nil, &Error{Code: CodeBadRequest, Message: "id is not valid UTF-8"}
		}
		if len(b) > MaxIDBytes { // the string's own bytes, quotes not counted
			return nil, tooLong
		}
		id = market.AppendJSONString(nil, string(b))
	default:
		return nil, &Error{Code: CodeBadRequest, Message: "id must be a number or a string"}
	}
	if !json.Valid(id) {
		return nil, tooLong
	}
	return id, nil
}

// RequestID returns the id of a message that will not be handled (refused
// by the rate limit), so that its error can name it; nil when the message
// has no valid id.
func RequestID(p *fastjson.Parser, msg []byte) []byte {
	if fastjson.ValidateBytes(msg) != nil {
		return nil
	}
	v, err := p.ParseBytes(msg)
	if err != nil {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return nil
	}
	id, _ := parseID(o)
	return id
}

// pairedSurrogates reports whether every \u escape of a UTF-16 surrogate
// in a valid JSON text is half of a high-low pair (RFC 8259 §7).
func pairedSurrogates(msg []byte) bool {
	for i := 0; i < len(msg); i++ {
		if msg[i] != '\\' {
			continue
		}
		if i+1 < len(msg) && msg[i+1] != 'u' {
			i++ // an escaped character: \\ \" \/ \b \f \n \r \t
			continue
		}
		u, ok := hex4(msg, i+2)
		switch {
		case !ok:
			return false
		case u >= 0xDC00 && u <= 0xDFFF:
			return false // a low half alone
		case u >= 0xD800 && u <= 0xDBFF:
			if i+12 > len(msg) || msg[i+6] != '\\' || msg[i+7] != 'u' {
				return false
			}
			if lo, ok := hex4(msg, i+8); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 11
		default:
			i += 5
		}
	}
	return true
}

// hex4 reads four hex digits at msg[at:].
func hex4(msg []byte, at int) (uint16, bool) {
	if at+4 > len(msg) {
		return 0, false
	}
	var u uint16
	for _, c := range msg[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		u = u<<4 | uint16(c)
	}
	return u, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return `"` + s + `"`
	}
	return `"` + s[:n] + `…"`
}

// BadEvery is the error for an "every" that is not an interval: a subscribe's
// bad_request message and the handshake's 400.
const BadEvery = `"every" must be a whole number of ms, s or m, such as "1s" or "250ms", at most 60s`
