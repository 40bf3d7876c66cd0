package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/syncbuf"
	"github.com/ticker-io/ticker/market"
)

// collectSink records what a feed delivers.
type collectSink struct {
	mu        sync.Mutex
	quotes    []market.Quote
	malformed []error
	limit     int // cancel after this many quotes, if > 0
	cancel    context.CancelFunc
}

func (c *collectSink) Push(ctx context.Context, q *market.Quote) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quotes = append(c.quotes, *q)
	if c.limit > 0 && len(c.quotes) >= c.limit && c.cancel != nil {
		c.cancel()
	}
	return nil
}

func (c *collectSink) Malformed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.malformed = append(c.malformed, err)
}

func TestParseSpec(t *testing.T) {
	good := []struct{ spec, name string }{
		{"synthetic", "synthetic"},
		{"synthetic:?symbols=5&rate=10&seed=3", "synthetic:?symbols=5&rate=10&seed=3"},
		{"replay:testdata/mixed.ndjson", "replay:testdata/mixed.ndjson"},
		{"replay:testdata/mixed.ndjson?speed=0&loop=false", "replay:testdata/mixed.ndjson?speed=0&loop=false"},
	}
	for _, tt := range good {
		f, err := Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if f.Name() != tt.name {
			t.Errorf("Parse(%q).Name() = %q", tt.spec, f.Name())
		}
	}
	bad := []struct{ spec, mention string }{
		{"", "empty kind"},
		{"kafka:topic", `unknown kind "kafka"`},
		{"synthetic:x", "takes no target"},
		{"synthetic:?symbols=0", "symbols"},
		{"synthetic:?symbols=abc", "symbols"},
		{"synthetic:?rate=-1", "rate"},
		{"synthetic:?rate=NaN", "rate"},
		{"synthetic:?colour=red", `unknown option "colour"`},
		{"replay:", "needs a file"},
		{"replay:testdata/missing.ndjson", "missing.ndjson"},
		{"replay:testdata/mixed.ndjson?speed=-2", "speed"},
		{"replay:testdata/mixed.ndjson?loop=maybe", "loop"},
		{"replay:testdata/mixed.ndjson?sped=2", `unknown option "sped"`},
		{"replay:testdata/mixed.ndjson?speed=%zz", "options"},
		{"replay:testdata", "testdata is not a regular file"},   // a directory
		{"replay:/dev/zero", "/dev/zero is not a regular file"}, // endless: would hang startup
		{"binance:btcusdt?url=ftp://x", "url"},                  // a venue option
		{"coinbase:BTC-USD?silence=1ns", "silence"},             // below its range
	}
	for _, tt := range bad {
		_, err := Parse(tt.spec)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", tt.spec)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Parse(%q) error %q does not mention %q", tt.spec, err, tt.mention)
		}
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	a, _ := NewSynthetic("a", SyntheticConfig{Symbols: 30, Rate: 100, Seed: 42})
	b, _ := NewSynthetic("b", SyntheticConfig{Symbols: 30, Rate: 100, Seed: 42})
	c, _ := NewSynthetic("c", SyntheticConfig{Symbols: 30, Rate: 100, Seed: 43})
	var qa, qb, qc market.Quote
	differ := false
	for i := 0; i < 5000; i++ {
		a.Next(&qa)
		b.Next(&qb)
		c.Next(&qc)
		if qa != qb {
			t.Fatalf("same seed, step %d: %s vs %s", i, qa.AppendJSON(nil), qb.AppendJSON(nil))
		}
		if qa != qc {
			differ = true
		}
	}
	if !differ {
		t.Fatal("different seeds gave the same walk")
	}
}

// TestSyntheticRealistic checks every generated quote against its
// instrument: prices on the tick grid, a positive spread, sizes in lots.
func TestSyntheticRealistic(t *testing.T) {
	s, err := NewSynthetic("s", SyntheticConfig{Symbols: 40, Rate: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Symbols(); len(got) != 40 || got[0] != "AAPL" || got[39] != "SYM0040" {
		t.Fatalf("symbols %v", got)
	}
	byName := map[string]*instrumentState{}
	for i := range s.insts {
		byName[s.insts[i].symbol] = &s.insts[i]
	}
	onGrid := func(d market.Decimal, mant int64, scale int32) bool {
		return d.Big().Mod(market.NewDecimal(mant, scale).Big()).IsZero()
	}
	classes := map[string]bool{}
	var q market.Quote
	books := map[string]market.Quote{}
	for i := 0; i < 20000; i++ {
		if i < 80 {
			s.Open(i, &q)
		} else {
			s.Next(&q)
		}
		in := byName[q.Symbol]
		classes[in.class] = true
		for f := market.Field(0); f < market.NumFields; f++ {
			v, ok := q.Get(f)
			if !ok {
				continue
			}
			if f.IsSize() {
				if v.Sign() <= 0 || !onGrid(v, in.lotMant, in.lotScale) {
					t.Fatalf("%s %s=%s off the lot grid", q.Symbol, f.Name(), v)
				}
			} else if v.Sign() <= 0 || !onGrid(v, in.tickMant, in.tickScale) {
				t.Fatalf("%s %s=%s off the tick grid", q.Symbol, f.Name(), v)
			}
		}
		if bid, ok := q.Get(market.Bid); ok {
			ask, _ := q.Get(market.Ask)
			if !ask.Big().GreaterThan(bid.Big()) {
				t.Fatalf("%s crossed book: bid %s ask %s", q.Symbol, bid, ask)
			}
			books[q.Symbol] = q
		}
	}
	for _, c := range []string{"equity", "crypto", "fx", "future"} {
		if !classes[c] {
			t.Errorf("no %s instrument", c)
		}
	}
	if len(books) != 40 {
		t.Errorf("%d of 40 symbols got a book", len(books))
	}
}

// TestSyntheticLastAtTheTouch: folded into each symbol's full state, the
// walk looks like a market: the last trade is never outside [bid, ask] and
// the book is never crossed or locked (issue #15: 98 of 200 sampled quotes
// had last outside the book).
func TestSyntheticLastAtTheTouch(t *testing.T) {
	s, _ := NewSynthetic("s", SyntheticConfig{Symbols: 24, Rate: 100, Seed: 3})
	full := map[string]*market.Quote{}
	var q market.Quote
	trades := 0
	for i := 0; i < 50000; i++ {
		if !s.Open(i, &q) {
			s.Next(&q)
		}
		f := full[q.Symbol]
		if f == nil {
			f = &market.Quote{Symbol: q.Symbol}
			full[q.Symbol] = f
		}
		for fl := market.Field(0); fl < market.NumFields; fl++ {
			if v, ok := q.Get(fl); ok {
				f.Set(fl, v)
			}
		}
		if q.Fields.Has(market.Last) {
			trades++
		}
		bid, okb := f.Get(market.Bid)
		ask, oka := f.Get(market.Ask)
		last, okl := f.Get(market.Last)
		if !okb || !oka {
			continue
		}
		if !ask.Big().GreaterThan(bid.Big()) {
			t.Fatalf("step %d %s: bid %s ask %s", i, q.Symbol, bid, ask)
		}
		if okl && (last.Big().LessThan(bid.Big()) || last.Big().GreaterThan(ask.Big())) {
			t.Fatalf("step %d %s: last %s outside [%s, %s]", i, q.Symbol, last, bid, ask)
		}
	}
	if trades < 10000 {
		t.Errorf("%d trades in 50000 steps", trades)
	}
}

func TestSyntheticRunPacesRate(t *testing.T) {
	s, _ := NewSynthetic("s", SyntheticConfig{Symbols: 5, Rate: 1000, Seed: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sink := &collectSink{}
	if err := s.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	// 10 opening quotes, then about 300; only an order of magnitude is asserted
	if n := len(sink.quotes); n < 50 || n > 2000 {
		t.Fatalf("%d quotes in 300ms at rate 1000", n)
	}
	for _, q := range sink.quotes {
		if q.TsMicros == 0 {
			t.Fatal("quote without ts")
		}
	}
}

func TestReplay(t *testing.T) {
	r, err := NewReplay("r", "testdata/mixed.ndjson", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Symbols(), ","); got != "AAPL,BTC-USD" {
		t.Fatalf("symbols %s", got)
	}
	sink := &collectSink{}
	if err := r.Run(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.quotes) != 4 {
		t.Fatalf("%d quotes, want 4", len(sink.quotes))
	}
	wantLines := []string{"line 6:", "line 7:", "line 8:", "line 9:"}
	if len(sink.malformed) != len(wantLines) {
		t.Fatalf("malformed %v", sink.malformed)
	}
	for i, w := range wantLines {
		if !strings.Contains(sink.malformed[i].Error(), w) || !strings.Contains(sink.malformed[i].Error(), "mixed.ndjson") {
			t.Errorf("malformed[%d] = %v, want it to name %s", i, sink.malformed[i], w)
		}
	}
	if got := string(sink.quotes[3].AppendJSON(nil)); got != `{"s":"BTC-USD","seq":0,"ts":1764000000009000,"last":"64000.15","last_size":"0.01","volume":"1234.5678"}` {
		t.Fatalf("last quote %s", got)
	}
}

func TestReplayLoopShiftsTimestamps(t *testing.T) {
	r, err := NewReplay("r", "testdata/mixed.ndjson", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &collectSink{limit: 12, cancel: cancel}
	if err := r.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.malformed) != 4 {
		t.Fatalf("malformed lines reported %d times, want once per line", len(sink.malformed))
	}
	for i := 1; i < len(sink.quotes); i++ {
		if sink.quotes[i].TsMicros <= sink.quotes[i-1].TsMicros {
			t.Fatalf("ts not rising across loops at %d: %d then %d", i, sink.quotes[i-1].TsMicros, sink.quotes[i].TsMicros)
		}
	}
	if d := sink.quotes[4].TsMicros - sink.quotes[0].TsMicros; d != 9000+1000 {
		t.Fatalf("second pass shifted by %d µs, want 10000", d)
	}
}

func TestReplaySpeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "slow.ndjson")
	// 200ms of fixture time
	os.WriteFile(path, []byte(`{"ts":1000000,"s":"A","bid":"1"}
{"ts":1200000,"s":"A","bid":"2"}
`), 0o644)
	for _, tt := range []struct {
		speed    float64
		min, max time.Duration
	}{{1, 150 * time.Millisecond, 5 * time.Second}, {0, 0, 150 * time.Millisecond}} {
		r, err := NewReplay("r", path, tt.speed, false)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(context.Background(), &collectSink{}); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < tt.min || el > tt.max {
			t.Errorf("speed %g took %v, want %v..%v", tt.speed, el, tt.min, tt.max)
		}
	}
}

func TestReplayLongLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "long.ndjson")
	long := `{"ts":1,"s":"A","bid":"` + strings.Repeat("1", maxLineBytes) + `"}`
	os.WriteFile(path, []byte(`{"ts":1,"s":"A","bid":"1"}`+"\n"+long+"\n"+`{"ts":2,"s":"A","bid":"2"}`), 0o644)
	r, err := NewReplay("r", path, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collectSink{}
	if err := r.Run(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.quotes) != 2 || len(sink.malformed) != 1 || !strings.Contains(sink.malformed[0].Error(), "line 2: longer than") {
		t.Fatalf("quotes %d malformed %v", len(sink.quotes), sink.malformed)
	}
}

func TestSet(t *testing.T) {
	a, _ := NewSynthetic("a", SyntheticConfig{Symbols: 3, Rate: 10, Seed: 1})
	r, _ := NewReplay("r", "testdata/mixed.ndjson", 0, false)
	if _, err := NewSet(nil, a, r); err == nil || !strings.Contains(err.Error(), "both deliver symbol AAPL") {
		t.Fatalf("overlapping feeds: %v", err)
	}
	if _, err := NewSet(nil, r, r); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("duplicate feeds: %v", err)
	}
	set, err := NewSet(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if set.Ready() {
		t.Fatal("ready before start")
	}
	sink := &collectSink{}
	set.Start(context.Background(), sink)
	set.Wait()
	if !set.Ready() {
		t.Fatal("not ready after the replay finished")
	}
	st := set.Statuses()[0]
	if st.Quotes != 4 || st.Errors != 4 || !st.Finished || !st.Delivered || st.Err != "" {
		t.Fatalf("status %+v", st)
	}
}

// TestSetWaitBeforeStart: an ingest node may win the lease (and start its
// feeds) while its node shuts down and waits for them. A Start after Wait
// starts nothing; a Start racing a Wait is safe (go test -race saw the
// WaitGroup's Add race its Wait before they were ordered).
func TestSetWaitBeforeStart(t *testing.T) {
	r, _ := NewReplay("r", "testdata/mixed.ndjson", 0, false)
	set, err := NewSet(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	set.Wait()
	sink := &collectSink{}
	set.Start(context.Background(), sink)
	set.Wait()
	sink.mu.Lock()
	n := len(sink.quotes)
	sink.mu.Unlock()
	if n != 0 || set.Statuses()[0].Finished {
		t.Fatalf("a Start after Wait ran the feed: %d quotes", n)
	}
	for i := 0; i < 200; i++ {
		r, _ := NewReplay("r", "testdata/mixed.ndjson", 0, false)
		set, err := NewSet(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		go func() { defer close(started); set.Start(ctx, &collectSink{}) }()
		cancel()
		set.Wait()
		<-started
		set.Wait() // whichever came first, nothing runs past this
	}
}

// TestMalformedLogged: each of a replay's first 10 malformed lines is
// logged with its line number; the rest are counted, and logged at most once
// a second.
func TestMalformedLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.ndjson")
	var lines []string
	for i := 0; i < 25; i++ {
		lines = append(lines, fmt.Sprintf(`{"ts":%d,"s":"AAPL","bid":1}`, i+1)) // a number where a string belongs
	}
	lines = append(lines, `{"ts":100,"s":"AAPL","bid":"1"}`)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewReplay("r", path, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	set, err := NewSet(slog.New(slog.NewTextHandler(&logs, nil)), r)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collectSink{}
	set.Start(context.Background(), sink)
	set.Wait()
	out := logs.String()
	warned := strings.Count(out, "feed input skipped")
	for i := 1; i <= 10; i++ {
		if !strings.Contains(out, fmt.Sprintf("bad.ndjson line %d:", i)) {
			t.Errorf("line %d not logged", i)
		}
	}
	if warned < 10 || warned > 12 {
		t.Errorf("%d warnings for 25 bad lines, want the first 10 and at most one a second after", warned)
	}
	if st := set.Statuses()[0]; st.Errors != 25 {
		t.Errorf("errors %d, want all 25 counted", st.Errors)
	}
}
