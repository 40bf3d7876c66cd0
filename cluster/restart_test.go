package cluster

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/internal/natstest"
	"github.com/ticker-io/ticker/market"
)

// ledger records what every client saw at each (epoch, symbol, seq): the
// symbol's full quote there. The same key with two contents, on any client
// of any edge, is a seq issued twice.
type ledger struct {
	mu        sync.Mutex
	seen      map[string]string
	who       map[string]string
	conflicts []string
}

func newLedger() *ledger { return &ledger{seen: map[string]string{}, who: map[string]string{}} }

func (l *ledger) record(who string, epoch float64, q map[string]any) {
	key := fmt.Sprintf("%.0f/%v/%v", epoch, q["s"], q["seq"])
	content := canonical(q)
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.seen[key]; !ok {
		l.seen[key], l.who[key] = content, who
	} else if old != content {
		l.conflicts = append(l.conflicts, fmt.Sprintf("epoch/symbol/seq %s: %s at %s, %s at %s", key, old, l.who[key], content, who))
	}
}

func (l *ledger) counts() (pairs int, conflicts []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen), append([]string(nil), l.conflicts...)
}

func canonical(q map[string]any) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v ", k, q[k])
	}
	return b.String()
}

// watcher is a raw WebSocket client that keeps a book, checks every seq
// against it (a new epoch in a snapshot drops the book, as a client must),
// records every version in the ledger, and notes when updates arrive.
type watcher struct {
	t      *testing.T
	name   string
	ws     *websocket.Conn
	led    *ledger
	mu     sync.Mutex
	quotes map[string]map[string]any
	epoch  float64
	// epochs counts the new epochs seen; epochResync, those announced by a
	// resync snapshot
	epochs, epochResync int
	resyncs, updates    int
	lastUpdate          time.Time
	errs                []string
	done                chan struct{}
}

func watch(t *testing.T, name, addr, symbols string, led *ledger) *watcher {
	t.Helper()
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/ws?symbols="+url.QueryEscape(symbols), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, name: name, ws: ws, led: led, quotes: map[string]map[string]any{}, done: make(chan struct{})}
	go w.read()
	t.Cleanup(func() { ws.Close(); <-w.done })
	return w
}

func (w *watcher) read() {
	defer close(w.done)
	for {
		_, data, err := w.ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Type   string
			Reason string
			Epoch  float64
			Quotes []map[string]any
		}
		if err := json.Unmarshal(data, &m); err != nil {
			w.fail("bad JSON %s", data)
			continue
		}
		w.mu.Lock()
		switch m.Type {
		case "snapshot":
			if m.Epoch != 0 && w.epoch != 0 && m.Epoch != w.epoch {
				w.epochs++
				if m.Reason == "resync" {
					w.epochResync++
				}
				clear(w.quotes) // a new stream: nothing held is worth keeping
			}
			if m.Epoch != 0 {
				w.epoch = m.Epoch
			}
			if m.Reason == "resync" {
				w.resyncs++
			}
			for _, q := range m.Quotes {
				s := q["s"].(string)
				if old, ok := w.quotes[s]; ok && q["seq"].(float64) < old["seq"].(float64) {
					w.errs = append(w.errs, fmt.Sprintf("%s: snapshot seq %v after %v", s, q["seq"], old["seq"]))
				}
				w.quotes[s] = q
				w.led.record(w.name, w.epoch, q)
			}
		case "update":
			w.updates++
			w.lastUpdate = time.Now()
			for _, d := range m.Quotes {
				s := d["s"].(string)
				seq := d["seq"].(float64)
				q, ok := w.quotes[s]
				switch {
				case !ok && seq != 1:
					w.errs = append(w.errs, fmt.Sprintf("%s: update seq %v without a snapshot", s, seq))
					q = map[string]any{}
				case !ok:
					q = map[string]any{}
				case seq != q["seq"].(float64)+1:
					w.errs = append(w.errs, fmt.Sprintf("%s: seq %v after %v", s, seq, q["seq"]))
				}
				for k, v := range d {
					q[k] = v
				}
				w.quotes[s] = q
				w.led.record(w.name, w.epoch, q)
			}
		}
		w.mu.Unlock()
	}
}

func (w *watcher) fail(format string, args ...any) {
	w.mu.Lock()
	w.errs = append(w.errs, fmt.Sprintf(format, args...))
	w.mu.Unlock()
}

func (w *watcher) updatedSince(t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastUpdate.After(t)
}

func (w *watcher) seq(symbol string) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if q, ok := w.quotes[symbol]; ok {
		return q["seq"].(float64)
	}
	return 0
}

// matches reports whether the watcher holds exactly want, every field and
// seq, and what differs first.
func (w *watcher) matches(want []market.Quote) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range want {
		var m map[string]any
		json.Unmarshal(q.AppendJSON(nil), &m)
		if got := w.quotes[q.Symbol]; canonical(got) != canonical(m) {
			return false, fmt.Sprintf("%s: have %v, want %v", q.Symbol, got, m)
		}
	}
	return true, ""
}

func (w *watcher) report() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%s: %d updates, %d resync snapshots, %d new epochs (%d by resync), %d seq errors", w.name, w.updates, w.resyncs, w.epochs, w.epochResync, len(w.errs))
}

func (w *watcher) check() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		w.t.Errorf("%s: %d seq errors, first: %s", w.name, len(w.errs), w.errs[0])
	}
}

// waitRecovered waits for every watcher's first update after since, and
// fails the test for any that took longer than limit.
func waitRecovered(t *testing.T, ws []*watcher, since time.Time, limit time.Duration) {
	t.Helper()
	for _, w := range ws {
		for !w.updatedSince(since) && time.Since(since) < 4*limit {
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(since) // within the 10 ms of a poll
		if !w.updatedSince(since) {
			t.Errorf("%s: no update within %v", w.name, 4*limit)
			continue
		}
		t.Logf("%s: updates again %v after NATS was back", w.name, took.Round(time.Millisecond))
		if took > limit {
			t.Errorf("%s: updates again only %v after NATS was back; want within %v", w.name, took.Round(time.Millisecond), limit)
		}
	}
}

// converge stops the leader's feeds and waits for every watcher to hold
// exactly the leader's quotes.
func converge(t *testing.T, leader *ingestNode, ws []*watcher, syms map[string][]string) {
	t.Helper()
	leader.stopFeeds()
	for _, w := range ws {
		var diff string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var want []market.Quote
			for _, q := range leader.engine.Quotes() {
				if only := syms[w.name]; only == nil || contains(only, q.Symbol) {
					want = append(want, q)
				}
			}
			var ok bool
			if ok, diff = w.matches(want); ok && len(want) > 0 {
				diff = ""
				break
			}
		}
		if diff != "" {
			t.Errorf("%s did not converge on the leader's quotes: %s", w.name, diff)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitSymbols waits for e to know n symbols, so that a client's subscribe
// to any of them is accepted.
func waitSymbols(t *testing.T, e *edgeNode, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(e.engine.Symbols()) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge knows %d symbols; want %d", len(e.engine.Symbols()), n)
		}
	}
}

func checkLedger(t *testing.T, led *ledger) {
	t.Helper()
	pairs, conflicts := led.counts()
	t.Logf("ledger: %d (epoch, symbol, seq) versions seen, %d with two contents", pairs, len(conflicts))
	for i, c := range conflicts {
		if i == 5 {
			break
		}
		t.Errorf("a seq issued twice: %s", c)
	}
}

// TestNATSRestart restarts NATS under load (2,000 changes/s over 20
// symbols), with two ingest nodes and two edges: a single server, and one
// member of a three-server cluster (the one the leader is connected to),
// with the buckets on file and in memory. Every client gets updates again
// within 5 s of the server being back, with nothing restarted; the stream
// keeps its epoch (the leader kept its state); no (symbol, seq) is seen
// with two contents on any edge; the clients end on the leader's quotes.
func TestNATSRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers int
		storage jetstream.StorageType
	}{
		{"one server, file", 1, jetstream.FileStorage},
		{"one server, memory", 1, jetstream.MemoryStorage},
		{"cluster member, file", 3, jetstream.FileStorage},
		{"cluster member, memory", 3, jetstream.MemoryStorage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nats := natstest.Start(t, tc.servers)
			urls := func(i ...int) []string {
				var out []string
				for _, j := range i {
					out = append(out, nats.URL(j%tc.servers))
				}
				return out
			}
			cfg := StoreConfig{Storage: tc.storage}
			first := startIngestOn(t, connect(t, urls(0, 1)[0], urls(0, 1)[1:]...), "ingest-1", "synthetic:?symbols=20&rate=2000&seed=3", cfg)
			first.waitLeader(t, 15*time.Second)
			second := startIngestOn(t, connect(t, urls(1, 2)[0], urls(1, 2)[1:]...), "ingest-2", "synthetic:?symbols=20&rate=2000&seed=4", cfg)
			edgeA := startEdgeOn(t, connect(t, urls(0, 2)[0], urls(0, 2)[1:]...), "127.0.0.1:0", cfg)
			edgeB := startEdgeOn(t, connect(t, urls(2, 1)[0], urls(2, 1)[1:]...), "127.0.0.1:0", cfg)
			waitSymbols(t, edgeA, 20)
			waitSymbols(t, edgeB, 20)
			led := newLedger()
			ws := []*watcher{
				watch(t, "A *", edgeA.addr, "*", led),
				watch(t, "B *", edgeB.addr, "*", led),
				watch(t, "B AAPL,MSFT", edgeB.addr, "AAPL,MSFT", led),
			}
			time.Sleep(800 * time.Millisecond)
			before := ws[0].seq("AAPL")
			nats.Restart(0, time.Second) // SIGTERM-like shutdown, 1 s down, same port and store
			back := time.Now()
			waitRecovered(t, ws, back, 5*time.Second)
			time.Sleep(time.Second)
			leader := first
			if !first.ingest.Leader() {
				leader = second
			}
			t.Logf("leader after the restart: %s; AAPL at seq %v before the restart, %v now; publish failures %d",
				map[bool]string{true: "ingest-1 (as before)", false: "ingest-2"}[leader == first], before, ws[0].seq("AAPL"), first.pub.Failed())
			if first.ingest.Leader() && second.ingest.Leader() {
				t.Error("two leaders")
			}
			converge(t, leader, ws, map[string][]string{"B AAPL,MSFT": {"AAPL", "MSFT"}})
			for _, w := range ws {
				w.check()
				t.Log(w.report())
				w.mu.Lock()
				if w.epochs != 0 {
					t.Errorf("%s: the stream changed epoch though the leader kept its state", w.name)
				}
				w.mu.Unlock()
			}
			checkLedger(t, led)
		})
	}
}

// TestStatelessNodeDoesNotWin: with the buckets in memory, the leader
// crashes, NATS restarts (the buckets are gone), and an ingest node with no
// state starts at once, while the standby's reconnect is held back 600 ms.
// The standby, which followed the stream, takes it over, not the new node:
// the epoch stays, every seq goes on, none is issued twice.
func TestStatelessNodeDoesNotWin(t *testing.T) {
	nats := natstest.Start(t, 1)
	cfg := StoreConfig{Storage: jetstream.MemoryStorage}
	first := startIngestOn(t, connect(t, nats.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=3", cfg)
	first.waitLeader(t, 15*time.Second)
	var slow slowDialer
	second := startIngestOn(t, connectVia(t, &slow, nats.URL(0)), "ingest-2", "synthetic:?symbols=10&rate=1000&seed=4", cfg)
	edge := startEdgeOn(t, connect(t, nats.URL(0)), "127.0.0.1:0", cfg)
	waitSymbols(t, edge, 10)
	led := newLedger()
	ws := []*watcher{watch(t, "edge *", edge.addr, "*", led)}
	time.Sleep(800 * time.Millisecond)
	first.crash()
	time.Sleep(100 * time.Millisecond)
	before := ws[0].seq("AAPL")
	slow.delay.Store(int64(600 * time.Millisecond))
	nats.Restart(0, 500*time.Millisecond)
	back := time.Now()
	fresh := startIngestOn(t, connect(t, nats.URL(0)), "ingest-3", "synthetic:?symbols=10&rate=1000&seed=5", cfg)
	waitRecovered(t, ws, back, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	switch {
	case fresh.ingest.Leader():
		t.Error("the node with no state took the stream over")
	case !second.ingest.Leader():
		t.Error("the standby with the stream's state does not lead")
	}
	t.Logf("AAPL at seq %v before the restart, %v after", before, ws[0].seq("AAPL"))
	leader := second
	if fresh.ingest.Leader() {
		leader = fresh
	}
	converge(t, leader, ws, nil)
	ws[0].check()
	t.Log(ws[0].report())
	if ws[0].epochs != 0 {
		t.Error("a new epoch, though the standby had the stream's state")
	}
	checkLedger(t, led)
}

// TestNewEpochWhenAllStateIsLost: with the buckets in memory, the only
// ingest node crashes and NATS restarts: no node and no bucket has the
// stream's state. A new ingest node starts a new epoch; each edge client
// gets a resync snapshot carrying it, drops its book, and gets updates
// again; no (epoch, symbol, seq) is seen with two contents.
func TestNewEpochWhenAllStateIsLost(t *testing.T) {
	nats := natstest.Start(t, 1)
	cfg := StoreConfig{Storage: jetstream.MemoryStorage}
	first := startIngestOn(t, connect(t, nats.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=3", cfg)
	first.waitLeader(t, 15*time.Second)
	edge := startEdgeOn(t, connect(t, nats.URL(0)), "127.0.0.1:0", cfg)
	waitSymbols(t, edge, 10)
	led := newLedger()
	ws := []*watcher{watch(t, "edge *", edge.addr, "*", led), watch(t, "edge AAPL", edge.addr, "AAPL", led)}
	time.Sleep(800 * time.Millisecond)
	first.crash()
	before := ws[0].seq("AAPL")
	nats.Restart(0, 500*time.Millisecond)
	started := time.Now()
	second := startIngestOn(t, connect(t, nats.URL(0)), "ingest-2", "synthetic:?symbols=10&rate=1000&seed=4", cfg)
	took := second.waitLeader(t, 15*time.Second)
	t.Logf("the node with no state took the stream %v after it started (lease 1s)", took.Round(time.Millisecond))
	waitRecovered(t, ws, started, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	converge(t, second, ws, map[string][]string{"edge AAPL": {"AAPL"}})
	t.Logf("AAPL at seq %v before, %v in the new epoch", before, ws[0].seq("AAPL"))
	for _, w := range ws {
		w.check()
		t.Log(w.report())
		w.mu.Lock()
		if w.epochs != 1 || w.epochResync != 1 {
			t.Errorf("%s: %d new epochs, %d announced by a resync snapshot; want 1 and 1", w.name, w.epochs, w.epochResync)
		}
		w.mu.Unlock()
	}
	checkLedger(t, led)
}

// TestReplacedLeaderStandsBy: three NATS servers; the leader reaches only
// the first, which restarts, and its reconnect is held back past the lease
// time, so the standby takes the stream over. Back on NATS, the old leader
// finds the lease taken: it does not exit, it stands by again, following
// the new leader's stream, and when that one crashes it takes the stream
// back. No (symbol, seq) is ever seen with two contents.
func TestReplacedLeaderStandsBy(t *testing.T) {
	nats := natstest.Start(t, 3)
	var dial slowDialer
	first := startIngest(t, connectVia(t, &dial, nats.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=3")
	first.waitLeader(t, 15*time.Second)
	second := startIngest(t, connect(t, nats.URL(1), nats.URL(2)), "ingest-2", "synthetic:?symbols=10&rate=1000&seed=4")
	edge := startEdge(t, connect(t, nats.URL(2), nats.URL(1)))
	waitSymbols(t, edge, 10)
	led := newLedger()
	ws := []*watcher{watch(t, "edge *", edge.addr, "*", led)}
	time.Sleep(800 * time.Millisecond)
	dial.delay.Store(int64(2500 * time.Millisecond))
	nats.Restart(0, 500*time.Millisecond)
	took := second.waitLeader(t, 15*time.Second)
	t.Logf("the standby leads %v after the restarted server was back (lease 1s)", took.Round(time.Millisecond))
	for deadline := time.Now().Add(15 * time.Second); first.ingest.Leader() || !first.ingest.Receiver.Synced(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the old leader is not standing by (leader %v, synced %v)", first.ingest.Leader(), first.ingest.Receiver.Synced())
		}
	}
	if second.ingest.Leader() == first.ingest.Leader() {
		t.Fatal("not exactly one leader")
	}
	time.Sleep(500 * time.Millisecond)
	second.crash()
	back := first.waitLeader(t, 15*time.Second)
	t.Logf("the old leader took the stream back %v after the new one crashed", back.Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	converge(t, first, ws, nil)
	ws[0].check()
	t.Log(ws[0].report())
	if ws[0].epochs != 0 {
		t.Error("a new epoch, though the stream's state was never lost")
	}
	checkLedger(t, led)
}

// TestLeaderReturnsAfterItsReplacementLeft: the leader is cut off past the
// lease time (its one NATS server restarts, its reconnect held back 4 s);
// the standby takes the stream over, publishes, and crashes, its lease left
// to expire. Coming back, the old leader finds no lease and creates it
// again; the bucket holds the other node's versions, so it goes on above
// them rather than from its own seqs: none is issued twice.
func TestLeaderReturnsAfterItsReplacementLeft(t *testing.T) {
	nats := natstest.Start(t, 3)
	var dial slowDialer
	first := startIngest(t, connectVia(t, &dial, nats.URL(0)), "ingest-1", "synthetic:?symbols=10&rate=1000&seed=3")
	first.waitLeader(t, 15*time.Second)
	second := startIngest(t, connect(t, nats.URL(1), nats.URL(2)), "ingest-2", "synthetic:?symbols=10&rate=1000&seed=4")
	edge := startEdge(t, connect(t, nats.URL(2), nats.URL(1)))
	waitSymbols(t, edge, 10)
	led := newLedger()
	ws := []*watcher{watch(t, "edge *", edge.addr, "*", led)}
	time.Sleep(800 * time.Millisecond)
	dial.delay.Store(int64(4 * time.Second))
	nats.Restart(0, 500*time.Millisecond)
	second.waitLeader(t, 15*time.Second)
	time.Sleep(time.Second)
	mid := ws[0].seq("AAPL")
	second.crash()
	took := first.waitLeader(t, 20*time.Second)
	t.Logf("the old leader leads again %v after its replacement crashed (AAPL at %v then, %v now)", took.Round(time.Millisecond), mid, ws[0].seq("AAPL"))
	time.Sleep(500 * time.Millisecond)
	converge(t, first, ws, nil)
	ws[0].check()
	t.Log(ws[0].report())
	checkLedger(t, led)
}
