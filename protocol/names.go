package protocol

import (
	"strconv"

	"github.com/ticker-io/ticker/market"
)

// The "type" of every server message of ticker.v1.
const (
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
	TypeSnapshot     = "snapshot"
	TypeUpdate       = "update"
	TypePong         = "pong"
	TypeError        = "error"
)

// The "op" of every client request of ticker.v1.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpPing        = "ping"
)

// AppendRequest appends a client's {"op":op,"id":id,"every":…,"symbols":[…]},
// the request a client sends (id 0 leaves the id out, every "" leaves
// "every" out, a ping's symbols are left out when empty).
func AppendRequest(dst []byte, op string, id uint64, every string, symbols []string) []byte {
	dst = append(dst, `{"op":`...)
	dst = market.AppendJSONString(dst, op)
	if id != 0 {
		dst = append(dst, `,"id":`...)
		dst = strconv.AppendUint(dst, id, 10)
	}
	if every != "" {
		dst = append(dst, `,"every":`...)
		dst = market.AppendJSONString(dst, every)
	}
	if len(symbols) > 0 || op != OpPing {
		dst = append(dst, ',')
		dst = appendSymbols(dst, symbols)
	}
	return append(dst, '}')
}
