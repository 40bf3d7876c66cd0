package protocol

import (
	"bytes"
	"strconv"
	"time"

	"github.com/ticker-io/ticker/market"
)

// MaxEvery is the longest interval a subscribe may ask for ("every").
const MaxEvery = 60 * time.Second

// ParseEvery reads the value of a subscribe's "every": a positive whole
// number of milliseconds ("250ms"), seconds ("1s") or minutes ("1m"), at
// most MaxEvery. Whether it is a multiple of the server's window is the
// engine's to check (fanout), which knows the window.
func ParseEvery(s []byte) (time.Duration, bool) {
	unit := time.Duration(0)
	n := len(s)
	switch {
	case n > 2 && string(s[n-2:]) == "ms":
		unit, n = time.Millisecond, n-2
	case n > 1 && s[n-1] == 's':
		unit, n = time.Second, n-1
	case n > 1 && s[n-1] == 'm':
		unit, n = time.Minute, n-1
	default:
		return 0, false
	}
	if n > 5 || s[0] < '1' || s[0] > '9' { // no sign, no leading zero; 99999ms is past MaxEvery anyway
		return 0, false
	}
	v := time.Duration(0)
	for _, c := range s[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + time.Duration(c-'0')
	}
	d := v * unit
	return d, d <= MaxEvery
}

// AppendEvery appends d as ParseEvery reads it: whole seconds as "1s",
// anything else in milliseconds.
func AppendEvery(dst []byte, d time.Duration) []byte {
	if d%time.Second == 0 {
		return append(strconv.AppendInt(dst, int64(d/time.Second), 10), 's')
	}
	return append(strconv.AppendInt(dst, int64(d/time.Millisecond), 10), 'm', 's')
}

// AppendRangeDelta appends q as a conflated Delta: a Delta that covers the
// versions from..q.Seq at once, with "from" after the symbol:
//
//	{"s":"BTC-USD","from":8813,"seq":8830,"ts":…,"bid":"64000.11"}
//
// q holds the fields that changed in those versions, at their latest
// values. scratch is reused for the encoding and returned.
func AppendRangeDelta(dst, scratch []byte, q *market.Quote, from uint64) (out, scratchOut []byte) {
	scratch = q.AppendJSON(scratch[:0])
	head := bytes.Index(scratch, seqKey) // the first: a valid symbol has no quote in it
	dst = append(dst, scratch[:head]...)
	dst = append(dst, `,"from":`...)
	dst = strconv.AppendUint(dst, from, 10)
	return append(dst, scratch[head:]...), scratch
}

var seqKey = []byte(`,"seq":`)

// AppendEveryField adds "every":"…" (AppendEvery) to the JSON object that
// ends msg: a subscribe's ack says the interval the connection now has.
func AppendEveryField(msg []byte, d time.Duration) []byte {
	msg = append(msg[:len(msg)-1], `,"every":"`...)
	msg = AppendEvery(msg, d)
	return append(msg, '"', '}')
}
