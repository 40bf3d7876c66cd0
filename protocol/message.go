package protocol

import (
	"strconv"

	"github.com/ticker-io/ticker/market"
)

// Error codes of ticker.v1: the "code" of an error message.
const (
	CodeBadRequest     = "bad_request"
	CodeUnknownOp      = "unknown_op"
	CodeUnknownSymbol  = "unknown_symbol"
	CodeTooManySymbols = "too_many_symbols"
	CodeRateLimited    = "rate_limited"
)

func appendID(dst []byte, id []byte) []byte {
	if len(id) == 0 {
		return dst
	}
	dst = append(dst, `,"id":`...)
	return append(dst, id...)
}

func appendSymbols(dst []byte, symbols []string) []byte {
	dst = append(dst, `"symbols":[`...)
	for i, s := range symbols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = market.AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendAck appends {"type":typ,"id":…,"symbols":[…]}; typ is "subscribed"
// or "unsubscribed". id is the request's raw JSON id, or nil.
func AppendAck(dst []byte, typ string, id []byte, symbols []string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, '"')
	dst = appendID(dst, id)
	dst = append(dst, ',')
	dst = appendSymbols(dst, symbols)
	return append(dst, '}')
}

// AppendSubscribed appends {"type":"subscribed","id":…,"symbols":[…],"epoch":N}:
// a subscribe's ack, with the stream's epoch when the server has one, so
// that a client learns the epoch even when no snapshot follows (no quote
// yet).
func AppendSubscribed(dst []byte, id []byte, symbols []string, epoch uint64) []byte {
	dst = AppendAck(dst, TypeSubscribed, id, symbols)
	if epoch == 0 {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"epoch":`...)
	dst = strconv.AppendUint(dst, epoch, 10)
	return append(dst, '}')
}

// AppendPong appends {"type":"pong","id":…,"time":µs}.
func AppendPong(dst []byte, id []byte, timeMicros int64) []byte {
	dst = append(dst, `{"type":"pong"`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, timeMicros, 10)
	return append(dst, '}')
}

// AppendError appends {"type":"error","id":…,"code":…,"message":…,"symbols":[…]};
// symbols is left out when empty.
func AppendError(dst []byte, id []byte, code, message string, symbols []string) []byte {
	dst = append(dst, `{"type":"error"`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"code":`...)
	dst = market.AppendJSONString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = market.AppendJSONString(dst, message)
	if len(symbols) > 0 {
		dst = append(dst, ',')
		dst = appendSymbols(dst, symbols)
	}
	return append(dst, '}')
}

// AppendSnapshotHead appends {"type":"snapshot","reason":…,["epoch":N,]"time":µs,"quotes":[
func AppendSnapshotHead(dst []byte, reason string, epoch uint64, timeMicros int64) []byte {
	dst = append(dst, `{"type":"snapshot","reason":"`...)
	dst = append(dst, reason...)
	dst = append(dst, '"')
	if epoch != 0 {
		dst = append(dst, `,"epoch":`...)
		dst = strconv.AppendUint(dst, epoch, 10)
	}
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, timeMicros, 10)
	return append(dst, `,"quotes":[`...)
}

// AppendQuotesHead appends {"type":typ,["reason":…,]"time":µs,"quotes":[
func AppendQuotesHead(dst []byte, typ, reason string, timeMicros int64) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, '"')
	if reason != "" {
		dst = append(dst, `,"reason":"`...)
		dst = append(dst, reason...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, timeMicros, 10)
	return append(dst, `,"quotes":[`...)
}
