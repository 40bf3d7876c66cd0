package protocol

import (
	"fmt"
	"strconv"

	"github.com/ticker-io/ticker/market"
)

// AppendLine appends q as one line of a normalized NDJSON fixture, the
// inverse of ParseLine: {"ts":…,"s":…} and the fields q carries, as
// canonical decimal strings, then a newline. Seq is not written (a
// fixture holds a feed's updates, which the engine versions). ParseLine
// gives back exactly q's symbol, ts and fields when q.TsMicros is positive
// and q.Symbol valid; the caller checks that (LineError).
func AppendLine(dst []byte, q *market.Quote) []byte {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, q.TsMicros, 10)
	dst = append(dst, `,"s":`...)
	dst = market.AppendJSONString(dst, q.Symbol)
	for f := market.Field(0); f < market.NumFields; f++ {
		v, ok := q.Get(f)
		if !ok {
			continue
		}
		dst = append(dst, `,"`...)
		dst = append(dst, f.Name()...)
		dst = append(dst, `":"`...)
		dst = v.AppendText(dst)
		dst = append(dst, '"')
	}
	if q.IsStale() {
		dst = append(dst, `,"stale":true`...) // a feed's stale mark, which has no field
	}
	return append(dst, '}', '\n')
}

// LineError reports why q cannot be written as a fixture line that
// ParseLine reads back: an invalid symbol, a ts that is not a positive
// number of microseconds, a negative size or volume. nil when it can.
func LineError(q *market.Quote) error {
	if err := market.ValidateSymbol(q.Symbol); err != nil {
		return err
	}
	if q.TsMicros <= 0 {
		return fmt.Errorf("%s: ts %d is not a positive number of Unix microseconds", q.Symbol, q.TsMicros)
	}
	for f := market.Field(0); f < market.NumFields; f++ {
		if v, ok := q.Get(f); ok && f.IsSize() && v.Sign() < 0 {
			return fmt.Errorf("%s: %s %s is negative", q.Symbol, f.Name(), v)
		}
	}
	return nil
}
