package protocol

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

// ErrSkip is returned by ParseLine for a blank or comment line.
var ErrSkip = errors.New("blank or comment line")

// ParseLine parses one line of a normalized NDJSON fixture into q:
//
//	{"ts":1764000000000000,"s":"AAPL","bid":"189.12","bid_size":"100"}
//
// "s" (a valid symbol) and "ts" (Unix microseconds, a positive integer) are
// required; the Quote fields are optional decimal strings (sizes and volume
// not negative). "stale":true marks the symbol stale, as a feed that lost
// its source does, and then stands without any field; "stale":false is a
// live line like one without it. Unknown or repeated keys, numbers where strings belong and
// anything that is not one JSON object are errors. A blank line or one
// starting with "#" returns ErrSkip. p is reused between calls; q does not
// keep references into line or p.
func ParseLine(p *fastjson.Parser, line []byte, q *market.Quote) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] == '#' {
		return ErrSkip
	}
	return parseQuote(p, trimmed, q, false)
}

// ParseVersion parses a Quote or Delta as ticker.v1 writes it, "seq" (a
// positive integer) required, as cluster nodes exchange them:
//
//	{"s":"AAPL","seq":42,"ts":1764000000000000,"bid":"189.12"}
//
// "stale" (a boolean) sets q.Staleness: Stale for true, Fresh for false (a
// delta that turns its symbol fresh). The other rules are ParseLine's, but
// fields may stand beside "stale":true; blank and comment lines are errors.
func ParseVersion(p *fastjson.Parser, msg []byte, q *market.Quote) error {
	return parseQuote(p, msg, q, true)
}

func parseQuote(p *fastjson.Parser, trimmed []byte, q *market.Quote, withSeq bool) error {
	v, err := p.ParseBytes(trimmed)
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	o, err := v.Object()
	if err != nil {
		return fmt.Errorf("not a JSON object")
	}
	*q = market.Quote{}
	var seen uint16
	const seenS, seenTs, seenSeq, seenStale = 1 << 14, 1 << 15, 1 << 13, 1 << 12
	var symbol []byte
	var ferr error
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(key) {
		case "s":
			if seen&seenS != 0 {
				ferr = fmt.Errorf(`repeated key "s"`)
				return
			}
			seen |= seenS
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf(`"s" must be a string`)
				return
			}
			symbol = b
		case "ts":
			if seen&seenTs != 0 {
				ferr = fmt.Errorf(`repeated key "ts"`)
				return
			}
			seen |= seenTs
			ts, err := v.Int64()
			if err != nil || ts <= 0 {
				ferr = fmt.Errorf(`"ts" must be a positive integer of Unix microseconds`)
				return
			}
			q.TsMicros = ts
		case "seq":
			if !withSeq {
				ferr = fmt.Errorf("unknown key %q", key)
				return
			}
			if seen&seenSeq != 0 {
				ferr = fmt.Errorf(`repeated key "seq"`)
				return
			}
			seen |= seenSeq
			seq, err := v.Uint64()
			if err != nil || seq == 0 {
				ferr = fmt.Errorf(`"seq" must be a positive integer`)
				return
			}
			q.Seq = seq
		case "stale":
			if seen&seenStale != 0 {
				ferr = fmt.Errorf(`repeated key "stale"`)
				return
			}
			seen |= seenStale
			b, err := v.Bool()
			if err != nil {
				ferr = fmt.Errorf(`"stale" must be true or false`)
				return
			}
			switch {
			case b:
				q.Staleness = market.Stale
			case withSeq:
				q.Staleness = market.Fresh
			}
		default:
			f, ok := market.FieldByName(key)
			if !ok {
				ferr = fmt.Errorf("unknown key %q", key)
				return
			}
			if q.Fields.Has(f) {
				ferr = fmt.Errorf("repeated key %q", key)
				return
			}
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf("%q must be a decimal string, not %s", key, v.Type())
				return
			}
			d, err := market.ParseDecimal(b)
			if err != nil {
				ferr = fmt.Errorf("%q: %w", key, err)
				return
			}
			if f.IsSize() && d.Sign() < 0 {
				ferr = fmt.Errorf("%q is negative", key)
				return
			}
			q.Set(f, d)
		}
	})
	if ferr != nil {
		return ferr
	}
	if seen&seenS == 0 {
		return fmt.Errorf(`missing "s"`)
	}
	if seen&seenTs == 0 {
		return fmt.Errorf(`missing "ts"`)
	}
	if withSeq && seen&seenSeq == 0 {
		return fmt.Errorf(`missing "seq"`)
	}
	if !withSeq && q.Staleness == market.Stale && q.Fields != 0 {
		return fmt.Errorf(`"stale":true stands without any field`)
	}
	if err := market.ValidateSymbol(string(symbol)); err != nil {
		return err
	}
	q.Symbol = string(symbol)
	return nil
}
