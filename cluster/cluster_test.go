package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/assemble"
	"github.com/ticker-io/ticker/internal/natstest"
	"github.com/ticker-io/ticker/internal/testnet"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

func testLog() *slog.Logger {
	if os.Getenv("TICKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func connect(t *testing.T, first string, others ...string) *nats.Conn {
	t.Helper()
	return connectVia(t, nil, append([]string{first}, others...)...)
}

// slowDialer dials NATS servers after a delay that a test sets, so that a
// reconnect takes long enough for deltas to be published, and lost, while
// the connection is down.
type slowDialer struct{ delay atomic.Int64 }

func (d *slowDialer) Dial(network, address string) (net.Conn, error) {
	time.Sleep(time.Duration(d.delay.Load()))
	return net.DialTimeout(network, address, 2*time.Second)
}

// connectVia connects to urls, through dialer when it is not nil.
func connectVia(t *testing.T, dialer *slowDialer, urls ...string) *nats.Conn {
	t.Helper()
	// no reconnect buffer, as an ingest node has (an edge publishes nothing)
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.DontRandomize(), nats.ReconnectBufSize(-1)}
	if dialer != nil {
		opts = append(opts, nats.SetCustomDialer(dialer))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ingestNode is the ingest role in-process: a synthetic feed, an engine
// that is a replica until its Ingest wins the lease, and a Publisher.
type ingestNode struct {
	engine    *fanout.Engine
	bars      *bars.Aggregator
	pub       *Publisher
	ingest    *Ingest
	stopFeeds func()
	crash     func() // stops feeds, engine and lease renewal, releasing nothing
}

// openStore opens a node's buckets, retrying while a JetStream cluster
// elects its leaders, and runs the Store (reopening them after a
// reconnect) until the test ends.
func openStore(t *testing.T, nc *nats.Conn, cfg StoreConfig) *Store {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st *Store
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		st, err = OpenStore(ctx, nc, cfg, testLog())
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buckets: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the JetStream cluster is still electing
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return st
}

func startIngest(t *testing.T, nc *nats.Conn, id, spec string) *ingestNode {
	return startIngestOn(t, nc, id, spec, StoreConfig{})
}

// startIngestOn starts an ingest node whose buckets are kept as cfg says
// (its LeaseTime is 1s).
func startIngestOn(t *testing.T, nc *nats.Conn, id, spec string, cfg StoreConfig) *ingestNode {
	t.Helper()
	cfg.LeaseTime = time.Second
	store := openStore(t, nc, cfg)
	lease, err := NewLease(store.LeaseBucket(), id, cfg.LeaseTime)
	if err != nil {
		t.Fatal(err)
	}
	f, err := feeds.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	set, err := feeds.NewSet(testLog(), f)
	if err != nil {
		t.Fatal(err)
	}
	ring := market.NewRing(1 << 14)
	pub := NewPublisher(nc, testLog())
	agg := bars.New()
	recv := NewReceiver(nc, store.Quotes(), testLog())
	engine, err := fanout.New(fanout.Config{Window: 10 * time.Millisecond, Tap: fanout.Taps{pub, agg}, Replica: true,
		Interest: recv.Interest}, ring, set.Symbols(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	recv.ReceiveAll()
	ectx, stopEngine := context.WithCancel(context.Background())
	go engine.Run(ectx)
	fctx, stopFeeds := context.WithCancel(context.Background())
	n := &ingestNode{engine: engine, pub: pub, bars: agg}
	n.ingest = &Ingest{Engine: engine, Receiver: recv, Lease: lease, Publisher: pub, Log: testLog().With("node", id),
		StartFeeds: func() { set.Start(fctx, ring) }}
	store.OnDisconnect(n.ingest.Disconnected)
	store.OnReopen(n.ingest.Reopened)
	store.OnReopen(recv.Reopened)
	barSub, err := ServeBars(nc, agg, n.ingest.Leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { barSub.Unsubscribe() })
	ictx, stopIngest := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := n.ingest.Run(ictx); err != nil {
			t.Errorf("ingest %s: %v", id, err)
		}
	}()
	var feedsOnce, crashOnce sync.Once
	n.stopFeeds = func() { feedsOnce.Do(func() { stopFeeds(); set.Wait() }) }
	n.crash = func() {
		crashOnce.Do(func() {
			n.stopFeeds()
			stopEngine()
			<-engine.Done()
			stopIngest()
			<-ran
		})
	}
	t.Cleanup(n.crash)
	return n
}

func (n *ingestNode) waitLeader(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !n.ingest.Leader() {
		if time.Since(start) > within {
			t.Fatalf("not leader within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// edgeNode is the edge role in-process: a replica engine, a Receiver and
// the WebSocket server.
type edgeNode struct {
	engine *fanout.Engine
	recv   *Receiver
	srv    *api.Server
	addr   string
	stop   func()
}

func startEdge(t *testing.T, nc *nats.Conn) *edgeNode { return startEdgeAt(t, nc, "127.0.0.1:0") }

// startEdgeAt serves the edge on addr.
func startEdgeAt(t *testing.T, nc *nats.Conn, addr string) *edgeNode {
	return startEdgeOn(t, nc, addr, StoreConfig{})
}

// startEdgeOn serves the edge on addr, its bucket kept as cfg says.
func startEdgeOn(t *testing.T, nc *nats.Conn, addr string, cfg StoreConfig) *edgeNode {
	t.Helper()
	store := openStore(t, nc, cfg)
	kv := store.Quotes()
	recv := NewReceiver(nc, kv, testLog())
	// built as main builds an edge: a replica engine, REST from the
	// cluster for symbols no client here wants, bars from the ingest leader
	b, err := assemble.Build(assemble.Options{RingSize: 16, Log: testLog(),
		Fanout: fanout.Config{Window: 10 * time.Millisecond, Replica: true, Interest: recv.Interest},
		API:    api.Config{Bars: NewBarClient(nc)},
		Wire: func(b *assemble.Built, acfg *api.Config, status *api.FeedStatus) error {
			acfg.Quotes = NewEdgeQuotes(b.Engine, kv)
			*status = edgeStatus{recv}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	engine, srv := b.Engine, b.Server
	store.OnReopen(recv.Reopened)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := b.Node
	n.Role = func(ctx context.Context) error { return recv.Run(ctx, engine) }
	n.Start(ln)
	var once sync.Once
	e := &edgeNode{engine: engine, recv: recv, srv: srv, addr: ln.Addr().String()}
	e.stop = func() { once.Do(func() { n.Stop() }) }
	t.Cleanup(e.stop)
	deadline := time.Now().Add(15 * time.Second)
	for !recv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("edge receiver not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e
}

// book is a WebSocket client that folds what it receives and checks the
// seq invariant of every symbol.
type book struct {
	t       *testing.T
	addr    string
	others  []string // with redial: addresses to try in turn after addr
	symbols string
	redial  bool // on a close, dial addr again (through a load balancer)
	closed  atomic.Bool
	dials   int
	wsMu    sync.Mutex
	ws      *websocket.Conn
	mu      sync.Mutex
	quotes  map[string]map[string]any
	errs    []string
	resyncs int
	updates int
	done    chan struct{}
}

func dialBook(t *testing.T, addr, symbols string) *book { return newBook(t, addr, symbols, false) }

// newBook dials addr; with redial, a connection that ends is replaced by a
// new one to the same address, resubscribed, its snapshot continuing the
// book.
func newBook(t *testing.T, addr, symbols string, redial bool) *book {
	t.Helper()
	b := &book{t: t, addr: addr, symbols: symbols, redial: redial, quotes: map[string]map[string]any{}, done: make(chan struct{})}
	ws, err := b.dial()
	if err != nil {
		t.Fatal(err)
	}
	b.ws = ws
	go b.read()
	t.Cleanup(func() {
		b.closed.Store(true)
		b.wsMu.Lock()
		b.ws.Close()
		b.wsMu.Unlock()
		<-b.done
	})
	return b
}

func (b *book) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	b.mu.Lock()
	addr := b.addr
	b.mu.Unlock()
	ws, _, err := d.Dial("ws://"+addr+"/ws?symbols="+url.QueryEscape(b.symbols), nil)
	if err == nil {
		b.mu.Lock()
		b.dials++
		b.mu.Unlock()
	}
	return ws, err
}

func (b *book) read() {
	defer close(b.done)
	for {
		b.wsMu.Lock()
		ws := b.ws
		b.wsMu.Unlock()
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !b.redial || b.closed.Load() {
				return
			}
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if b.closed.Load() {
					return
				}
				b.mu.Lock()
				if len(b.others) > 0 {
					b.others, b.addr = append(b.others[1:], b.addr), b.others[0]
				}
				b.mu.Unlock()
				nws, err := b.dial()
				if err == nil {
					b.wsMu.Lock()
					ws.Close()
					b.ws = nws
					b.wsMu.Unlock()
					break
				}
				if time.Now().After(deadline) {
					b.fail("no reconnect within 15s: %v", err)
					return
				}
			}
			continue
		}
		var m struct {
			Type   string
			Reason string
			Quotes []map[string]any
		}
		if err := json.Unmarshal(data, &m); err != nil {
			b.fail("bad JSON %s", data)
			continue
		}
		b.mu.Lock()
		switch m.Type {
		case "snapshot":
			if m.Reason == "resync" {
				b.resyncs++
			}
			for _, q := range m.Quotes {
				s := q["s"].(string)
				if old, ok := b.quotes[s]; ok && q["seq"].(float64) < old["seq"].(float64) {
					b.errs = append(b.errs, fmt.Sprintf("%s: snapshot seq %v after %v", s, q["seq"], old["seq"]))
				}
				b.quotes[s] = q
			}
		case "update":
			b.updates++
			for _, d := range m.Quotes {
				s := d["s"].(string)
				seq := d["seq"].(float64)
				q, ok := b.quotes[s]
				switch {
				case !ok && seq != 1:
					b.errs = append(b.errs, fmt.Sprintf("%s: update seq %v without a snapshot", s, seq))
					q = map[string]any{}
					b.quotes[s] = q
				case !ok:
					q = map[string]any{}
					b.quotes[s] = q
				case seq != q["seq"].(float64)+1:
					b.errs = append(b.errs, fmt.Sprintf("%s: seq %v after %v", s, seq, q["seq"]))
				}
				for k, v := range d {
					q[k] = v
				}
			}
		}
		b.mu.Unlock()
	}
}

func (b *book) fail(format string, args ...any) {
	b.mu.Lock()
	b.errs = append(b.errs, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

// matches reports whether the book holds exactly want (every field, seq
// included), and what differs first.
func (b *book) matches(want []market.Quote) (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range want {
		var w map[string]any
		json.Unmarshal(q.AppendJSON(nil), &w)
		got := b.quotes[q.Symbol]
		if fmt.Sprint(got) != fmt.Sprint(w) {
			return false, fmt.Sprintf("%s: have %v, want %v", q.Symbol, got, w)
		}
	}
	return true, ""
}

func waitConverged(t *testing.T, ing *ingestNode, books map[string]*book, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		want := ing.engine.Quotes()
		all, diff := true, ""
		for name, b := range books {
			if ok, d := b.matches(want); !ok {
				all, diff = false, name+": "+d
				break
			}
		}
		if all && len(want) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("edges did not converge on the ingest's quotes within %v: %s", within, diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *book) check(name string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		b.t.Errorf("%s: %d seq errors, first: %s", name, len(b.errs), b.errs[0])
	}
}

// TestTwoEdgesOneStream: three clustered NATS servers, one ingest and two
// edges, each edge on a different server. Clients of both edges see every
// symbol's seq rise by one with no gap and end with exactly the ingest's
// quotes, seq included; killing the NATS server one edge is connected to
// loses deltas (its reconnect is held back 400 ms), and the edge repairs
// them from the bucket and resyncs its clients with snapshots.
func TestTwoEdgesOneStream(t *testing.T) {
	nc := natstest.Start(t, 3)
	ing := startIngest(t, connect(t, nc.URL(0)), "ingest-1", "synthetic:?symbols=20&rate=2000&seed=3")
	ing.waitLeader(t, 10*time.Second)
	var dialA slowDialer
	ncA := connectVia(t, &dialA, nc.URL(1), nc.URL(2))
	edgeA := startEdge(t, ncA)
	edgeB := startEdge(t, connect(t, nc.URL(2), nc.URL(0)))
	edgeC := startEdge(t, connect(t, nc.URL(0)))
	// a named subscribe is refused (unknown_symbol) until the edge has seen
	// the symbol: a client dialed at once could be left without MSFT
	waitSymbols(t, edgeB, 20)
	waitSymbols(t, edgeC, 20)
	onlyMSFT := dialBook(t, edgeC.addr, "MSFT")
	books := map[string]*book{
		"A *":         dialBook(t, edgeA.addr, "*"),
		"B *":         dialBook(t, edgeB.addr, "*"),
		"B AAPL,MSFT": dialBook(t, edgeB.addr, "AAPL,MSFT"),
	}
	time.Sleep(700 * time.Millisecond)
	before := ncA.ConnectedUrl()
	gapsBefore, repairsBefore := edgeA.recv.Stats().Gaps.Load(), edgeA.recv.Stats().Repairs.Load()
	books["A *"].mu.Lock()
	resyncsBefore := books["A *"].resyncs
	books["A *"].mu.Unlock()
	dialA.delay.Store(int64(400 * time.Millisecond))
	nc.Kill(1) // edge A's server
	time.Sleep(1200 * time.Millisecond)
	t.Logf("edge A: connected to %s, then %s after the kill; gaps %d → %d, repairs %d → %d", before, ncA.ConnectedUrl(),
		gapsBefore, edgeA.recv.Stats().Gaps.Load(), repairsBefore, edgeA.recv.Stats().Repairs.Load())
	ing.stopFeeds()
	waitConverged(t, ing, map[string]*book{"A *": books["A *"], "B *": books["B *"]}, 20*time.Second)
	want := []market.Quote{}
	for _, s := range []string{"AAPL", "MSFT"} {
		q, _ := ing.engine.Quote(s)
		want = append(want, q)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok, d := books["B AAPL,MSFT"].matches(want)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("B AAPL,MSFT: %s", d)
			break
		}
	}
	for name, b := range books {
		b.check(name)
		b.mu.Lock()
		t.Logf("%s: %d updates, %d resync snapshots, %d symbols", name, b.updates, b.resyncs, len(b.quotes))
		b.mu.Unlock()
	}
	// 400 ms without a connection at 2,000 changes/s over 20 symbols: every
	// symbol lost deltas, so edge A re-read them from the bucket and its
	// client was resynchronised (gapless and converged, checked above)
	if r := edgeA.recv.Stats().Repairs.Load(); r <= repairsBefore {
		t.Errorf("edge A repaired nothing after a 400 ms disconnection (repairs %d → %d)", repairsBefore, r)
	}
	books["A *"].mu.Lock()
	if books["A *"].resyncs <= resyncsBefore {
		t.Errorf("edge A's client got no resync snapshot after the edge lost deltas (%d before the kill, %d after)", resyncsBefore, books["A *"].resyncs)
	}
	books["A *"].mu.Unlock()
	// REST on edge C answers for every symbol, as the ingest does, though
	// its only client wants MSFT (the rest come from the bucket)
	var all []byte
	for _, q := range ing.engine.Quotes() {
		if len(all) > 0 {
			all = append(all, ',')
		}
		all = q.AppendJSON(all)
	}
	aapl, _ := ing.engine.Quote("AAPL")
	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/api/quotes", 200, `{"quotes":[` + string(all) + `]}`},
		{"/api/quotes/AAPL", 200, string(aapl.AppendJSON(nil))},
		{"/api/quotes/NOPE", 404, `{"error":"unknown symbol"}`},
	} {
		var code int
		var body string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			code, body = httpGet(t, "http://"+edgeC.addr+tt.path)
			if (code == tt.code && body == tt.want) || time.Now().After(deadline) {
				break
			}
		}
		if code != tt.code || body != tt.want {
			t.Errorf("edge C GET %s: %d %s\nwant %d %s", tt.path, code, body, tt.code, tt.want)
		}
	}
	// edge C's only client wants MSFT: C receives MSFT and nothing else
	onlyMSFT.check("C MSFT")
	if qs := edgeC.engine.Quotes(); len(qs) != 1 || qs[0].Symbol != "MSFT" {
		t.Errorf("edge C holds %d quotes; its only client wants MSFT", len(qs))
	}
	msft, _ := ing.engine.Quote("MSFT")
	if got := edgeC.recv.Stats().Versions.Load() + edgeC.recv.Stats().Repairs.Load(); got > msft.Seq {
		t.Errorf("edge C took %d versions; MSFT has had %d in all", got, msft.Seq)
	}
	for name, e := range map[string]*edgeNode{"A": edgeA, "B": edgeB, "C": edgeC} {
		s := e.recv.Stats()
		t.Logf("edge %s: %d deltas, %d gaps, %d repairs, %d fetches", name, s.Versions.Load(), s.Gaps.Load(), s.Repairs.Load(), s.Fetches.Load())
	}
	t.Logf("ingest published %d versions", ing.pub.Published())
}

// TestIngestFailover: two ingest nodes, one standby. When the leader
// crashes (its lease left to expire), the standby takes the stream over;
// every symbol's seq goes on from where the first left it, never reused
// and never going back, and the edge's clients converge on the new
// leader's quotes without a seq error.
func TestIngestFailover(t *testing.T) {
	nc := natstest.Start(t, 3)
	first := startIngest(t, connect(t, nc.URL(0), nc.URL(1)), "ingest-1", "synthetic:?symbols=20&rate=2000&seed=3")
	first.waitLeader(t, 15*time.Second)
	second := startIngest(t, connect(t, nc.URL(1), nc.URL(2)), "ingest-2", "synthetic:?symbols=20&rate=2000&seed=4")
	edge := startEdge(t, connect(t, nc.URL(2), nc.URL(0)))
	waitSymbols(t, edge, 20) // a named subscribe needs the symbol known (TestTwoEdgesOneStream)
	books := map[string]*book{
		"edge *":         dialBook(t, edge.addr, "*"),
		"edge AAPL,MSFT": dialBook(t, edge.addr, "AAPL,MSFT"),
	}
	time.Sleep(600 * time.Millisecond)
	if second.ingest.Leader() {
		t.Fatal("two leaders")
	}
	first.crash()
	before := map[string]uint64{}
	for _, q := range first.engine.Quotes() {
		before[q.Symbol] = q.Seq
	}
	took := second.waitLeader(t, 15*time.Second)
	time.Sleep(600 * time.Millisecond)
	second.stopFeeds()
	waitConverged(t, second, map[string]*book{"edge *": books["edge *"]}, 20*time.Second)
	resumed := 0
	for _, q := range second.engine.Quotes() {
		if q.Seq <= before[q.Symbol] {
			t.Errorf("%s: seq %d after the failover, %d before it", q.Symbol, q.Seq, before[q.Symbol])
		}
		if before[q.Symbol] > 0 {
			resumed++
		}
	}
	for name, b := range books {
		b.check(name)
		b.mu.Lock()
		t.Logf("%s: %d updates, %d resync snapshots, %d symbols", name, b.updates, b.resyncs, len(b.quotes))
		b.mu.Unlock()
	}
	t.Logf("standby took over %v after the leader crashed (lease 1s); %d symbols resumed their seq; first published %d versions, second %d",
		took.Round(time.Millisecond), resumed, first.pub.Published(), second.pub.Published())
}

// TestTakeoverReadsTheBucket: the leader's last version of AAPL reached
// the bucket (and perhaps some edges) but not the standby. Taking over, the
// standby goes on from the bucket's seq: its first AAPL version is above
// it (by one, and TakeoverSkip, since the lease expired), carrying the
// bucket's state, never a second version of the same seq.
func TestTakeoverReadsTheBucket(t *testing.T) {
	nc := natstest.Start(t, 1)
	first := startIngest(t, connect(t, nc.URL(0)), "ingest-1", "synthetic:?symbols=5&rate=500&seed=3")
	first.waitLeader(t, 15*time.Second)
	second := startIngest(t, connect(t, nc.URL(0)), "ingest-2", "synthetic:?symbols=5&rate=5&seed=4")
	for deadline := time.Now().Add(10 * time.Second); !second.ingest.Receiver.Synced(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the standby did not sync")
		}
	}
	time.Sleep(200 * time.Millisecond)
	watch := connect(t, nc.URL(0))
	sub, err := watch.SubscribeSync(SubjectPrefix + Token("AAPL"))
	if err != nil {
		t.Fatal(err)
	}
	first.crash()
	last, ok := first.engine.Quote("AAPL")
	if !ok {
		t.Fatal("no AAPL published")
	}
	// the version whose delta the standby missed: only in the bucket
	lost := last
	lost.Seq++
	bid, err := market.ParseDecimal([]byte("1.2345"))
	if err != nil {
		t.Fatal(err)
	}
	lost.Set(market.Bid, bid)
	first.pub.put(&lost)
	if err := first.pub.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	second.waitLeader(t, 15*time.Second)
	var p fastjson.Parser
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("no AAPL version from the new leader: %v", err)
		}
		var q market.Quote
		if err := protocol.ParseVersion(&p, stripEpoch(m.Data), &q); err != nil {
			t.Fatal(err)
		}
		if q.Seq <= last.Seq {
			continue // the old leader's, still in flight
		}
		// the lease expired (a crash, no hand-over): the new leader also
		// leaves TakeoverSkip seqs unused, in case some edge got more
		if want := lost.Seq + 1 + TakeoverSkip; q.Seq != want {
			t.Fatalf("the new leader's first AAPL version has seq %d; the bucket held %d, so want %d", q.Seq, lost.Seq, want)
		}
		t.Logf("old leader published AAPL up to seq %d, the bucket alone had %d; the new leader went on at %d (%s)", last.Seq, lost.Seq, q.Seq, m.Data)
		return
	}
}

// TestThroughHAProxy: deploy/haproxy.cfg in front of two edges. A client
// connected through the proxy survives its edge going away (it reconnects
// through the same address and lands on the other edge, its snapshot
// continuing every seq) and the edge's restart (the proxy sends new
// clients to it again).
func TestThroughHAProxy(t *testing.T) {
	exe, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy not installed (apt-get install -y haproxy); CI must run this test")
		}
		t.Skip("haproxy not installed: apt-get install -y haproxy to run this test")
	}
	nc := natstest.Start(t, 1)
	ing := startIngest(t, connect(t, nc.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=5")
	ing.waitLeader(t, 15*time.Second)
	edges := []*edgeNode{startEdge(t, connect(t, nc.URL(0))), startEdge(t, connect(t, nc.URL(0)))}
	lb := testnet.FreeAddr(t)
	cmd := exec.Command(exe, "-f", "../deploy/haproxy.cfg", "-db")
	cmd.Env = []string{"TICKER_LB_BIND=" + lb, "TICKER_EDGE1=" + edges[0].addr, "TICKER_EDGE2=" + edges[1].addr}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + lb + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy not serving: %v\n%s", err, out.String())
		}
	}
	client := newBook(t, lb, "*", true)
	time.Sleep(300 * time.Millisecond)
	on := -1
	for i, e := range edges {
		if e.srv.Connections() == 1 {
			on = i
		}
	}
	if on < 0 {
		t.Fatalf("the client is on no edge: %d, %d", edges[0].srv.Connections(), edges[1].srv.Connections())
	}
	client.mu.Lock()
	updatesBefore := client.updates
	client.mu.Unlock()
	gone := edges[on].addr
	edges[on].stop() // its clients get 1001
	other := edges[1-on]
	for deadline := time.Now().Add(15 * time.Second); other.srv.Connections() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client did not come back through the proxy")
		}
	}
	time.Sleep(300 * time.Millisecond)
	client.mu.Lock()
	if client.updates <= updatesBefore || client.dials != 2 {
		t.Errorf("after its edge stopped: %d updates (%d before), %d dials", client.updates, updatesBefore, client.dials)
	}
	client.mu.Unlock()

	// the edge comes back on its address: new clients reach it again
	restarted := startEdgeAt(t, connect(t, nc.URL(0)), gone)
	var later []*book
	for deadline := time.Now().Add(15 * time.Second); restarted.srv.Connections() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy sends nobody to the restarted edge\n%s", out.String())
		}
		later = append(later, dialBook(t, lb, "AAPL"))
	}
	ing.stopFeeds()
	waitConverged(t, ing, map[string]*book{"through the proxy": client}, 20*time.Second)
	client.check("through the proxy")
	for _, b := range later {
		b.check("later")
	}
	t.Logf("client: %d updates, %d connections (one edge stopped, then restarted); %d later clients before one reached the restarted edge",
		client.updates, client.dials, len(later))
}

// TestEdgeLoss: an edge stops (its clients get 1001); they reconnect to the
// other edge, whose snapshot continues every symbol's seq (never lower than
// what they had), and they end on the ingest's quotes.
func TestEdgeLoss(t *testing.T) {
	nc := natstest.Start(t, 1)
	ing := startIngest(t, connect(t, nc.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=6")
	ing.waitLeader(t, 15*time.Second)
	a, b := startEdge(t, connect(t, nc.URL(0))), startEdge(t, connect(t, nc.URL(0)))
	waitSymbols(t, a, 10) // a named subscribe needs the symbol known (TestTwoEdgesOneStream)
	waitSymbols(t, b, 10)
	var clients []*book
	for _, syms := range []string{"*", "AAPL,BTC-USD", "*"} {
		c := newBook(t, a.addr, syms, true)
		c.mu.Lock()
		c.others = []string{b.addr}
		c.mu.Unlock()
		clients = append(clients, c)
	}
	time.Sleep(400 * time.Millisecond)
	a.stop()
	for deadline := time.Now().Add(15 * time.Second); b.srv.Connections() < len(clients); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d clients moved to the other edge", b.srv.Connections(), len(clients))
		}
	}
	time.Sleep(400 * time.Millisecond)
	ing.stopFeeds()
	waitConverged(t, ing, map[string]*book{"*": clients[0], "* again": clients[2]}, 20*time.Second)
	for i, c := range clients {
		c.check(fmt.Sprint("client ", i))
		c.mu.Lock()
		if c.dials != 2 {
			t.Errorf("client %d: %d connections, want 2", i, c.dials)
		}
		t.Logf("client %d (%s): %d updates over %d connections", i, c.symbols, c.updates, c.dials)
		c.mu.Unlock()
	}
}

// TestLeaseRelease: a standby waiting for the lease gets it as soon as the
// holder releases it, well before the lease time would have run out; a
// second Create while the lease is held fails.
func TestLeaseRelease(t *testing.T) {
	nc := natstest.Start(t, 1)
	conn := connect(t, nc.URL(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const ttl = 20 * time.Second
	a, err := NewLease(openStore(t, conn, StoreConfig{LeaseTime: ttl}).LeaseBucket(), "a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewLease(openStore(t, connect(t, nc.URL(0)), StoreConfig{LeaseTime: ttl}).LeaseBucket(), "b", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		if b.Acquire(ctx, nil) == nil {
			got <- time.Now()
		}
	}()
	select {
	case <-got:
		t.Fatal("b acquired a lease a holds")
	case <-time.After(500 * time.Millisecond):
	}
	if h := b.Holder(ctx); h != "a" {
		t.Fatalf("holder %q", h)
	}
	released := time.Now()
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		t.Logf("b took the lease %v after a released it (lease time %v)", at.Sub(released).Round(time.Millisecond), ttl)
	case <-time.After(ttl / 2):
		t.Fatal("b did not get the released lease")
	}
	if h := b.Holder(ctx); h != "b" {
		t.Fatalf("holder %q after the hand-over", h)
	}
}

// httpGet returns the status and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// stripEpoch returns a delta as ticker.v1 writes it, without the stream's
// epoch that the cluster adds.
func stripEpoch(msg []byte) []byte {
	_, obj := SplitEpoch(msg)
	return obj
}

// TestEdgeBarsFromIngest: an edge answers GET /api/bars from the ingest
// leader over NATS, the leader's whole history, not the edge's own partial
// view (it has no client, so it receives nothing); with no leader it
// answers 503 within the request's bound.
func TestEdgeBarsFromIngest(t *testing.T) {
	nc := natstest.Start(t, 1)
	ingNC := connect(t, nc.URL(0))
	ing := startIngest(t, ingNC, "ingest-1", "synthetic:?symbols=10&rate=1000&seed=6")
	ing.waitLeader(t, 15*time.Second)
	edge := startEdge(t, connect(t, nc.URL(0)))
	time.Sleep(2200 * time.Millisecond) // three seconds of 1s bars
	ing.stopFeeds()
	// quotes already in the ring still reach the bars for a window or two:
	// the ingest's bars are the answer once they stop changing
	want, found, _ := ing.bars.Bars(context.Background(), "AAPL", bars.Second, 900)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		again, _, _ := ing.bars.Bars(context.Background(), "AAPL", bars.Second, 900)
		if string(bars.AppendJSON(nil, "AAPL", bars.Second, again)) == string(bars.AppendJSON(nil, "AAPL", bars.Second, want)) {
			break
		}
		want = again
	}
	if !found || len(want) < 2 {
		t.Fatalf("the ingest has %d bars of AAPL (found %v)", len(want), found)
	}
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + edge.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/api/bars/AAPL?interval=1s")
	if code != 200 {
		t.Fatalf("edge /api/bars/AAPL: %d %s", code, body)
	}
	if wantBody := string(bars.AppendJSON(nil, "AAPL", bars.Second, want)); body != wantBody {
		t.Errorf("edge answers\n%s\nthe ingest holds\n%s", body, wantBody)
	}
	if code, body := get("/api/bars/AAPL?interval=1m&limit=1"); code != 200 || !strings.Contains(body, `"interval":"1m"`) || strings.Count(body, `"time"`) != 1 {
		t.Errorf("1m limit 1: %d %s", code, body)
	}
	if code, body := get("/api/bars/NOPE"); code != 404 {
		t.Errorf("unknown symbol: %d %s", code, body)
	}
	t.Logf("edge served %d 1s bars of AAPL from the ingest leader", len(want))

	ing.crash()
	ingNC.Close() // the leader is gone: nobody answers on ticker.bars
	start := time.Now()
	code, body = get("/api/bars/AAPL")
	if code != 503 || time.Since(start) > 5*time.Second {
		t.Errorf("without an ingest leader: %d %s after %v, want 503 within the 3 s bound", code, body, time.Since(start))
	}
}

// edgeStatus is an edge's api.FeedStatus: its receiver's readiness, and no
// feeds (main's node.go has the same).
type edgeStatus struct{ *Receiver }

func (edgeStatus) Statuses() []feeds.Status { return nil }
