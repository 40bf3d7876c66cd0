package market

import (
	"fmt"
	"strconv"
)

// Field names one decimal field of a Quote.
type Field uint8

// The decimal fields of a Quote, in wire order.
const (
	Bid Field = iota
	BidSize
	Ask
	AskSize
	Last
	LastSize
	Volume
	NumFields // number of fields; not a field
)

var fieldNames = [NumFields]string{"bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume"}

// Name returns the field's JSON key, e.g. "bid_size".
func (f Field) Name() string {
	if f >= NumFields {
		return "field(" + strconv.Itoa(int(f)) + ")"
	}
	return fieldNames[f]
}

// FieldByName returns the field whose JSON key is name.
func FieldByName(name []byte) (Field, bool) {
	for f, n := range fieldNames {
		if string(name) == n {
			return Field(f), true
		}
	}
	return 0, false
}

// IsSize reports whether f is a quantity (size or volume), which is never negative.
func (f Field) IsSize() bool { return f == BidSize || f == AskSize || f == LastSize || f == Volume }

// FieldSet is a set of Fields.
type FieldSet uint8

// Has reports whether f is in the set.
func (s FieldSet) Has(f Field) bool { return s&(1<<f) != 0 }

// With returns the set plus f.
func (s FieldSet) With(f Field) FieldSet { return s | 1<<f }

// Quote is some or all of a symbol's fields at one moment. A feed emits
// Quotes holding only the fields it updates; State turns them into full
// quotes (every field ever given) and deltas (only the fields that changed),
// all with the same type. Fields says which Values are present; Staleness
// whether the symbol's feed is down (stale.go).
type Quote struct {
	Symbol    string
	Seq       uint64 // version; 0 for a feed's update that State has not versioned yet
	TsMicros  int64  // event time of the latest change, Unix microseconds
	Fields    FieldSet
	Staleness Staleness // in the padding after Fields: the Quote is no bigger
	Values    [NumFields]Decimal
}

// Set stores v as field f and marks it present.
func (q *Quote) Set(f Field, v Decimal) {
	q.Values[f] = v
	q.Fields = q.Fields.With(f)
}

// Get returns field f and whether it is present.
func (q *Quote) Get(f Field) (Decimal, bool) { return q.Values[f], q.Fields.Has(f) }

// AppendJSON appends q as the contract's Quote/Delta object:
// {"s":…,"seq":…,"ts":…,"bid":"…",…,"stale":true} with only the present
// fields, and "stale" only when q states it (true, or false in a delta
// that turns the symbol fresh). It does not allocate when dst has room.
func (q *Quote) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"s":`...)
	dst = AppendJSONString(dst, q.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, q.Seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, q.TsMicros, 10)
	for f := Field(0); f < NumFields; f++ {
		if !q.Fields.Has(f) {
			continue
		}
		dst = append(dst, ',', '"')
		dst = append(dst, fieldNames[f]...)
		dst = append(dst, '"', ':', '"')
		dst = q.Values[f].AppendText(dst)
		dst = append(dst, '"')
	}
	if q.Staleness != Unstated {
		dst = q.appendStale(dst)
	}
	return append(dst, '}')
}

// AppendJSONString appends s as a JSON string, escaping what JSON requires.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// MaxSymbolLen is the longest symbol name accepted.
const MaxSymbolLen = 32

// ValidateSymbol checks a symbol name: 1 to 32 bytes of ASCII letters,
// digits and - . _ / : ^ =. The set excludes "*" (the wildcard), "," (the
// separator of ?symbols=A,B) and anything that needs escaping in JSON or URLs
// paths beyond "/".
func ValidateSymbol(s string) error {
	if len(s) == 0 {
		return fmt.Errorf("empty symbol")
	}
	if len(s) > MaxSymbolLen {
		return fmt.Errorf("symbol %q longer than %d bytes", s[:MaxSymbolLen]+"…", MaxSymbolLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '/', c == ':', c == '^', c == '=':
		default:
			return fmt.Errorf("symbol %q: character %q not allowed", s, c)
		}
	}
	return nil
}
