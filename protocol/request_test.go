package protocol

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		in   string
		want string // "op id symbols" or "error code id"
	}{
		{`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD"]}`, `subscribe 1 [AAPL BTC-USD]`},
		{`{"op":"unsubscribe","id":"x","symbols":["*"]}`, `unsubscribe "x" [*]`},
		{`{"op":"ping"}`, `ping  []`},
		{`{"op":"ping","id":-2.5e3}`, `ping -2.5e3 []`},
		{`{"op":"ping","extra":{"ignored":true}}`, `ping  []`},
		{` {"symbols":["A"],"op":"subscribe"} `, `subscribe  [A]`},
		{``, `error bad_request `},
		{`nope`, `error bad_request `},
		{`"op"`, `error bad_request `},
		{`{}`, `error bad_request `},
		{`{"op":1}`, `error bad_request `},
		{`{"op":"subscribe","id":7}`, `error bad_request 7`},
		{`{"op":"subscribe","id":7,"symbols":[]}`, `error bad_request 7`},
		{`{"op":"subscribe","id":7,"symbols":[1]}`, `error bad_request 7`},
		{`{"op":"subscribe","id":7,"symbols":"A"}`, `error bad_request 7`},
		{`{"op":"ping","id":null}`, `error bad_request `},
		{`{"op":"ping","id":[1]}`, `error bad_request `},
		{`{"op":"ping","id":"` + fmt.Sprintf("%070d", 0) + `"}`, `error bad_request `},
		{`{"op":"fly","id":3}`, `error unknown_op 3`},
		{`{"op":"subscribe","symbols":["A"]`, `error bad_request `},
		// strict JSON (RFC 8259): no \x escapes, no raw control characters in strings
		{`{"op":"ping","id":"\x41"}`, `error bad_request `},
		{"{\"op\":\"ping\",\"id\":\"a\x01b\"}", `error bad_request `},
		{"{\"op\":\"pi\tng\"}", `error bad_request `},
		{`{"op":"p\ing"}`, `error bad_request `},
		{`{"op":"ping","id":01}`, `error bad_request `},
		{`{"op":"ping","id":"\u0041"}`, `ping "A" []`},
		{`{"op":"ping"} {"op":"ping"}`, `error bad_request `},
		// a string id of up to 64 bytes, its quotes not counted
		{`{"op":"ping","id":"` + fmt.Sprintf("%063d", 0) + `"}`, `ping "` + fmt.Sprintf("%063d", 0) + `" []`},
		{`{"op":"ping","id":"` + fmt.Sprintf("%064d", 0) + `"}`, `ping "` + fmt.Sprintf("%064d", 0) + `" []`},
		{`{"op":"ping","id":"` + fmt.Sprintf("%065d", 0) + `"}`, `error bad_request `},
		{`{"op":"ping","id":` + fmt.Sprintf("1%063d", 0) + `}`, `ping 1` + fmt.Sprintf("%063d", 0) + ` []`},
		{`{"op":"ping","id":` + fmt.Sprintf("1%064d", 0) + `}`, `error bad_request `},
		// \u escapes of UTF-16 surrogates only in high-low pairs (what JSON.stringify writes for a lone one is refused)
		{`{"op":"ping","id":"\ud83d\ude00"}`, `ping "😀" []`},
		{`{"op":"ping","id":"\uD83D\uDE00x"}`, `ping "😀x" []`},
		{`{"op":"ping","id":"\ud800"}`, `error bad_request `},
		{`{"op":"ping","id":"\ud800\u0041"}`, `error bad_request `},
		{`{"op":"ping","id":"\ud800\ud800"}`, `error bad_request `},
		{`{"op":"ping","id":"\udc00"}`, `error bad_request `},
		{`{"op":"ping","id":"a\\ud800"}`, `ping "a\\ud800" []`},
		{`{"op":"subscribe","symbols":["\ud800"]}`, `error bad_request `},
		// every: an interval for subscribe only, ParseEvery's syntax
		{`{"op":"subscribe","id":1,"symbols":["A"],"every":"1s"}`, `subscribe 1 [A] 1s`},
		{`{"op":"subscribe","symbols":["A"],"every":"250ms"}`, `subscribe  [A] 250ms`},
		{`{"op":"subscribe","symbols":["A"],"every":"1m"}`, `subscribe  [A] 1m0s`},
		{`{"op":"unsubscribe","symbols":["A"],"every":"nonsense"}`, `unsubscribe  [A]`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":1}`, `error bad_request 2`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":"1.5s"}`, `error bad_request 2`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":"61s"}`, `error bad_request 2`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":"0s"}`, `error bad_request 2`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":"-1s"}`, `error bad_request 2`},
		{`{"op":"subscribe","id":2,"symbols":["A"],"every":null}`, `error bad_request 2`},
	}
	var p fastjson.Parser
	for _, tt := range tests {
		r, perr := ParseRequest(&p, []byte(tt.in))
		var got string
		if perr != nil {
			got = fmt.Sprintf("error %s %s", perr.Code, perr.ID)
		} else {
			got = fmt.Sprintf("%s %s %v", r.Op, r.ID, r.Symbols)
			if r.Symbols == nil {
				got = fmt.Sprintf("%s %s []", r.Op, r.ID)
			}
			if r.Every != 0 {
				got += " " + r.Every.String()
			}
		}
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// FuzzParseRequest: the parser never panics; what it accepts has a known op,
// an id that is valid JSON, and symbols only for (un)subscribe.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD"]}`, `{"op":"unsubscribe","symbols":["*"]}`,
		`{"op":"ping","id":"x"}`, `{"op":"x"}`, `{`, `[]`, `{"op":"subscribe","symbols":[1,2]}`, `{"op":"subscribe","symbols":["A"],"every":"1s"}`, "{\"op\":\"ping\",\"id\":\"\\u00e9\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var p fastjson.Parser
		r, perr := ParseRequest(&p, msg)
		if perr != nil {
			if perr.Code != "bad_request" && perr.Code != "unknown_op" {
				t.Fatalf("code %q", perr.Code)
			}
			if perr.ID != nil && !json.Valid(perr.ID) {
				t.Fatalf("echoed id %q is not JSON", perr.ID)
			}
			return
		}
		if r.Every < 0 || r.Every > MaxEvery || (r.Every != 0 && r.Op != "subscribe") {
			t.Fatalf("every %v for %s", r.Every, r.Op)
		}
		switch r.Op {
		case "subscribe", "unsubscribe":
			if len(r.Symbols) == 0 {
				t.Fatal("accepted a subscribe without symbols")
			}
		case "ping":
			if r.Symbols != nil || r.Every != 0 {
				t.Fatal("ping with symbols")
			}
		default:
			t.Fatalf("accepted op %q", r.Op)
		}
		if r.ID != nil && !json.Valid(r.ID) {
			t.Fatalf("id %q", r.ID)
		}
		if !json.Valid(msg) {
			t.Fatalf("accepted %q, which encoding/json says is not JSON", msg)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	msg := []byte(`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD","EUR-USD"]}`)
	var p fastjson.Parser
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(&p, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseEvery(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // 0: refused
	}{
		{"1ms", time.Millisecond}, {"50ms", 50 * time.Millisecond}, {"1s", time.Second}, {"60s", time.Minute},
		{"1m", time.Minute}, {"60000ms", time.Minute}, {"60001ms", 0}, {"2m", 0}, {"61s", 0},
		{"", 0}, {"s", 0}, {"ms", 0}, {"0s", 0}, {"01s", 0}, {"+1s", 0}, {"-1s", 0}, {"1.5s", 0},
		{"1 s", 0}, {"1S", 0}, {"1h", 0}, {"1us", 0}, {"100000s", 0}, {"1sms", 0},
	}
	for _, tt := range tests {
		got, ok := ParseEvery([]byte(tt.in))
		if !ok {
			got = 0
		}
		if got != tt.want {
			t.Errorf("ParseEvery(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
		if back := AppendEvery(nil, got); ok {
			if again, _ := ParseEvery(back); again != got {
				t.Errorf("AppendEvery(%v) = %q, which reads as %v", got, back, again)
			}
		}
	}
}

func TestAppendRangeDelta(t *testing.T) {
	q := market.Quote{Symbol: "BTC-USD", Seq: 8830, TsMicros: 1764000000171234}
	q.Set(market.Bid, market.MustDecimal("64000.11"))
	got, _ := AppendRangeDelta([]byte("x"), nil, &q, 8813)
	if want := `x{"s":"BTC-USD","from":8813,"seq":8830,"ts":1764000000171234,"bid":"64000.11"}`; string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
