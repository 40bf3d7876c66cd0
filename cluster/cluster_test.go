package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"ticker/api"
	"ticker/fanout"
	"ticker/feeds"
	"ticker/market"
)

func testLog() *slog.Logger {
	if os.Getenv("TICKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsCluster is n embedded NATS servers with JetStream, clustered on
// loopback.
type natsCluster struct {
	t       *testing.T
	servers []*natsserver.Server
	opts    []*natsserver.Options
}

func startNATS(t *testing.T, n int) *natsCluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = freePort(t)
	}
	c := &natsCluster{t: t}
	for i := 0; i < n; i++ {
		var routes []*url.URL
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		o := &natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       freePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      os.Getenv("TICKER_TEST_LOG") == "",
			NoSigs:     true,
			Cluster:    natsserver.ClusterOpts{Name: "ticker", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     routes,
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, c.start(o))
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	return c
}

func (c *natsCluster) start(o *natsserver.Options) *natsserver.Server {
	s, err := natsserver.NewServer(o)
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatal("nats server not ready")
	}
	return s
}

func (c *natsCluster) url(i int) string { return c.servers[i].ClientURL() }

// kill stops server i.
func (c *natsCluster) kill(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

func connect(t *testing.T, first string, others ...string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(strings.Join(append([]string{first}, others...), ","),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.DontRandomize())
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
	pub       *Publisher
	ingest    *Ingest
	stopFeeds func()
	crash     func() // stops feeds, engine and lease renewal, releasing nothing
}

func openBucket(t *testing.T, nc *nats.Conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := OpenBucket(ctx, nc)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the JetStream cluster is still electing
	}
}

func startIngest(t *testing.T, nc *nats.Conn, id, spec string) *ingestNode {
	t.Helper()
	openBucket(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := OpenBucket(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := OpenLease(ctx, nc, id, time.Second)
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
	var recv *Receiver
	engine, err := fanout.New(fanout.Config{Window: 10 * time.Millisecond, Tap: pub, Replica: true,
		Interest: func(s string, on bool) { recv.Interest(s, on) }}, ring, set.Symbols(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	recv = NewReceiver(nc, kv, engine, testLog())
	recv.ReceiveAll()
	ectx, stopEngine := context.WithCancel(context.Background())
	go engine.Run(ectx)
	fctx, stopFeeds := context.WithCancel(context.Background())
	n := &ingestNode{engine: engine, pub: pub}
	n.ingest = &Ingest{Engine: engine, Receiver: recv, Lease: lease, Log: testLog().With("node", id),
		StartFeeds: func() { set.Start(fctx, ring) }}
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
	addr   string
}

func startEdge(t *testing.T, nc *nats.Conn) *edgeNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := OpenBucket(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	var recv *Receiver
	ring := market.NewRing(16)
	engine, err := fanout.New(fanout.Config{Window: 10 * time.Millisecond, Replica: true,
		Interest: func(s string, on bool) { recv.Interest(s, on) }}, ring, nil, testLog())
	if err != nil {
		t.Fatal(err)
	}
	recv = NewReceiver(nc, kv, engine, testLog())
	srv, err := api.New(api.Config{}, engine, recv, ring, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); engine.Run(runCtx) }()
	go func() { defer wg.Done(); recv.Run(runCtx) }()
	go func() { defer wg.Done(); srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		stop()
		wg.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for !recv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("edge receiver not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &edgeNode{engine: engine, recv: recv, addr: ln.Addr().String()}
}

// book is a WebSocket client that folds what it receives and checks the
// seq invariant of every symbol.
type book struct {
	t       *testing.T
	ws      *websocket.Conn
	mu      sync.Mutex
	quotes  map[string]map[string]any
	errs    []string
	resyncs int
	updates int
	done    chan struct{}
}

func dialBook(t *testing.T, addr, symbols string) *book {
	t.Helper()
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/ws?symbols="+url.QueryEscape(symbols), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &book{t: t, ws: ws, quotes: map[string]map[string]any{}, done: make(chan struct{})}
	go b.read()
	t.Cleanup(func() {
		ws.Close()
		<-b.done
	})
	return b
}

func (b *book) read() {
	defer close(b.done)
	for {
		_, data, err := b.ws.ReadMessage()
		if err != nil {
			return
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
// loses nothing that a resync does not repair.
func TestTwoEdgesOneStream(t *testing.T) {
	nc := startNATS(t, 3)
	ing := startIngest(t, connect(t, nc.url(0)), "ingest-1", "synthetic:?symbols=20&rate=2000&seed=3")
	ing.waitLeader(t, 10*time.Second)
	ncA := connect(t, nc.url(1), nc.url(2))
	edgeA := startEdge(t, ncA)
	edgeB := startEdge(t, connect(t, nc.url(2), nc.url(0)))
	books := map[string]*book{
		"A *":         dialBook(t, edgeA.addr, "*"),
		"B *":         dialBook(t, edgeB.addr, "*"),
		"B AAPL,MSFT": dialBook(t, edgeB.addr, "AAPL,MSFT"),
	}
	time.Sleep(700 * time.Millisecond)
	before := ncA.ConnectedUrl()
	gapsBefore, repairsBefore := edgeA.recv.Stats().Gaps.Load(), edgeA.recv.Stats().Repairs.Load()
	nc.kill(1) // edge A's server
	time.Sleep(700 * time.Millisecond)
	t.Logf("edge A: connected to %s, then %s after the kill; gaps %d → %d, repairs %d → %d", before, ncA.ConnectedUrl(),
		gapsBefore, edgeA.recv.Stats().Gaps.Load(), repairsBefore, edgeA.recv.Stats().Repairs.Load())
	ing.stopFeeds()
	waitConverged(t, ing, map[string]*book{"A *": books["A *"], "B *": books["B *"]}, 20*time.Second)
	want := []market.Quote{}
	for _, s := range []string{"AAPL", "MSFT"} {
		q, _ := ing.engine.Quote(s)
		want = append(want, q)
	}
	if ok, d := books["B AAPL,MSFT"].matches(want); !ok {
		t.Errorf("B AAPL,MSFT: %s", d)
	}
	for name, b := range books {
		b.check(name)
		b.mu.Lock()
		t.Logf("%s: %d updates, %d resync snapshots, %d symbols", name, b.updates, b.resyncs, len(b.quotes))
		b.mu.Unlock()
	}
	for name, e := range map[string]*edgeNode{"A": edgeA, "B": edgeB} {
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
	nc := startNATS(t, 3)
	first := startIngest(t, connect(t, nc.url(0), nc.url(1)), "ingest-1", "synthetic:?symbols=20&rate=2000&seed=3")
	first.waitLeader(t, 15*time.Second)
	second := startIngest(t, connect(t, nc.url(1), nc.url(2)), "ingest-2", "synthetic:?symbols=20&rate=2000&seed=4")
	edge := startEdge(t, connect(t, nc.url(2), nc.url(0)))
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
