package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/assemble"
	"github.com/ticker-io/ticker/internal/testnet"
	"github.com/ticker-io/ticker/market"
)

// server is the real service on a loopback address, as main wires it.
type server struct {
	engine *fanout.Engine
	set    *feeds.Set
	addr   string
	stop   func()
}

func startServer(t *testing.T, addr string, cfg api.Config, spec string) *server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := feeds.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	set, err := feeds.NewSet(log, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := assemble.Build(assemble.Options{Feeds: set, RingSize: 1 << 14, Fanout: fanout.Config{Window: 10 * time.Millisecond}, API: cfg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	engine := b.Engine
	ln := testnet.Listen(t, addr)
	n := b.Node
	n.Start(ln)
	var once sync.Once
	s := &server{engine: engine, set: set, addr: ln.Addr().String()}
	s.stop = func() { once.Do(func() { n.Stop() }) }
	t.Cleanup(s.stop)
	return s
}

func run(t *testing.T, c *Client) (wait func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	wait = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { wait() })
	return wait
}

func eventually(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

// sameBook reports whether the client's book is the server's quotes,
// every field and seq.
func sameBook(c *Client, want []market.Quote) (bool, string) {
	book := c.Book()
	if len(book) != len(want) {
		return false, "symbols differ in number"
	}
	for _, w := range want {
		q := book[w.Symbol]
		if q.Seq != w.Seq || q.Time.UnixMicro() != w.TsMicros || q.Stale != w.IsStale() {
			return false, w.Symbol + ": seq, ts or stale"
		}
		for i, f := range q.fields() {
			v, has := w.Get(market.Field(i))
			if f.Valid != has || (has && !f.Decimal.Equal(v.Big())) {
				return false, w.Symbol + " " + market.Field(i).Name()
			}
		}
	}
	return true, ""
}

// TestClientFollowsServer: the client's book, fed by a replayed fixture,
// ends equal to the server's quotes (every decimal, seq and ts), with no
// gap, and OnUpdate saw every change.
func TestClientFollowsServer(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", api.Config{}, "replay:../fixtures/crypto.ndjson?speed=40")
	var mu sync.Mutex
	updates, snapshots := 0, 0
	c := New(Options{URL: "ws://" + srv.addr + "/ws", Symbols: []string{"*"}, OnUpdate: func(u Update) {
		mu.Lock()
		defer mu.Unlock()
		if u.Snapshot {
			snapshots++
		} else {
			updates++
		}
	}})
	run(t, c)
	eventually(t, "replay finished", 60*time.Second, func() bool { return srv.set.Statuses()[0].Finished })
	diff := ""
	eventually(t, "book equals the server's", 10*time.Second, func() bool {
		ok, d := sameBook(c, srv.engine.Quotes())
		diff = d
		return ok
	})
	if c.Gaps() != 0 {
		t.Errorf("%d gaps", c.Gaps())
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("book of %d symbols equals the server's; %d snapshots, %d updates applied (%s)", len(c.Book()), snapshots, updates, diff)
	if updates == 0 {
		t.Error("no updates")
	}
}

// TestClientReconnects: the server goes away (1001) and comes back on the
// same address; the client reconnects by itself, resubscribes, and its book
// follows the new server.
func TestClientReconnects(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", api.Config{}, "synthetic:?symbols=5&rate=300&seed=1")
	var mu sync.Mutex
	var statuses []StatusKind
	c := New(Options{URL: "ws://" + srv.addr + "/ws", Symbols: []string{"AAPL", "MSFT"}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnStatus: func(s Status) { mu.Lock(); statuses = append(statuses, s.Kind); mu.Unlock() }})
	run(t, c)
	eventually(t, "AAPL quoted", 10*time.Second, func() bool { _, ok := c.Quote("AAPL"); return ok })
	srv.stop()
	again := startServer(t, srv.addr, api.Config{}, "synthetic:?symbols=5&rate=300&seed=2")
	connected := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range statuses {
			if s == Connected {
				n++
			}
		}
		return n
	}
	eventually(t, "reconnected", 15*time.Second, func() bool { return connected() == 2 })
	eventually(t, "book follows the new server", 15*time.Second, func() bool {
		q, ok := c.Quote("MSFT")
		w, ok2 := again.engine.Quote("MSFT")
		return ok && ok2 && q.Seq == w.Seq && q.Bid.Decimal.Equal(w.Values[market.Bid].Big())
	})
	mu.Lock()
	defer mu.Unlock()
	connects := 0
	for _, s := range statuses {
		if s == Connected {
			connects++
		}
	}
	if connects != 2 {
		t.Errorf("statuses %v: want two connections", statuses)
	}
}

// TestClientResyncsOnGap: a server that skips a seq gets the symbol
// unsubscribed and subscribed again; the fresh snapshot replaces it.
func TestClientResyncsOnGap(t *testing.T) {
	got := make(chan string, 16)
	up := websocket.Upgrader{}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send := func(s string) { ws.WriteMessage(websocket.TextMessage, []byte(s)) }
		send(`{"type":"subscribed","symbols":["X"]}`)
		send(`{"type":"snapshot","reason":"subscribe","time":1,"quotes":[{"s":"X","seq":5,"ts":10,"bid":"1.5","ask":"1.6"}]}`)
		send(`{"type":"update","time":2,"quotes":[{"s":"X","seq":6,"ts":11,"bid":"1.55"}]}`)
		send(`{"type":"update","time":3,"quotes":[{"s":"X","seq":8,"ts":13,"ask":"1.7"}]}`)
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(m)
			if strings.Contains(string(m), `"subscribe"`) {
				send(`{"type":"snapshot","reason":"subscribe","time":4,"quotes":[{"s":"X","seq":8,"ts":13,"bid":"1.55","ask":"1.7"}]}`)
				send(`{"type":"update","time":5,"quotes":[{"s":"X","seq":9,"ts":14,"last":"1.6"}]}`)
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	c := New(Options{URL: "ws://" + ln.Addr().String() + "/ws", Symbols: []string{"X"}})
	run(t, c)
	if m := <-got; !strings.Contains(m, `"op":"unsubscribe"`) || !strings.Contains(m, `"X"`) {
		t.Fatalf("first message after the gap: %s", m)
	}
	if m := <-got; !strings.Contains(m, `"op":"subscribe"`) {
		t.Fatalf("second message after the gap: %s", m)
	}
	eventually(t, "resynced", 5*time.Second, func() bool { q, _ := c.Quote("X"); return q.Seq == 9 })
	q, _ := c.Quote("X")
	if q.Bid.Decimal.String() != "1.55" || q.Ask.Decimal.String() != "1.7" || q.Last.Decimal.String() != "1.6" || c.Gaps() != 1 {
		t.Fatalf("after the resync: %+v, gaps %d", q, c.Gaps())
	}
}

// TestClientNewEpoch: a snapshot carrying a new epoch drops the whole
// book (a symbol it does not carry is gone), reports NewEpoch, and the
// new stream's updates apply to it without a gap though their seqs are
// lower than the old stream's.
func TestClientNewEpoch(t *testing.T) {
	up := websocket.Upgrader{}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send := func(s string) { ws.WriteMessage(websocket.TextMessage, []byte(s)) }
		send(`{"type":"subscribed","symbols":["*"]}`)
		send(`{"type":"snapshot","reason":"subscribe","epoch":5,"time":1,"quotes":[{"s":"X","seq":280,"ts":10,"bid":"1.5"},{"s":"Y","seq":90,"ts":10,"bid":"7"}]}`)
		send(`{"type":"update","time":2,"quotes":[{"s":"X","seq":281,"ts":11,"bid":"1.55"}]}`)
		send(`{"type":"snapshot","reason":"resync","epoch":6,"time":3,"quotes":[{"s":"X","seq":2,"ts":12,"bid":"1.4","ask":"1.6"}]}`)
		send(`{"type":"update","time":4,"quotes":[{"s":"X","seq":3,"ts":13,"last":"1.5"}]}`)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	var mu sync.Mutex
	var epochs []uint64
	c := New(Options{URL: "ws://" + ln.Addr().String() + "/ws", Symbols: []string{"*"},
		OnStatus: func(s Status) {
			if s.Kind == NewEpoch {
				mu.Lock()
				epochs = append(epochs, s.Epoch)
				mu.Unlock()
			}
		}})
	run(t, c)
	eventually(t, "the new stream's update", 5*time.Second, func() bool { q, _ := c.Quote("X"); return q.Seq == 3 })
	q, _ := c.Quote("X")
	if _, ok := c.Quote("Y"); ok || q.Bid.Decimal.String() != "1.4" || q.Last.Decimal.String() != "1.5" || c.Gaps() != 0 || c.Epoch() != 6 {
		t.Fatalf("after the new epoch: X %+v, Y kept %v, gaps %d, epoch %d", q, ok, c.Gaps(), c.Epoch())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(epochs) != 1 || epochs[0] != 6 {
		t.Fatalf("NewEpoch statuses %v, want [6]", epochs)
	}
}

// TestClientRefused: a wrong token ends Run at once with the 401.
func TestClientRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte("right\n"), 0o600)
	tokens, err := access.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1:0", api.Config{Tokens: tokens}, "synthetic:?symbols=3&seed=1")
	c := New(Options{URL: "ws://" + srv.addr + "/ws", Token: "wrong", Symbols: []string{"*"}})
	err = c.Run(context.Background())
	var hs *HandshakeError
	if !errors.As(err, &hs) || hs.Status != 401 {
		t.Fatalf("Run: %v, want a 401", err)
	}
	ok := New(Options{URL: "ws://" + srv.addr + "/ws", Token: "right", Symbols: []string{"*"}})
	run(t, ok)
	eventually(t, "quotes with the right token", 10*time.Second, func() bool { return len(ok.Book()) > 0 })
}

// TestClientBars: Bars reads the server's 1s and 1m bars over REST, with
// the token, as exact decimals.
func TestClientBars(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte("right\n"), 0o600)
	tokens, err := access.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1:0", api.Config{Tokens: tokens}, "synthetic:?symbols=3&rate=300&seed=1")
	c := New(Options{URL: "ws://" + srv.addr + "/ws", Token: "right"})
	ctx := context.Background()
	var bs []Bar
	eventually(t, "two 1s bars", 10*time.Second, func() bool {
		bs, err = c.Bars(ctx, "AAPL", "1s", 0)
		return err == nil && len(bs) >= 2
	})
	for _, b := range bs {
		if b.Low.GreaterThan(b.High) || b.Close.GreaterThan(b.High) || b.Open.LessThan(b.Low) || b.Time.IsZero() {
			t.Fatalf("not a bar: %+v", b)
		}
	}
	if m, err := c.Bars(ctx, "AAPL", "1m", 1); err != nil || len(m) != 1 {
		t.Errorf("1m limit 1: %v %v", m, err)
	}
	if _, err := c.Bars(ctx, "NOPE", "1s", 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown symbol: %v", err)
	}
	wrong := New(Options{URL: "ws://" + srv.addr + "/ws", Token: "wrong"})
	if _, err := wrong.Bars(ctx, "AAPL", "1s", 0); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	t.Logf("%d 1s bars of AAPL, the newest %s o %s h %s l %s c %s v %s", len(bs), bs[len(bs)-1].Time.Format(time.TimeOnly),
		bs[len(bs)-1].Open, bs[len(bs)-1].High, bs[len(bs)-1].Low, bs[len(bs)-1].Close, bs[len(bs)-1].Volume)
}

// TestClientEvery: with Every, the client asks for conflated updates; it
// follows the replay to the server's final quotes without a gap, its
// updates span several versions (From < Seq), and it gets far fewer than
// a client at the window beside it.
func TestClientEvery(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", api.Config{}, "replay:../fixtures/crypto.ndjson?speed=10")
	var mu sync.Mutex
	count := map[bool]int{}
	spans := 0
	newClient := func(every time.Duration) *Client {
		return New(Options{URL: "ws://" + srv.addr + "/ws", Symbols: []string{"*"}, Every: every, OnUpdate: func(u Update) {
			mu.Lock()
			defer mu.Unlock()
			if u.Snapshot {
				return
			}
			count[every > 0]++
			if u.From < u.Delta.Seq {
				spans++
			}
			if every == 0 && u.From != u.Delta.Seq {
				t.Errorf("a window update from %d to %d", u.From, u.Delta.Seq)
			}
		}})
	}
	conflated, window := newClient(200*time.Millisecond), newClient(0)
	run(t, conflated)
	run(t, window)
	eventually(t, "replay finished", 60*time.Second, func() bool { return srv.set.Statuses()[0].Finished })
	for _, c := range []*Client{conflated, window} {
		eventually(t, "book equals the server's", 10*time.Second, func() bool {
			ok, _ := sameBook(c, srv.engine.Quotes())
			return ok
		})
		if c.Gaps() != 0 {
			t.Errorf("%d gaps", c.Gaps())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("updates: %d at 200ms, %d at the window; %d conflated updates spanning several versions", count[true], count[false], spans)
	if spans == 0 || count[true]*3 > count[false] {
		t.Fatalf("not conflated: %d updates at 200ms (%d spanning), %d at the window", count[true], spans, count[false])
	}
}

// TestClientEveryGap: a conflated update whose from does not follow the
// seq the client has is a gap: the symbol is subscribed again, with the
// interval.
func TestClientEveryGap(t *testing.T) {
	got := make(chan string, 16)
	urls := make(chan string, 4)
	up := websocket.Upgrader{}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls <- r.URL.RawQuery
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send := func(s string) { ws.WriteMessage(websocket.TextMessage, []byte(s)) }
		send(`{"type":"subscribed","symbols":["X"],"every":"1s"}`)
		send(`{"type":"snapshot","reason":"subscribe","time":1,"quotes":[{"s":"X","seq":5,"ts":10,"bid":"1.5","ask":"1.6"}]}`)
		send(`{"type":"update","time":2,"quotes":[{"s":"X","from":6,"seq":9,"ts":11,"bid":"1.55"}]}`)
		send(`{"type":"update","time":3,"quotes":[{"s":"X","from":11,"seq":12,"ts":13,"ask":"1.7"}]}`)
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(m)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	c := New(Options{URL: "ws://" + ln.Addr().String() + "/ws", Symbols: []string{"X"}, Every: time.Second})
	run(t, c)
	if q := <-urls; q != "symbols=X&every=1s" {
		t.Fatalf("query %q", q)
	}
	if m := <-got; !strings.Contains(m, `"op":"unsubscribe"`) {
		t.Fatalf("first message after the gap: %s", m)
	}
	if m := <-got; !strings.Contains(m, `"op":"subscribe"`) || !strings.Contains(m, `"every":"1s"`) {
		t.Fatalf("second message after the gap: %s", m)
	}
	if q, _ := c.Quote("X"); q.Seq != 9 || q.Bid.Decimal.String() != "1.55" || c.Gaps() != 1 {
		t.Fatalf("after the gap: %+v, gaps %d", q, c.Gaps())
	}
}
