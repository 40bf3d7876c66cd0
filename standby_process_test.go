package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/internal/testnet"
)

// TestProcessStandbyTakeover runs the built binaries from outside: a real
// nats-server, an ingest leader and an ingest standby, each with the same
// synthetic feed. The standby serves clients like an edge and follows the
// whole stream:
//   - after its only client, a "*" subscriber, leaves, it goes on following
//     every symbol: its REST serves them at rising seqs, and it logs no
//     delta skipped out of sequence;
//   - when the leader is killed (SIGKILL) and the standby takes over, a
//     raw WebSocket client connected to it sees no seq gap and no update
//     for a symbol it had no snapshot of (the takeover's seqs jump past
//     what the old leader published, so it gets resync snapshots, as an
//     edge's clients do), and no (symbol, seq) is seen with two contents.
func TestProcessStandbyTakeover(t *testing.T) {
	bin := buildBinary(t)
	natsBin := buildNATSServer(t)
	port := strconv.Itoa(testnet.FreePort(t))
	startNATS(t, natsBin, port, t.TempDir())
	start := func(id string) (*process, string) {
		addr := testnet.FreeAddr(t)
		cmd := exec.Command(bin, "--addr", addr, "--nats", "nats://127.0.0.1:"+port, "--coalesce", "10ms", "--lease-time", "1s",
			"--role", "ingest", "--node-id", id, "--feed", "synthetic:?symbols=20&rate=2000&seed=1")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		return startProcess(t, cmd), addr
	}
	leader, leaderAddr := start("ingest-1")
	waitUntil(t, "the first ingest leads", 30*time.Second, func() bool { return metric(leaderAddr, "ticker_cluster_leader") == 1 })
	standby, addr := start("ingest-2")
	waitUntil(t, "the standby is ready", 30*time.Second, func() bool { code, _ := tryGet("http://" + addr + "/readyz"); return code == 200 })

	// a "*" client comes and goes
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ws.Close()
	time.Sleep(500 * time.Millisecond) // its unsubscribe is taken
	seqOf := func() float64 {
		_, body := tryGet("http://" + addr + "/api/quotes/AAPL")
		var seq float64
		if i := strings.Index(body, `"seq":`); i >= 0 {
			fmt.Sscan(strings.TrimLeft(body[i+6:], " "), &seq)
		}
		return seq
	}
	before := seqOf()
	time.Sleep(time.Second)
	if after := seqOf(); before == 0 || after <= before {
		_, body := tryGet("http://" + addr + "/api/quotes/AAPL")
		t.Errorf("the standby's AAPL after its last client left: seq %v, then %v a second later (%s); want rising", before, after, body)
	}
	if n := strings.Count(standby.logs.String(), "out of sequence"); n > 0 {
		t.Errorf("the standby skipped %d deltas out of sequence after its last client left", n)
	}

	// a client on the standby, through the takeover
	log := &versionLog{seen: map[string]string{}}
	c := &rawClient{name: "standby", log: log, book: map[string]map[string]any{}}
	ws, _, err = websocket.DefaultDialer.Dial("ws://"+addr+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.read(ws) }()
	t.Cleanup(func() { ws.Close(); <-done })
	time.Sleep(time.Second)
	if err := leader.stop(t, syscall.SIGKILL); err == nil {
		t.Log("the leader exited cleanly after SIGKILL?")
	}
	killed := time.Now()
	waitUntil(t, "the standby leads", 20*time.Second, func() bool { return metric(addr, "ticker_cluster_leader") == 1 })
	led := time.Now()
	waitUntil(t, "updates after the takeover", 10*time.Second, func() bool { return c.updatedAfter(led) })
	time.Sleep(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("the standby led %v after the leader was killed; its client: %d updates, %d seq errors, AAPL at seq %v",
		led.Sub(killed).Round(time.Millisecond), c.n, len(c.errs), c.book["AAPL"]["seq"])
	for i, e := range c.errs {
		if i == 3 {
			break
		}
		t.Errorf("the standby's client: %s", e)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for i, e := range log.conflicts {
		if i == 3 {
			break
		}
		t.Errorf("a seq seen with two contents: %s", e)
	}
}

// TestProcessEdgeFirst: an edge started before the stream began (no
// ingest node yet, the bucket empty) learns the stream's epoch once it
// has begun, though no client of its own has subscribed: its first
// client's ack carries it, a bucket listing (at most 5 s) after the edge
// lists the stream's symbols.
func TestProcessEdgeFirst(t *testing.T) {
	bin := buildBinary(t)
	natsBin := buildNATSServer(t)
	port := strconv.Itoa(testnet.FreePort(t))
	startNATS(t, natsBin, port, t.TempDir())
	start := func(args ...string) string {
		addr := testnet.FreeAddr(t)
		cmd := exec.Command(bin, append([]string{"--addr", addr, "--nats", "nats://127.0.0.1:" + port, "--coalesce", "10ms", "--lease-time", "1s"}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		startProcess(t, cmd)
		return addr
	}
	edge := start("--role", "edge", "--node-id", "edge-1")
	waitUntil(t, "the edge is ready", 30*time.Second, func() bool { code, _ := tryGet("http://" + edge + "/readyz"); return code == 200 })
	ingest := start("--role", "ingest", "--node-id", "ingest-1", "--feed", "synthetic:?symbols=5&rate=500&seed=1")
	waitUntil(t, "the ingest leads", 30*time.Second, func() bool { return metric(ingest, "ticker_cluster_leader") == 1 })
	waitUntil(t, "the edge lists the symbols", 15*time.Second, func() bool {
		_, body := tryGet("http://" + edge + "/api/symbols")
		return strings.Count(body, ",") >= 4
	})
	time.Sleep(6 * time.Second) // the edge's next listing of the bucket
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+edge+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	requireAckEpoch(t, ws, "the first ack of an edge started before the stream")
}

// requireAckEpoch fails t unless the next message on ws is a subscribed
// ack carrying an epoch.
func requireAckEpoch(t *testing.T, ws *websocket.Conn, what string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack struct {
		Type  string
		Epoch uint64
	}
	if err := ws.ReadJSON(&ack); err != nil || ack.Type != "subscribed" || ack.Epoch == 0 {
		t.Fatalf("%s: %+v, %v; want a subscribed ack with an epoch", what, ack, err)
	}
}
