package market

import (
	"encoding/json"
	"testing"
	"unsafe"
)

func quoteOf(sym string, seq uint64, ts int64, kv ...string) Quote {
	q := Quote{Symbol: sym, Seq: seq, TsMicros: ts}
	for i := 0; i+1 < len(kv); i += 2 {
		f, ok := FieldByName([]byte(kv[i]))
		if !ok {
			panic("unknown field " + kv[i])
		}
		q.Set(f, MustDecimal(kv[i+1]))
	}
	return q
}

func TestQuoteAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		q    Quote
		want string
	}{
		{"full", quoteOf("BTC-USD", 8812, 1764000000123456, "bid", "64000.10", "bid_size", "0.5", "ask", "64000.20", "ask_size", "1.25", "last", "64000.15", "last_size", "0.01", "volume", "1234.5678"),
			`{"s":"BTC-USD","seq":8812,"ts":1764000000123456,"bid":"64000.1","bid_size":"0.5","ask":"64000.2","ask_size":"1.25","last":"64000.15","last_size":"0.01","volume":"1234.5678"}`},
		{"delta", quoteOf("AAPL", 2, 5, "last", "189.13"), `{"s":"AAPL","seq":2,"ts":5,"last":"189.13"}`},
		{"empty delta", quoteOf("AAPL", 3, 6), `{"s":"AAPL","seq":3,"ts":6}`},
		{"stale full quote", Quote{Symbol: "AAPL", Seq: 4, TsMicros: 6, Staleness: Stale}, `{"s":"AAPL","seq":4,"ts":6,"stale":true}`},
		{"delta turning fresh", Quote{Symbol: "AAPL", Seq: 5, TsMicros: 7, Staleness: Fresh}, `{"s":"AAPL","seq":5,"ts":7,"stale":false}`},
		{"escape", Quote{Symbol: "a\"b\\c\n\x01"}, `{"s":"a\"b\\c\n\u0001","seq":0,"ts":0}`},
	}
	for _, tt := range tests {
		got := string(tt.q.AppendJSON(nil))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: invalid JSON %s", tt.name, got)
		}
	}
}

func TestValidateSymbol(t *testing.T) {
	for _, s := range []string{"AAPL", "BTC-USD", "EUR/USD", "ES.FUT", "brk.b", "^SPX", "X:Y_Z=1"} {
		if err := ValidateSymbol(s); err != nil {
			t.Errorf("ValidateSymbol(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "*", "A,B", "A B", `A"`, "ÄPL", "A\n", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"} {
		if err := ValidateSymbol(s); err == nil {
			t.Errorf("ValidateSymbol(%q) = nil, want error", s)
		}
	}
}

func BenchmarkQuoteAppendJSON(b *testing.B) {
	q := quoteOf("BTC-USD", 8812, 1764000000123456, "bid", "64000.10", "bid_size", "0.5", "ask", "64000.20", "ask_size", "1.25", "last", "64000.15", "last_size", "0.01", "volume", "1234.5678")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = q.AppendJSON(buf[:0])
	}
}

// TestQuoteSize: Staleness sits in the padding after Fields, so a Quote
// (copied through the ring and into every State) is no bigger for it.
func TestQuoteSize(t *testing.T) {
	type withoutStaleness struct {
		Symbol   string
		Seq      uint64
		TsMicros int64
		Fields   FieldSet
		Values   [NumFields]Decimal
	}
	if got, want := unsafe.Sizeof(Quote{}), unsafe.Sizeof(withoutStaleness{}); got != want {
		t.Errorf("Quote is %d bytes, %d without Staleness", got, want)
	}
}
