package tickertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ticker-io/ticker/client"
	"github.com/ticker-io/ticker/internal/rawws"
	"github.com/ticker-io/ticker/tickertest"
)

// spreadBot is a small bot on the Go client: it logs every change it is
// told of and alerts when a symbol's spread is wider than limit.
type spreadBot struct {
	limit decimal.Decimal

	mu     sync.Mutex
	log    []string
	alerts []string
	last   map[string]uint64
}

func (b *spreadBot) onUpdate(u client.Update) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := u.Quote
	b.log = append(b.log, fmt.Sprintf("%s seq=%d ts=%d snapshot=%v bid=%s ask=%s last=%s",
		q.Symbol, q.Seq, q.Time.UnixMicro(), u.Snapshot, q.Bid.Decimal, q.Ask.Decimal, q.Last.Decimal))
	if s, ok := q.Spread(); ok && s.GreaterThan(b.limit) {
		b.alerts = append(b.alerts, fmt.Sprintf("%s %s at seq %d", q.Symbol, s, q.Seq))
	}
	b.last[q.Symbol] = q.Seq
}

func (b *spreadBot) seq(symbol string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last[symbol]
}

// runBot runs the bot against a fresh test server through one scripted
// session and returns what it logged and alerted.
func runBot(t *testing.T) (log, alerts []string) {
	t.Helper()
	srv := tickertest.New(t, tickertest.Options{Symbols: []string{"BTC-USD", "ETH-USD"}, Window: 100 * time.Millisecond})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	step := func() {
		t.Helper()
		_, err := srv.Step()
		must(err)
	}
	// the market before the bot starts: its snapshot
	must(srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.10", Ask: "64000.20"},
		tickertest.Quote{Symbol: "ETH-USD", Bid: "3200.45", Ask: "3200.48"}))
	step()

	bot := &spreadBot{limit: decimal.RequireFromString("0.5"), last: map[string]uint64{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := client.New(client.Options{URL: srv.URL(), Symbols: []string{"BTC-USD", "ETH-USD"}, OnUpdate: bot.onUpdate})
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	must(srv.WaitSubscriptions(2))

	// three windows; the second holds two changes of BTC-USD, coalesced
	must(srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Ask: "64001.00"}))
	step()
	must(srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.90"},
		tickertest.Quote{Symbol: "ETH-USD", Last: "3200.46"},
		tickertest.Quote{Symbol: "BTC-USD", Last: "64000.95"}))
	step()
	step() // nothing changed: nothing is sent
	must(srv.Publish(tickertest.Quote{Symbol: "ETH-USD", Ask: "3201.50", Time: time.UnixMicro(1764000000777000)}))
	step()

	deadline := time.Now().Add(10 * time.Second)
	for bot.seq("BTC-USD") < 3 || bot.seq("ETH-USD") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the bot got %v", bot.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	bot.mu.Lock()
	defer bot.mu.Unlock()
	return bot.log, bot.alerts
}

// TestBotSeesTheSameMarketTwice: a bot on the Go client, run twice against
// a test server with the same script, sees the same changes in the same
// order, with the same seqs and timestamps (the server's clock, not the
// wall's), and raises the same alerts.
func TestBotSeesTheSameMarketTwice(t *testing.T) {
	log1, alerts1 := runBot(t)
	log2, alerts2 := runBot(t)
	if !reflect.DeepEqual(log1, log2) || !reflect.DeepEqual(alerts1, alerts2) {
		t.Fatalf("two runs differ:\n%s\n%v\n---\n%s\n%v", strings.Join(log1, "\n"), alerts1, strings.Join(log2, "\n"), alerts2)
	}
	start := tickertest.DefaultStart.UnixMicro()
	want := []string{
		fmt.Sprintf("BTC-USD seq=1 ts=%d snapshot=true bid=64000.1 ask=64000.2 last=0", start),
		fmt.Sprintf("ETH-USD seq=1 ts=%d snapshot=true bid=3200.45 ask=3200.48 last=0", start),
		// published without a ts: the clock's time, the last step's
		fmt.Sprintf("BTC-USD seq=2 ts=%d snapshot=false bid=64000.1 ask=64001 last=0", start+100000),
		fmt.Sprintf("BTC-USD seq=3 ts=%d snapshot=false bid=64000.9 ask=64001 last=64000.95", start+200000),
		fmt.Sprintf("ETH-USD seq=2 ts=%d snapshot=false bid=3200.45 ask=3200.48 last=3200.46", start+200000),
		"ETH-USD seq=3 ts=1764000000777000 snapshot=false bid=3200.45 ask=3201.5 last=3200.46",
	}
	if !reflect.DeepEqual(log1, want) {
		t.Errorf("the bot saw\n%s\nwant\n%s", strings.Join(log1, "\n"), strings.Join(want, "\n"))
	}
	if want := []string{"BTC-USD 0.9 at seq 2", "ETH-USD 1.05 at seq 3"}; !reflect.DeepEqual(alerts1, want) {
		t.Errorf("alerts %v, want %v", alerts1, want)
	}
}

// rawSession reads every text message a raw connection gets through a
// scripted session on a fixture, step by step.
func rawSession(t *testing.T, deflate bool) []string {
	t.Helper()
	fixture := filepath.Join("..", "fixtures", "crypto.ndjson")
	srv := tickertest.New(t, tickertest.Options{Fixture: fixture})
	ext := ""
	if deflate {
		ext = "permessage-deflate"
	}
	conn, err := rawws.Dial(srv.Addr(), rawws.Options{Path: "/ws?symbols=BTC-USD,ETH-USD", Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := srv.WaitSubscriptions(2); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	pings := 0
	// barrier pings and reads every text message up to the pong: the server
	// queues the pong after everything queued before it
	barrier := func() {
		t.Helper()
		pings++
		if err := conn.WriteText(fmt.Sprintf(`{"op":"ping","id":%d}`, pings)); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := conn.ReadMessage(10 * time.Second)
			if err != nil {
				t.Fatalf("reading up to pong %d: %v (after %v)", pings, err, msgs)
			}
			if m.Op != rawws.OpText {
				continue
			}
			msgs = append(msgs, string(m.Payload))
			if strings.HasPrefix(string(m.Payload), fmt.Sprintf(`{"type":"pong","id":%d,`, pings)) {
				return
			}
		}
	}
	barrier() // the subscribed ack; no quote yet, so no snapshot
	for i := 0; i < 3; i++ {
		w, err := srv.StepNext()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, fmt.Sprintf("-- next: %d quotes at %d", w.Quotes, w.Time.UnixMicro()))
	}
	w, err := srv.Step()
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, fmt.Sprintf("-- step: %d quotes at %d", w.Quotes, w.Time.UnixMicro()))
	w, err = srv.StepTo(w.Time.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, fmt.Sprintf("-- to: %d quotes at %d, more %v", w.Quotes, w.Time.UnixMicro(), w.More))
	barrier()
	return msgs
}

// TestFixtureStepsAreTheSameBytes: a fixture replayed step by step gives
// the same messages, byte for byte ("time" included), in two runs, with and
// without compression; StepNext takes the next ts's lines, Step one window,
// StepTo all lines up to a time.
func TestFixtureStepsAreTheSameBytes(t *testing.T) {
	run1 := rawSession(t, false)
	run2 := rawSession(t, false)
	run3 := rawSession(t, true)
	if !reflect.DeepEqual(run1, run2) || !reflect.DeepEqual(run1, run3) {
		t.Fatalf("runs differ:\n%s\n---\n%s\n---\n%s", strings.Join(run1, "\n"), strings.Join(run2, "\n"), strings.Join(run3, "\n"))
	}
	// crypto.ndjson starts: BTC-USD at …000000, ETH-USD at …000320,
	// SOL-USD at …000375 (not subscribed)
	const t0 = 1763942400000000
	want := []string{
		`{"type":"subscribed","symbols":["BTC-USD","ETH-USD"],"epoch":1763942400000}`,
		fmt.Sprintf(`{"type":"pong","id":1,"time":%d}`, t0), // the server's clock, not the wall's
		fmt.Sprintf("-- next: 1 quotes at %d", t0),
		fmt.Sprintf("-- next: 1 quotes at %d", t0+320),
		fmt.Sprintf("-- next: 1 quotes at %d", t0+375),
	}
	if len(run1) < len(want)+2 || !reflect.DeepEqual(run1[:len(want)], want) {
		t.Fatalf("session starts\n%s\nwant\n%s", strings.Join(run1, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("session:\n%s", strings.Join(run1, "\n"))
	// the three windows' updates: BTC-USD's, then ETH-USD's; SOL-USD's window sends nothing
	for i, w := range []string{
		fmt.Sprintf(`{"type":"update","time":%d,"quotes":[{"s":"BTC-USD","seq":1,"ts":%d,"bid":"64000.1","bid_size":"0.70516","ask":"64000.14","ask_size":"1.72353"}]}`, t0, t0),
		fmt.Sprintf(`{"type":"update","time":%d,"quotes":[{"s":"ETH-USD","seq":1,"ts":%d,"bid":"3200.45","bid_size":"0.9346","ask":"3200.48","ask_size":"2.5012"}]}`, t0+320, t0+320),
	} {
		if got := run1[len(want)+2+i]; got != w {
			t.Errorf("message %d\n got %s\nwant %s", i, got, w)
		}
	}
}

// TestFixtureReplayReachesTheEnd: stepping a fixture to past its last ts
// publishes every line, and REST serves its final state.
func TestFixtureReplayReachesTheEnd(t *testing.T) {
	fixture := filepath.Join("..", "fixtures", "equities.ndjson")
	srv := tickertest.New(t, tickertest.Options{Fixture: fixture})
	w, err := srv.StepTo(srv.Now().Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if w.More || w.Quotes < 100 {
		t.Fatalf("window %+v: want every line, none left", w)
	}
	w, err = srv.StepNext() // nothing left: one window on, empty
	if err != nil || w.Quotes != 0 || w.More {
		t.Fatalf("after the end: %+v %v", w, err)
	}
	resp, err := http.Get(srv.HTTPURL() + "/api/quotes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Quotes []map[string]any `json:"quotes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Quotes) == 0 {
		t.Fatal("no quotes served")
	}
	for _, q := range body.Quotes {
		if q["seq"].(float64) < 1 {
			t.Errorf("quote %v", q)
		}
	}
}

// TestBadInput: what a test gets wrong is an error naming it, and nothing
// of the call is published.
func TestBadInput(t *testing.T) {
	srv := tickertest.New(t, tickertest.Options{Symbols: []string{"AAPL"}})
	for _, tt := range []struct {
		q       tickertest.Quote
		mention string
	}{
		{tickertest.Quote{Symbol: "AAPL", Bid: "1.2.3"}, "bid"},
		{tickertest.Quote{Symbol: "AAPL", BidSize: "-1"}, "bid_size"},
		{tickertest.Quote{Symbol: "AAPL"}, "no field"},
		{tickertest.Quote{Symbol: "", Bid: "1"}, "symbol"},
	} {
		err := srv.Publish(tickertest.Quote{Symbol: "AAPL", Bid: "100"}, tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Publish(%+v): %v, want an error mentioning %q", tt.q, err, tt.mention)
		}
	}
	if err := srv.PublishLines("{\"ts\":1,\"s\":\"AAPL\",\"bid\":\"100\"}\n{\"s\":\"AAPL\",\"bid\":\"x\"}"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("PublishLines: %v, want line 2 named", err)
	}
	w, err := srv.Step()
	if err != nil || w.Quotes != 0 {
		t.Fatalf("after refused publishes: %+v %v, want an empty window", w, err)
	}
	if _, err := srv.StepTo(srv.Now().Add(-time.Second)); err == nil {
		t.Error("StepTo back in time: no error")
	}
	if _, err := tickertest.Start(tickertest.Options{Fixture: "/does/not/exist.ndjson"}); err == nil || !strings.Contains(err.Error(), "exist") {
		t.Errorf("a missing fixture: %v", err)
	}
	if _, err := tickertest.Start(tickertest.Options{Window: time.Hour}); err == nil || !strings.Contains(err.Error(), "Window") {
		t.Errorf("a window of an hour: %v", err)
	}
}

// TestCloseLeavesNoGoroutines: Close, with a client streaming, stops
// everything the server started; the client is closed with 1001, and a
// step after Close is an error, not a hang.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv, err := tickertest.Start(tickertest.Options{Symbols: []string{"AAPL"}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rawws.Dial(srv.Addr(), rawws.Options{Path: "/ws?symbols=AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := srv.WaitSubscriptions(1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := srv.Publish(tickertest.Quote{Symbol: "AAPL", Bid: fmt.Sprint(100 + i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Step(); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	srv.Close() // twice: nothing more
	code := 0
	for code == 0 {
		m, err := conn.ReadMessage(5 * time.Second)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if m.Op == rawws.OpClose {
			code, _ = rawws.CloseCode(m.Payload)
		}
	}
	if code != 1001 {
		t.Errorf("close %d, want 1001", code)
	}
	if _, err := srv.Step(); err == nil {
		t.Error("Step after Close: no error")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := ours()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the server survived Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ours returns the stacks of goroutines running ticker's code or the
// WebSocket libraries, other than the tests' own (fasthttp's process-wide
// helpers are not the server's).
func ours() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*M)") {
			continue
		}
		if strings.Contains(g, "github.com/ticker-io/ticker/") || strings.Contains(g, "fasthttp/websocket") || strings.Contains(g, "contrib/websocket") {
			out = append(out, g)
		}
	}
	return out
}

// TestPublishMergesWithTheFixture: in a step, the quotes published since
// the last one and the fixture's lines due go in merged by ts; at the
// same ts the published quote wins; a published quote later than the
// step's time still goes into this window.
func TestPublishMergesWithTheFixture(t *testing.T) {
	fixture := filepath.Join(t.TempDir(), "f.ndjson")
	lines := `{"ts":1000,"s":"AAPL","bid":"1","ask":"10"}
# the bid at ts 3000 is published by the test too
{"ts":3000,"s":"AAPL","bid":"3"}
{"ts":4000,"s":"AAPL","ask":"40"}
{"ts":9000,"s":"AAPL","ask":"90"}
`
	if err := os.WriteFile(fixture, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := tickertest.New(t, tickertest.Options{Fixture: fixture})
	if got := srv.Now().UnixMicro(); got != 1000 {
		t.Fatalf("the clock starts at %d, want the fixture's first ts 1000", got)
	}
	if err := srv.PublishLines(`{"ts":2000,"s":"AAPL","bid":"2","last":"2"}
{"ts":3000,"s":"AAPL","bid":"3.5"}
{"ts":5000,"s":"AAPL","ask":"50"}`); err != nil {
		t.Fatal(err)
	}
	w, err := srv.StepTo(time.UnixMicro(4500))
	if err != nil || w.Quotes != 6 || !w.More {
		t.Fatalf("window %+v %v, want the 3 published and 3 fixture lines, one line left", w, err)
	}
	// ts order: 1000 fixture, 2000 published, 3000 fixture then published,
	// 4000 fixture, 5000 published; the 9000 line waits
	resp, err := http.Get(srv.HTTPURL() + "/api/quotes/AAPL")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"s":"AAPL","seq":1,"ts":5000,"bid":"3.5","ask":"50","last":"2"}`; string(b) != want {
		t.Fatalf("AAPL %s, want %s", b, want)
	}
	if w, err := srv.StepNext(); err != nil || w.Time.UnixMicro() != 9000 || w.Quotes != 1 || w.More {
		t.Fatalf("next: %+v %v", w, err)
	}
}

// TestStaleMark: a test fakes a feed outage with Quote.Stale. The symbol
// keeps its values and says "stale":true until a quote with a field makes
// it fresh; a stale mark with a field is refused.
func TestStaleMark(t *testing.T) {
	srv := tickertest.New(t, tickertest.Options{Symbols: []string{"AAPL"}})
	get := func() string {
		t.Helper()
		resp, err := http.Get(srv.HTTPURL() + "/api/quotes/AAPL")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, tt := range []struct {
		q    tickertest.Quote
		want string
	}{
		{tickertest.Quote{Symbol: "AAPL", Bid: "100", Time: time.UnixMicro(1000)}, `{"s":"AAPL","seq":1,"ts":1000,"bid":"100"}`},
		{tickertest.Quote{Symbol: "AAPL", Stale: true, Time: time.UnixMicro(2000)}, `{"s":"AAPL","seq":2,"ts":1000,"bid":"100","stale":true}`},
		{tickertest.Quote{Symbol: "AAPL", Ask: "101", Time: time.UnixMicro(3000)}, `{"s":"AAPL","seq":3,"ts":3000,"bid":"100","ask":"101"}`},
	} {
		if err := srv.Publish(tt.q); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Step(); err != nil {
			t.Fatal(err)
		}
		if got := get(); got != tt.want {
			t.Fatalf("after %+v: %s, want %s", tt.q, got, tt.want)
		}
	}
	if err := srv.Publish(tickertest.Quote{Symbol: "AAPL", Stale: true, Bid: "1"}); err == nil || !strings.Contains(err.Error(), "stale mark") {
		t.Errorf("a stale mark with a field: %v, want it refused", err)
	}
}
