package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/internal/testnet"
)

// versionLog records the full quote every raw client saw at each (epoch,
// symbol, seq), and every key seen with two contents.
type versionLog struct {
	mu        sync.Mutex
	seen      map[string]string
	conflicts []string
}

func (l *versionLog) record(who string, epoch float64, q map[string]any) {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v ", k, q[k])
	}
	key := fmt.Sprintf("%.0f/%v/%v", epoch, q["s"], q["seq"])
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.seen[key]; !ok {
		l.seen[key] = b.String()
	} else if old != b.String() {
		l.conflicts = append(l.conflicts, fmt.Sprintf("%s: %s, then at %s %s", key, old, who, b.String()))
	}
}

// rawClient reads a ticker.v1 stream with a plain WebSocket, folds it into
// a book (a snapshot with a new epoch drops the book), and records when
// updates arrive.
type rawClient struct {
	name   string
	log    *versionLog
	mu     sync.Mutex
	book   map[string]map[string]any
	epoch  float64
	epochs int
	// epochResync counts the new epochs announced by a resync snapshot
	epochResync int
	last        time.Time
	n           int
	errs        []string
}

func (c *rawClient) read(ws *websocket.Conn) {
	for {
		var m struct {
			Type   string
			Reason string
			Epoch  float64
			Quotes []map[string]any
		}
		if err := ws.ReadJSON(&m); err != nil {
			return
		}
		c.mu.Lock()
		switch m.Type {
		case "snapshot":
			if m.Epoch != 0 && c.epoch != 0 && m.Epoch != c.epoch {
				c.epochs++
				if m.Reason == "resync" {
					c.epochResync++
				}
				clear(c.book)
			}
			if m.Epoch != 0 {
				c.epoch = m.Epoch
			}
			for _, q := range m.Quotes {
				c.book[q["s"].(string)] = q
				c.log.record(c.name, c.epoch, q)
			}
		case "update":
			c.n++
			c.last = time.Now()
			for _, d := range m.Quotes {
				s, seq := d["s"].(string), d["seq"].(float64)
				q, ok := c.book[s]
				if !ok {
					if seq != 1 { // a symbol's first entry is its snapshot, or its seq 1
						c.errs = append(c.errs, fmt.Sprintf("%s: an update at seq %v with no snapshot before it", s, seq))
					}
					q = map[string]any{}
					c.book[s] = q
				}
				if ok && seq != q["seq"].(float64)+1 {
					c.errs = append(c.errs, fmt.Sprintf("%s: seq %v after %v", s, seq, q["seq"]))
				}
				for k, v := range d {
					q[k] = v
				}
				c.log.record(c.name, c.epoch, q)
			}
		}
		c.mu.Unlock()
	}
}

func (c *rawClient) updatedAfter(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last.After(t)
}

// TestProcessNATSRestart runs the built binaries from outside: a real
// nats-server (built from the module) with JetStream, two ingest nodes and
// two edges, a raw WebSocket client on each edge. nats-server is stopped
// with SIGTERM and started again on the same port and store directory,
// under load, with no supervisor restarting any ticker process. Every
// client gets updates again within 5 s, every ticker process still runs,
// one ingest leads, and no (symbol, seq) is seen with two contents.
func TestProcessNATSRestart(t *testing.T) {
	bin := buildBinary(t)
	natsBin := buildNATSServer(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default storage", nil},
		{"memory storage", []string{"--nats-storage", "memory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := strconv.Itoa(testnet.FreePort(t))
			store := t.TempDir()
			startNATS := func() *process { return startNATS(t, natsBin, port, store) }
			nats := startNATS()
			type node struct {
				*process
				addr string
			}
			start := func(args ...string) node {
				addr := testnet.FreeAddr(t)
				args = append([]string{"--addr", addr, "--nats", "nats://127.0.0.1:" + port, "--coalesce", "10ms", "--lease-time", "1s"}, args...)
				cmd := exec.Command(bin, append(args, tc.args...)...)
				cmd.Env = []string{"PATH=/usr/bin:/bin"}
				return node{startProcess(t, cmd), addr}
			}
			ready := func(n node) bool {
				code, _ := tryGet("http://" + n.addr + "/readyz")
				return code == 200
			}
			feed := "synthetic:?symbols=20&rate=2000&seed=1"
			ingests := []node{start("--role", "ingest", "--node-id", "ingest-1", "--feed", feed)}
			waitUntil(t, "first ingest leads", 30*time.Second, func() bool { return ready(ingests[0]) && metric(ingests[0].addr, "ticker_cluster_leader") == 1 })
			ingests = append(ingests, start("--role", "ingest", "--node-id", "ingest-2", "--feed", feed))
			edges := []node{start("--role", "edge", "--node-id", "edge-1"), start("--role", "edge", "--node-id", "edge-2")}
			for _, e := range edges {
				waitUntil(t, "edge ready", 30*time.Second, func() bool { return ready(e) })
				waitUntil(t, "edge knows the symbols", 10*time.Second, func() bool {
					_, body := tryGet("http://" + e.addr + "/api/symbols")
					return strings.Count(body, ",") >= 19
				})
			}
			log := &versionLog{seen: map[string]string{}}
			var clients []*rawClient
			for i, e := range edges {
				ws, _, err := websocket.DefaultDialer.Dial("ws://"+e.addr+"/ws?symbols=*", nil)
				if err != nil {
					t.Fatal(err)
				}
				c := &rawClient{name: fmt.Sprint("edge-", i+1), log: log, book: map[string]map[string]any{}}
				done := make(chan struct{})
				go func() { defer close(done); c.read(ws) }()
				t.Cleanup(func() { ws.Close(); <-done })
				clients = append(clients, c)
			}
			time.Sleep(time.Second)
			if err := nats.stop(t, syscall.SIGTERM); err != nil {
				t.Logf("nats-server exit: %v", err)
			}
			time.Sleep(time.Second)
			startNATS()
			back := time.Now()
			for _, c := range clients {
				for !c.updatedAfter(back) && time.Since(back) < 20*time.Second {
					time.Sleep(10 * time.Millisecond)
				}
				took := time.Since(back)
				switch {
				case !c.updatedAfter(back):
					t.Errorf("%s: no update within 20s of nats-server being back", c.name)
				case took > 5*time.Second:
					t.Errorf("%s: updates again %v after nats-server was back; want within 5s", c.name, took.Round(time.Millisecond))
				default:
					t.Logf("%s: updates again %v after nats-server was back", c.name, took.Round(time.Millisecond))
				}
			}
			time.Sleep(2 * time.Second)
			leaders := 0
			for _, n := range append(ingests, edges...) {
				select {
				case <-n.exited:
					t.Errorf("a ticker process exited (%v); logs:\n%s", n.err, n.logs.String())
					continue
				default:
				}
				if metric(n.addr, "ticker_cluster_leader") == 1 {
					leaders++
				}
			}
			if leaders != 1 {
				t.Errorf("%d ingest leaders; want 1", leaders)
			}
			for _, c := range clients {
				c.mu.Lock()
				t.Logf("%s: %d updates, %d new epochs, %d seq errors; AAPL at seq %v", c.name, c.n, c.epochs, len(c.errs), c.book["AAPL"]["seq"])
				if len(c.errs) > 0 {
					t.Errorf("%s: %s", c.name, c.errs[0])
				}
				if c.epochs != 0 {
					t.Errorf("%s: the stream changed epoch, though the leader kept its state", c.name)
				}
				c.mu.Unlock()
			}
			log.mu.Lock()
			t.Logf("%d (epoch, symbol, seq) versions seen, %d with two contents", len(log.seen), len(log.conflicts))
			for i, c := range log.conflicts {
				if i == 3 {
					break
				}
				t.Errorf("a seq issued twice: %s", c)
			}
			log.mu.Unlock()
		})
	}
}

// waitUntil fails t unless ok holds within the time given, trying every
// 20 ms.
func waitUntil(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

// tryGet returns the status and body of a GET, 0 if it failed.
func tryGet(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric returns the value of a Prometheus metric on addr, -1 if absent.
func metric(addr, name string) float64 {
	_, body := tryGet("http://" + addr + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v
		}
	}
	return -1
}

// startNATS starts nats-server with JetStream on 127.0.0.1:port, storing
// in store, and waits until it listens.
func startNATS(t *testing.T, natsBin, port, store string) *process {
	t.Helper()
	p := startProcess(t, exec.Command(natsBin, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not listening:\n%s", p.logs.String())
		}
	}
}

// buildNATSServer builds nats-server from the module into a temporary
// folder.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	natsBin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command(goTool(), "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return natsBin
}

// TestProcessNewEpoch runs the built binaries with the buckets in memory:
// the only ingest node is killed (SIGKILL), nats-server restarts, and a new
// ingest node starts with no state: no node and no bucket has the stream
// any more. The edge, never restarted, gives its raw WebSocket client a
// resync snapshot carrying a new epoch, then updates again; the client's
// seqs are gapless within each epoch and no (epoch, symbol, seq) is seen
// with two contents.
func TestProcessNewEpoch(t *testing.T) {
	bin := buildBinary(t)
	natsBin := buildNATSServer(t)
	port := strconv.Itoa(testnet.FreePort(t))
	store := t.TempDir()
	startNATS := func() *process { return startNATS(t, natsBin, port, store) }
	nats := startNATS()
	start := func(args ...string) (*process, string) {
		addr := testnet.FreeAddr(t)
		args = append([]string{"--addr", addr, "--nats", "nats://127.0.0.1:" + port, "--coalesce", "10ms", "--lease-time", "1s", "--nats-storage", "memory"}, args...)
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		return startProcess(t, cmd), addr
	}
	feed := "synthetic:?symbols=10&rate=1000&seed=1"
	first, firstAddr := start("--role", "ingest", "--node-id", "ingest-1", "--feed", feed)
	waitUntil(t, "first ingest leads", 30*time.Second, func() bool { return metric(firstAddr, "ticker_cluster_leader") == 1 })
	edge, edgeAddr := start("--role", "edge", "--node-id", "edge-1")
	waitUntil(t, "edge knows the symbols", 30*time.Second, func() bool {
		_, body := tryGet("http://" + edgeAddr + "/api/symbols")
		return strings.Count(body, ",") >= 9
	})
	log := &versionLog{seen: map[string]string{}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+edgeAddr+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{name: "edge-1", log: log, book: map[string]map[string]any{}}
	done := make(chan struct{})
	go func() { defer close(done); c.read(ws) }()
	t.Cleanup(func() { ws.Close(); <-done })
	time.Sleep(time.Second)
	first.stop(t, syscall.SIGKILL)
	nats.stop(t, syscall.SIGTERM)
	c.mu.Lock()
	before, epoch := c.book["AAPL"]["seq"], c.epoch
	c.mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	startNATS()
	_, secondAddr := start("--role", "ingest", "--node-id", "ingest-2", "--feed", feed)
	started := time.Now()
	waitUntil(t, "the new ingest leads", 30*time.Second, func() bool { return metric(secondAddr, "ticker_cluster_leader") == 1 })
	t.Logf("the ingest node with no state leads %v after it started (lease 1s)", time.Since(started).Round(time.Millisecond))
	for !c.updatedAfter(started) && time.Since(started) < 20*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if !c.updatedAfter(started) {
		t.Fatalf("no update within 20s of the new ingest node's start")
	}
	t.Logf("updates again %v after the new ingest node started", time.Since(started).Round(time.Millisecond))
	time.Sleep(time.Second)
	select {
	case <-edge.exited:
		t.Errorf("the edge exited: %v\n%s", edge.err, edge.logs.String())
	default:
	}
	c.mu.Lock()
	t.Logf("%s: %d updates, %d new epochs (%d by a resync snapshot), %d seq errors; AAPL at seq %v in epoch %.0f before, %v in epoch %.0f after",
		c.name, c.n, c.epochs, c.epochResync, len(c.errs), before, epoch, c.book["AAPL"]["seq"], c.epoch)
	if c.epochs != 1 || c.epochResync != 1 {
		t.Errorf("%d new epochs, %d announced by a resync snapshot; want 1 and 1", c.epochs, c.epochResync)
	}
	if len(c.errs) > 0 {
		t.Errorf("%s", c.errs[0])
	}
	c.mu.Unlock()
	log.mu.Lock()
	t.Logf("%d (epoch, symbol, seq) versions seen, %d with two contents", len(log.seen), len(log.conflicts))
	for i, x := range log.conflicts {
		if i == 3 {
			break
		}
		t.Errorf("a seq issued twice: %s", x)
	}
	log.mu.Unlock()
}
