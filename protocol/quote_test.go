package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want string // the quote as JSON, or "error: substring", or "skip"
	}{
		{`{"ts":1764000000000000,"s":"AAPL","bid":"189.12","bid_size":"100","ask":"189.14","ask_size":"200"}`,
			`{"s":"AAPL","seq":0,"ts":1764000000000000,"bid":"189.12","bid_size":"100","ask":"189.14","ask_size":"200"}`},
		{`  {"s":"BTC-USD","ts":5,"volume":"1.50","last":"1e-3"}  `, `{"s":"BTC-USD","seq":0,"ts":5,"last":"0.001","volume":"1.5"}`},
		{`{"s":"X","ts":1}`, `{"s":"X","seq":0,"ts":1}`},
		{``, "skip"},
		{`   `, "skip"},
		{`# comment`, "skip"},
		{`not json`, "error: not JSON"},
		{`[1,2]`, "error: not a JSON object"},
		{`{"s":"X"}`, `error: missing "ts"`},
		{`{"ts":1}`, `error: missing "s"`},
		{`{"s":"X","ts":-1}`, "error: positive integer"},
		{`{"s":"X","ts":1.5}`, "error: positive integer"},
		{`{"s":"X","ts":"1"}`, "error: positive integer"},
		{`{"s":5,"ts":1}`, `error: "s" must be a string`},
		{`{"s":"","ts":1}`, "error: empty symbol"},
		{`{"s":"A B","ts":1}`, "error: not allowed"},
		{`{"s":"X","ts":1,"bid":1.5}`, "error: must be a decimal string"},
		{`{"s":"X","ts":1,"bid":"1,5"}`, "error: invalid decimal"},
		{`{"s":"X","ts":1,"bid_size":"-1"}`, "error: negative"},
		{`{"s":"X","ts":1,"bid":"-1"}`, `{"s":"X","seq":0,"ts":1,"bid":"-1"}`},
		{`{"s":"X","ts":1,"nope":"1"}`, "error: unknown key"},
		{`{"s":"X","ts":1,"bid":"1","bid":"2"}`, "error: repeated key"},
		{`{"s":"X","s":"Y","ts":1}`, "error: repeated key"},
		{`{"s":"X","ts":1,"stale":true}`, `{"s":"X","seq":0,"ts":1,"stale":true}`},
		{`{"s":"X","ts":1,"bid":"1","stale":false}`, `{"s":"X","seq":0,"ts":1,"bid":"1"}`},
		{`{"s":"X","ts":1,"bid":"1","stale":true}`, `error: "stale":true stands without any field`},
		{`{"s":"X","ts":1,"stale":1}`, `error: "stale" must be true or false`},
		{`{"s":"X","ts":1,"stale":true,"stale":true}`, `error: repeated key "stale"`},
	}
	var p fastjson.Parser
	for _, tt := range tests {
		var q market.Quote
		err := ParseLine(&p, []byte(tt.line), &q)
		switch {
		case tt.want == "skip":
			if !errors.Is(err, ErrSkip) {
				t.Errorf("%q: got %v, want skip", tt.line, err)
			}
		case strings.HasPrefix(tt.want, "error: "):
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tt.want, "error: ")) {
				t.Errorf("%q: got error %v, want %s", tt.line, err, tt.want)
			}
		default:
			if err != nil {
				t.Errorf("%q: %v", tt.line, err)
			} else if got := string(q.AppendJSON(nil)); got != tt.want {
				t.Errorf("%q:\n got %s\nwant %s", tt.line, got, tt.want)
			}
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"ts":1764000000000000,"s":"AAPL","bid":"189.12","bid_size":"100","ask":"189.14","ask_size":"200"}`,
		`{"ts":1,"s":"X","last":"1e-3","volume":"99999999999999999999.5"}`,
		`# c`, ``, `{`, `{"s":"X","ts":1,"bid":"1","bid":"2"}`, `{"s":"\u0000","ts":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var p fastjson.Parser
		var q market.Quote
		err := ParseLine(&p, line, &q)
		if err != nil {
			return
		}
		if err := LineError(&q); err != nil {
			t.Fatalf("accepted %q, which LineError refuses: %v", line, err)
		}
		// what we accept re-encodes (as ticker record writes it) to a line
		// that parses to the same quote
		again := AppendLine(nil, &q)
		var q2 market.Quote
		if err := ParseLine(&p, again, &q2); err != nil {
			t.Fatalf("re-encoded %s does not parse: %v", again, err)
		}
		if q2 != q {
			t.Fatalf("round trip changed %q: %s vs %s", line, q.AppendJSON(nil), q2.AppendJSON(nil))
		}
	})
}

func BenchmarkParseLine(b *testing.B) {
	line := []byte(`{"ts":1764000000000000,"s":"BTC-USD","bid":"64000.10","bid_size":"0.5","ask":"64000.20","ask_size":"1.25"}`)
	var p fastjson.Parser
	var q market.Quote
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := ParseLine(&p, line, &q); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{`{"s":"BTC-USD","seq":8812,"ts":1764000000123456,"bid":"64000.10","ask_size":"1.25"}`, `{"s":"BTC-USD","seq":8812,"ts":1764000000123456,"bid":"64000.1","ask_size":"1.25"}`, ""},
		{`{"s":"A","seq":1,"ts":5}`, `{"s":"A","seq":1,"ts":5}`, ""},
		{`{"s":"A","ts":5}`, "", `missing "seq"`},
		{`{"s":"A","seq":0,"ts":5}`, "", `"seq" must be a positive integer`},
		{`{"s":"A","seq":-3,"ts":5}`, "", `"seq" must be a positive integer`},
		{`{"s":"A","seq":"7","ts":5}`, "", `"seq" must be a positive integer`},
		{`{"s":"A","seq":1,"seq":2,"ts":5}`, "", `repeated key "seq"`},
		{`{"s":"A","seq":1,"ts":5,"bid":1.5}`, "", `must be a decimal string`},
		{`{"s":"A","seq":2,"ts":5,"stale":true}`, `{"s":"A","seq":2,"ts":5,"stale":true}`, ""},
		{`{"s":"A","seq":2,"ts":5,"bid":"1","stale":true}`, `{"s":"A","seq":2,"ts":5,"bid":"1","stale":true}`, ""},
		{`{"s":"A","seq":3,"ts":6,"bid":"1","stale":false}`, `{"s":"A","seq":3,"ts":6,"bid":"1","stale":false}`, ""},
		{`{"s":"A","seq":3,"ts":6,"stale":"no"}`, "", `"stale" must be true or false`},
		{``, "", "not JSON"},
	} {
		var p fastjson.Parser
		var q market.Quote
		err := ParseVersion(&p, []byte(tt.in), &q)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || string(q.AppendJSON(nil)) != tt.want {
			t.Errorf("%s: %s %v, want %s", tt.in, q.AppendJSON(nil), err, tt.want)
		}
	}
	// a fixture line has no seq
	var p fastjson.Parser
	var q market.Quote
	if err := ParseLine(&p, []byte(`{"s":"A","seq":1,"ts":5}`), &q); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("ParseLine accepted seq: %v", err)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{
		`{"s":"BTC-USD","seq":8812,"ts":1764000000123456,"bid":"64000.10","ask_size":"1.25"}`,
		`{"s":"A","seq":1,"ts":5}`, `{"s":"A","seq":18446744073709551615,"ts":5,"volume":"1e3"}`, `{`,
		`{"s":"A","seq":2,"ts":5,"stale":true}`, `{"s":"A","seq":3,"ts":6,"bid":"1","stale":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var p fastjson.Parser
		var q market.Quote
		if err := ParseVersion(&p, msg, &q); err != nil {
			return
		}
		if market.ValidateSymbol(q.Symbol) != nil || q.TsMicros <= 0 || q.Seq == 0 {
			t.Fatalf("accepted %q as %s", msg, q.AppendJSON(nil))
		}
		var q2 market.Quote
		if err := ParseVersion(&p, q.AppendJSON(nil), &q2); err != nil || q2 != q {
			t.Fatalf("round trip of %q: %s, %v", msg, q2.AppendJSON(nil), err)
		}
	})
}
