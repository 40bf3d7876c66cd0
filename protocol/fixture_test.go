package protocol

import (
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

// TestAppendLine: what AppendLine writes is the fixture format, and
// ParseLine reads back the same symbol, ts and fields, decimal-exact.
func TestAppendLine(t *testing.T) {
	q := func(sym string, ts int64, kv ...string) market.Quote {
		out := market.Quote{Symbol: sym, TsMicros: ts, Seq: 42}
		for i := 0; i < len(kv); i += 2 {
			f, _ := market.FieldByName([]byte(kv[i]))
			out.Set(f, market.MustDecimal(kv[i+1]))
		}
		return out
	}
	tests := []struct {
		q    market.Quote
		line string
	}{
		{q("AAPL", 1764000000000000, "bid", "189.12", "bid_size", "100", "ask", "189.14", "ask_size", "200"),
			`{"ts":1764000000000000,"s":"AAPL","bid":"189.12","bid_size":"100","ask":"189.14","ask_size":"200"}`},
		{q("SHIB-USD", 1, "last", "0.00001234", "last_size", "987654321098", "volume", "123456789012345678901234.5"),
			`{"ts":1,"s":"SHIB-USD","last":"0.00001234","last_size":"987654321098","volume":"123456789012345678901234.5"}`},
		{q("X", 5, "bid", "-1.5"), `{"ts":5,"s":"X","bid":"-1.5"}`},
		{q("BRK.B", 7), `{"ts":7,"s":"BRK.B"}`},
		{q("EUR-USD", 8, "bid", "1.10"), `{"ts":8,"s":"EUR-USD","bid":"1.1"}`},
		{market.Quote{Symbol: "BTC-USD", TsMicros: 9, Seq: 42, Staleness: market.Stale}, `{"ts":9,"s":"BTC-USD","stale":true}`}, // a feed's stale mark
	}
	var p fastjson.Parser
	for _, tt := range tests {
		got := AppendLine(nil, &tt.q)
		if string(got) != tt.line+"\n" {
			t.Errorf("AppendLine(%s) = %q, want %q", tt.q.AppendJSON(nil), got, tt.line+"\n")
			continue
		}
		var back market.Quote
		if err := ParseLine(&p, got, &back); err != nil {
			t.Errorf("ParseLine(%q): %v", got, err)
			continue
		}
		want := tt.q
		want.Seq = 0 // not in a fixture
		if back != want {
			t.Errorf("round trip of %s gave %s", want.AppendJSON(nil), back.AppendJSON(nil))
		}
	}
}

func TestLineError(t *testing.T) {
	neg := market.Quote{Symbol: "X", TsMicros: 1}
	neg.Set(market.BidSize, market.MustDecimal("-1"))
	tests := []struct {
		q    market.Quote
		want string // "" for none
	}{
		{market.Quote{Symbol: "X", TsMicros: 1}, ""},
		{market.Quote{Symbol: "X", TsMicros: 0}, "not a positive number"},
		{market.Quote{Symbol: "X", TsMicros: -3}, "not a positive number"},
		{market.Quote{Symbol: "", TsMicros: 1}, "empty symbol"},
		{market.Quote{Symbol: "A B", TsMicros: 1}, "not allowed"},
		{neg, "bid_size -1 is negative"},
	}
	for _, tt := range tests {
		err := LineError(&tt.q)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("LineError(%s) = %v, want %q", tt.q.AppendJSON(nil), err, tt.want)
		}
	}
}
