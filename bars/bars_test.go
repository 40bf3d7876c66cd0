package bars

import (
	"context"
	"fmt"
	"testing"

	"github.com/ticker-io/ticker/market"
)

// quote builds a full quote at second sec (plus micros) from "field=value" pairs.
func quote(sym string, sec, micros int64, kv ...string) market.Quote {
	q := market.Quote{Symbol: sym, TsMicros: sec*1e6 + micros}
	for i := 0; i < len(kv); i += 2 {
		f, ok := market.FieldByName([]byte(kv[i]))
		if !ok {
			panic(kv[i])
		}
		q.Set(f, market.MustDecimal(kv[i+1]))
	}
	return q
}

// bar formats a bar as "time o h l c v".
func bar(b Bar) string {
	return fmt.Sprintf("%d %s %s %s %s %s", b.Time, b.Open, b.High, b.Low, b.Close, b.Volume)
}

const t0 = 1764000000 // a multiple of 60

func TestAggregator(t *testing.T) {
	for _, tt := range []struct {
		name     string
		quotes   []market.Quote
		sec, min []string
		notFound string
	}{
		{
			name: "trades make the bars; book changes between them do not",
			quotes: []market.Quote{
				quote("A", t0, 0, "bid", "10", "ask", "10.2", "last", "10.1", "last_size", "5", "volume", "5"),
				quote("A", t0, 100, "bid", "10.05", "ask", "10.2", "last", "10.1", "last_size", "5", "volume", "5"), // book only
				quote("A", t0, 200, "bid", "10.05", "ask", "10.2", "last", "10.2", "last_size", "1.5", "volume", "6.5"),
				quote("A", t0, 300, "bid", "10.05", "ask", "10.2", "last", "10.05", "last_size", "0.25", "volume", "6.75"),
				quote("A", t0+1, 0, "bid", "10.05", "ask", "10.2", "last", "10.15", "last_size", "2", "volume", "8.75"),
			},
			sec: []string{"1764000000 10.1 10.2 10.05 10.05 6.75", "1764000001 10.15 10.15 10.15 10.15 2"},
			min: []string{"1764000000 10.1 10.2 10.05 10.15 8.75"},
		},
		{
			name: "the same price and size again is a trade when the volume moved",
			quotes: []market.Quote{
				quote("A", t0, 0, "last", "1", "last_size", "1", "volume", "1"),
				quote("A", t0, 1, "last", "1", "last_size", "1", "volume", "2"),
			},
			sec: []string{"1764000000 1 1 1 1 2"},
			min: []string{"1764000000 1 1 1 1 2"},
		},
		{
			name: "a symbol that never traded gets mid-price bars without volume",
			quotes: []market.Quote{
				quote("FX", t0, 0, "bid", "1.08215", "ask", "1.08218"),
				quote("FX", t0, 5, "bid", "1.08216", "ask", "1.08218"),
				quote("FX", t0+61, 0, "bid", "1.0821", "ask", "1.0822"),
				quote("FX", t0+61, 1, "bid", "1.0821"), // no ask: no mid
			},
			sec: []string{"1764000000 1.082165 1.08217 1.082165 1.08217 0", "1764000061 1.08215 1.08215 1.08215 1.08215 0"},
			min: []string{"1764000000 1.082165 1.08217 1.082165 1.08217 0", "1764000060 1.08215 1.08215 1.08215 1.08215 0"},
		},
		{
			name: "once traded, mids no longer count",
			quotes: []market.Quote{
				quote("A", t0, 0, "bid", "9", "ask", "11"),
				quote("A", t0+1, 0, "bid", "9", "ask", "11", "last", "10.5", "last_size", "1"),
				quote("A", t0+2, 0, "bid", "8", "ask", "9", "last", "10.5", "last_size", "1"),
			},
			sec: []string{"1764000000 10 10 10 10 0", "1764000001 10.5 10.5 10.5 10.5 1"},
			min: []string{"1764000000 10 10.5 10 10.5 1"},
		},
		{
			name: "a late version folds into the latest bar",
			quotes: []market.Quote{
				quote("A", t0+5, 0, "last", "2", "last_size", "1"),
				quote("A", t0+3, 0, "last", "3", "last_size", "1"),
			},
			sec: []string{"1764000005 2 3 2 3 2"},
			min: []string{"1764000000 2 3 2 3 2"},
		},
		{
			name: "exact decimals beyond 18 digits",
			quotes: []market.Quote{
				quote("D", t0, 0, "last", "0.000000000000000000001", "last_size", "99999999999999999999"),
				quote("D", t0, 1, "last", "0.000000000000000000002", "last_size", "1"),
			},
			sec: []string{"1764000000 0.000000000000000000001 0.000000000000000000002 0.000000000000000000001 0.000000000000000000002 100000000000000000000"},
			min: []string{"1764000000 0.000000000000000000001 0.000000000000000000002 0.000000000000000000001 0.000000000000000000002 100000000000000000000"},
		},
		{
			name:     "an unknown symbol is not found",
			notFound: "NOPE",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := New()
			for i := range tt.quotes {
				a.Version(nil, &tt.quotes[i])
			}
			if tt.notFound != "" {
				if _, found, _ := a.Bars(context.Background(), tt.notFound, Second, 10); found {
					t.Fatal("found")
				}
				return
			}
			sym := tt.quotes[0].Symbol
			for iv, want := range map[Interval][]string{Second: tt.sec, Minute: tt.min} {
				bs, found, err := a.Bars(context.Background(), sym, iv, 1000)
				if !found || err != nil {
					t.Fatalf("%s: found %v err %v", iv, found, err)
				}
				var got []string
				for _, b := range bs {
					got = append(got, bar(b))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s bars:\n got %q\nwant %q", iv, got, want)
				}
			}
		})
	}
}

// TestAggregatorBounded: the rings keep 900 one-second and 1440 one-minute
// bars, the newest, and limit takes the newest few.
func TestAggregatorBounded(t *testing.T) {
	a := New()
	const secs = 2 * 24 * 3600
	for s := int64(0); s < secs; s += 7 { // a trade every 7 s for two days
		q := quote("A", t0+s, 0, "last", fmt.Sprint(s%1000+1), "last_size", "1", "volume", fmt.Sprint(s))
		a.Add(&q)
	}
	ctx := context.Background()
	sec, _, _ := a.Bars(ctx, "A", Second, 5000)
	min, _, _ := a.Bars(ctx, "A", Minute, 5000)
	last := int64(t0 + (secs-1)/7*7)
	// 15 minutes of 1s bars at one bar per 7 s: 129; 24 h of 1m bars
	if len(sec) != 129 || sec[len(sec)-1].Time != last || sec[0].Time < last-899 {
		t.Errorf("1s: %d bars, %d…%d (latest %d)", len(sec), sec[0].Time, sec[len(sec)-1].Time, last)
	}
	if len(min) != 1440 || min[len(min)-1].Time != last-last%60 {
		t.Errorf("1m: %d bars, latest %d", len(min), min[len(min)-1].Time)
	}
	if got := len(a.series["A"].rings[Second].bars); got != 900 {
		t.Errorf("1s ring holds %d bars, want 900", got)
	}
	few, _, _ := a.Bars(ctx, "A", Minute, 3)
	if len(few) != 3 || few[2] != min[len(min)-1] || few[0] != min[len(min)-3] {
		t.Errorf("limit 3: %v", few)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	bs := []Bar{
		{Time: t0, Open: market.MustDecimal("1.5"), High: market.MustDecimal("2"), Low: market.MustDecimal("1"),
			Close: market.MustDecimal("1.25"), Volume: market.MustDecimal("123456789012345678901234.5")},
	}
	js := AppendJSON(nil, "EUR/USD", Minute, bs)
	want := `{"symbol":"EUR/USD","interval":"1m","bars":[{"time":1764000000,"open":"1.5","high":"2","low":"1","close":"1.25","volume":"123456789012345678901234.5"}]}`
	if string(js) != want {
		t.Fatalf("got  %s\nwant %s", js, want)
	}
	sym, iv, got, err := ParseJSON(js)
	if err != nil || sym != "EUR/USD" || iv != Minute || len(got) != 1 || got[0] != bs[0] {
		t.Fatalf("parsed %q %v %v %v", sym, iv, got, err)
	}
	if empty := AppendJSON(nil, "A", Second, nil); string(empty) != `{"symbol":"A","interval":"1s","bars":[]}` {
		t.Errorf("empty: %s", empty)
	}
}

// BenchmarkAdd is the cost on the engine's goroutine of one version.
func BenchmarkAdd(b *testing.B) {
	a := New()
	qs := make([]market.Quote, 1000)
	for i := range qs {
		qs[i] = quote(fmt.Sprintf("S%03d", i%200), t0+int64(i/200), int64(i), "bid", "100.01", "ask", "100.03",
			"last", fmt.Sprintf("100.0%d", i%3+1), "last_size", "10", "volume", fmt.Sprint(i*10))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		q.TsMicros += 1e5 // a new bar every 10 versions of a symbol
		a.Add(q)
		i++
	}
}
