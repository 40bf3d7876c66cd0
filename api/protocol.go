package api

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"ticker/market"
)

// request is a parsed client message.
type request struct {
	op      string
	id      []byte // raw JSON of the id, nil when absent
	symbols []string
}

// protoError is a client error mapped to a contract error code.
type protoError struct {
	code    string
	message string
	id      []byte
}

func (e *protoError) Error() string { return e.code + ": " + e.message }

const maxIDBytes = 64

// parseRequest parses one client message:
//
//	{"op":"subscribe","id":1,"symbols":["AAPL"]}
//
// op is required; id is optional and must be a number or a string (echoed
// as given); symbols is required, a non-empty array of strings, for
// subscribe and unsubscribe. Unknown keys are ignored, so clients may add
// their own. An op the server does not know is unknown_op; anything else
// wrong is bad_request.
func parseRequest(p *fastjson.Parser, msg []byte) (request, *protoError) {
	var r request
	var perr *protoError
	// fastjson's parser is lenient (it takes \x41 escapes and raw control
	// characters in strings); its validator follows RFC 8259
	if fastjson.ValidateBytes(msg) != nil {
		return r, &protoError{code: "bad_request", message: "message is not JSON"}
	}
	v, err := p.ParseBytes(msg)
	if err != nil {
		return r, &protoError{code: "bad_request", message: "message is not JSON"}
	}
	o, err := v.Object()
	if err != nil {
		return r, &protoError{code: "bad_request", message: "message is not a JSON object"}
	}
	if r.id, perr = parseID(o); perr != nil {
		return r, perr
	}
	opv := o.Get("op")
	if opv == nil {
		return r, &protoError{code: "bad_request", message: `missing "op"`, id: r.id}
	}
	op, err := opv.StringBytes()
	if err != nil {
		return r, &protoError{code: "bad_request", message: `"op" must be a string`, id: r.id}
	}
	switch string(op) {
	case "subscribe", "unsubscribe":
		r.op = string(op)
		sv := o.Get("symbols")
		if sv == nil {
			return r, &protoError{code: "bad_request", message: `missing "symbols"`, id: r.id}
		}
		arr, err := sv.Array()
		if err != nil || len(arr) == 0 {
			return r, &protoError{code: "bad_request", message: `"symbols" must be a non-empty array of strings`, id: r.id}
		}
		r.symbols = make([]string, 0, len(arr))
		for _, s := range arr {
			b, err := s.StringBytes()
			if err != nil {
				return r, &protoError{code: "bad_request", message: `"symbols" must be a non-empty array of strings`, id: r.id}
			}
			r.symbols = append(r.symbols, string(b))
		}
	case "ping":
		r.op = "ping"
	default:
		return r, &protoError{code: "unknown_op", message: "unknown op " + truncate(string(op), 32) + "; want subscribe, unsubscribe or ping", id: r.id}
	}
	return r, nil
}

// parseID returns the raw JSON of a message's id (nil when it has none).
func parseID(o *fastjson.Object) ([]byte, *protoError) {
	idv := o.Get("id")
	if idv == nil {
		return nil, nil
	}
	tooLong := &protoError{code: "bad_request", message: "id must be a number or a string of at most 64 bytes"}
	var id []byte
	switch idv.Type() {
	case fastjson.TypeNumber:
		id = idv.MarshalTo(nil)
		if len(id) > maxIDBytes {
			return nil, tooLong
		}
	case fastjson.TypeString:
		// re-encoded rather than echoed raw, so the echo is always valid JSON
		b, _ := idv.StringBytes()
		if !utf8.Valid(b) {
			return nil, &protoError{code: "bad_request", message: "id is not valid UTF-8"}
		}
		if len(b) > maxIDBytes { // the string's own bytes, quotes not counted
			return nil, tooLong
		}
		id = market.AppendJSONString(nil, string(b))
	default:
		return nil, &protoError{code: "bad_request", message: "id must be a number or a string"}
	}
	if !json.Valid(id) {
		return nil, tooLong
	}
	return id, nil
}

// requestID returns the id of a message that will not be handled (refused
// by the rate limit), so that its error can name it; nil when the message
// has no valid id.
func requestID(p *fastjson.Parser, msg []byte) []byte {
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return `"` + s + `"`
	}
	return `"` + s[:n] + `…"`
}
