package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/rawws"
	"github.com/ticker-io/ticker/internal/testnet"
)

// startBinary runs the built binary on a free loopback address with args
// and waits until it answers /readyz.
func startBinary(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	bin := buildBinary(t)
	addr := testnet.FreeAddr(t)
	proc := startProcess(t, exec.Command(bin, append([]string{"--addr", addr}, args...)...))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 15s; logs:\n%s", proc.logs.String())
		}
		if code, _ := tryGet("http://" + addr + "/readyz"); code == 200 {
			return proc, addr
		}
	}
}

// cadence reads a client's updates until stop and records the longest wait
// between two of them.
type cadence struct {
	c       *rawws.Conn
	updates int
	maxGap  time.Duration
	err     error
}

func (cd *cadence) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		default:
		}
		m, err := cd.c.ReadMessage(5 * time.Second)
		if err != nil {
			cd.err = err
			return
		}
		switch m.Op {
		case rawws.OpPing:
			cd.c.WriteFrame(true, 0, rawws.OpPong, m.Payload)
		case rawws.OpText:
			var head struct{ Type string }
			json.Unmarshal(m.Payload, &head)
			if head.Type == "update" {
				cd.updates++
				if gap := time.Since(last); gap > cd.maxGap {
					cd.maxGap = gap
				}
				last = time.Now()
			}
		case rawws.OpClose:
			code, reason := rawws.CloseCode(m.Payload)
			cd.err = fmt.Errorf("closed %d %q", code, reason)
			return
		}
	}
}

// TestProcessSlowConsumers runs the built binary with readers that stop
// reading: raw TCP clients with a 4 KiB receive buffer that subscribe to
// "*" and never read again, three offering permessage-deflate and three
// not. In one server the kernel's autotuned send buffer takes the writes
// and the queue is large, so no resync is ever pending: only the peer's
// TCP acknowledgements show that it stopped. In the other the send buffer
// and queue are small, so the writer blocks and the queue overflows into a
// pending resync. In both, within --stuck-timeout plus the write timeout,
// the server must cut every staller's socket (an RST reaches the client
// while it still does not read), count the closes, drop the connections
// from ticker_connections, and never leave a staller holding half a frame
// and silence; two clients that do read keep getting an update every
// window throughout.
func TestProcessSlowConsumers(t *testing.T) {
	const stuck = 2 * time.Second
	const writeTimeout = 10 * time.Second // the server's
	feed := "synthetic:?symbols=200&rate=4000&seed=5"
	for _, tc := range []struct {
		name   string
		args   []string
		resync bool
	}{
		{"kernel takes the writes, no resync pending", []string{"--queue-bytes", "67108864"}, false},
		{"writer blocked, resync pending", []string{"--send-buffer-bytes", "8192", "--queue-bytes", "32768"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, addr := startBinary(t, append([]string{"--feed", feed, "--stuck-timeout", stuck.String()}, tc.args...)...)

			var goods []*cadence
			for _, ext := range []string{"", "permessage-deflate"} {
				c, err := rawws.Dial(addr, rawws.Options{Path: "/ws?symbols=*", Extensions: ext})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				goods = append(goods, &cadence{c: c})
			}
			var stallers []*rawws.Conn
			for i := range 6 {
				ext := ""
				if i%2 == 1 {
					ext = "permessage-deflate"
				}
				c, err := rawws.Dial(addr, rawws.Options{Path: "/ws?symbols=*", Extensions: ext, RcvBuf: 4096})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				stallers = append(stallers, c)
			}
			stalledAt := time.Now() // from here on the stallers read nothing
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for _, g := range goods {
				wg.Add(1)
				go g.run(stop, &wg)
			}
			stopReaders := sync.OnceFunc(func() { close(stop); wg.Wait() })
			defer stopReaders()

			// each staller's socket must leave ESTABLISHED without the client reading
			bound := stuck + writeTimeout
			closedAfter := make([]time.Duration, len(stallers))
			for pending := len(stallers); pending > 0; time.Sleep(50 * time.Millisecond) {
				if time.Since(stalledAt) > bound+5*time.Second {
					break
				}
				for i, c := range stallers {
					if closedAfter[i] != 0 {
						continue
					}
					if st, err := rawws.TCPState(c.NC); err != nil || st != 1 /* established */ {
						closedAfter[i] = time.Since(stalledAt)
						pending--
					}
				}
			}
			for i, d := range closedAfter {
				if d == 0 || d > bound {
					t.Errorf("staller %d (deflate %v): socket not closed by the server within %v (closed after %v)\nlogs:\n%s",
						i, stallers[i].Deflate, bound, d, proc.logs.String())
				}
			}
			t.Logf("stallers' sockets closed by the server after %v (stuck timeout %v, bound %v)", closedAfter, stuck, bound)

			if n := metric(addr, "ticker_connections"); n != float64(len(goods)) {
				t.Errorf("ticker_connections = %v, want %d (the readers only)", n, len(goods))
			}
			if n := metric(addr, "ticker_slow_consumer_closes_total"); n != float64(len(stallers)) {
				t.Errorf("ticker_slow_consumer_closes_total = %v, want %d", n, len(stallers))
			}
			if n := metric(addr, `ticker_closes_total{code="1008"}`); n != float64(len(stallers)) {
				t.Errorf(`ticker_closes_total{code="1008"} = %v, want %d (every close decided, sent or not)`, n, len(stallers))
			}
			drops := metric(addr, "ticker_drops_total")
			if tc.resync && drops == 0 {
				t.Errorf("ticker_drops_total = 0: the stallers' queues never overflowed, so no resync was pending")
			}
			if !tc.resync && drops != 0 {
				t.Errorf("ticker_drops_total = %v: a queue overflowed, so a resync was pending", drops)
			}
			t.Logf("ticker_drops_total %v", drops)

			// what a staller gets when it reads again: whole frames, then a
			// close frame or the end of the connection, never silence
			for i, c := range stallers {
				frames, cut, closeFrame := 0, false, false
				var end error
				for {
					f, err := c.ReadFrame(3 * time.Second)
					if err != nil {
						end = err
						cut = errors.Is(err, rawws.ErrCutFrame)
						break
					}
					frames++
					if f.Op == rawws.OpClose {
						code, reason := rawws.CloseCode(f.Payload)
						if code != 1008 || reason != "slow consumer" {
							t.Errorf("staller %d: close %d %q, want 1008 \"slow consumer\"", i, code, reason)
						}
						closeFrame = true
					}
				}
				var ne net.Error
				if errors.As(end, &ne) && ne.Timeout() {
					t.Errorf("staller %d: after %d frames (cut %v) the connection went silent instead of ending", i, frames, cut)
				}
				t.Logf("staller %d (deflate %v): %d whole frames, close frame %v, then %v", i, c.Deflate, frames, closeFrame, end)
			}

			time.Sleep(500 * time.Millisecond)
			stopReaders()
			for i, g := range goods {
				if g.err != nil {
					t.Errorf("reader %d: %v", i, g.err)
				}
				// the window is 50 ms: a wait of a second means the stallers held it back
				if g.updates == 0 || g.maxGap > time.Second {
					t.Errorf("reader %d: %d updates, longest wait %v", i, g.updates, g.maxGap)
				}
				t.Logf("reader %d (deflate %v): %d updates, longest wait between two %v", i, g.c.Deflate, g.updates, g.maxGap)
			}
		})
	}
}

// TestProcessFloodReplies: a client that floods pings until it is closed
// 1008 "rate limit exceeded" gets, before the close frame and in order, the
// reply owed to every message it sent before the one that closed it: a pong
// for each one let through, a rate_limited error naming the id of each one
// refused. Ten floods, half of them with permessage-deflate.
func TestProcessFloodReplies(t *testing.T) {
	_, addr := startBinary(t, "--feed", "synthetic:?symbols=20&rate=2000&seed=2")
	const sent = 150
	var batch []byte
	for id := 1; id <= sent; id++ {
		var m [4]byte
		batch = append(batch, rawws.EncodeFrame(true, 0, rawws.OpText, fmt.Appendf(nil, `{"op":"ping","id":%d}`, id), &m)...)
	}
	for run := range 10 {
		ext := ""
		if run%2 == 1 {
			ext = "permessage-deflate"
		}
		c, err := rawws.Dial(addr, rawws.Options{Extensions: ext})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(batch); err != nil {
			t.Fatal(err)
		}
		next, pongs, errs := 1, 0, 0
		closed := false
		for !closed {
			m, err := c.ReadMessage(5 * time.Second)
			if err != nil {
				t.Fatalf("run %d: after replies to ids 1..%d: %v (no close frame)", run, next-1, err)
			}
			switch m.Op {
			case rawws.OpClose:
				code, reason := rawws.CloseCode(m.Payload)
				if code != 1008 || reason != "rate limit exceeded" {
					t.Fatalf("run %d: close %d %q", run, code, reason)
				}
				closed = true
			case rawws.OpText:
				var r struct {
					Type string
					ID   int
					Code string
				}
				if err := json.Unmarshal(m.Payload, &r); err != nil {
					t.Fatalf("run %d: %q: %v", run, m.Payload, err)
				}
				if r.ID != next {
					t.Fatalf("run %d: reply %s for id %d, want id %d (the replies owed are in request order)", run, m.Payload, r.ID, next)
				}
				switch {
				case r.Type == "pong":
					pongs++
				case r.Type == "error" && r.Code == "rate_limited":
					errs++
				default:
					t.Fatalf("run %d: unexpected reply %s", run, m.Payload)
				}
				next++
			}
		}
		c.Close()
		// the message that closed it is the first one with no reply; every one before it has its reply
		if pongs < 40 || errs < 50 || next > sent {
			t.Fatalf("run %d: %d pongs and %d rate_limited errors for ids 1..%d before the close", run, pongs, errs, next-1)
		}
		if run == 0 || run == 9 {
			t.Logf("run %d (deflate %v): %d pongs, %d rate_limited errors with their ids, in order, then close 1008", run, c.Deflate, pongs, errs)
		}
	}
}

// TestProcessSlowSteadyReader: a client that reads slowly but without
// stopping (16 KiB every 100 ms, from a 4 KiB receive buffer, while the
// stream sends several times that) is never closed as a slow consumer,
// even while one write to it takes longer than --stuck-timeout: its queue
// overflows instead (and a resync snapshot is on its way). This broke before: the
// write deadline and the engine's stuck check counted a write that moved
// slowly as stuck.
func TestProcessSlowSteadyReader(t *testing.T) {
	const stuck = 2 * time.Second
	proc, addr := startBinary(t, "--feed", "synthetic:?symbols=200&rate=4000&seed=5", "--stuck-timeout", stuck.String(),
		"--send-buffer-bytes", "65536") // the default 1 MiB queue: one write can take 17 s at this pace
	c, err := rawws.Dial(addr, rawws.Options{Path: "/ws?symbols=*", RcvBuf: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 16<<10)
	var taken int
	var stream []byte
	start := time.Now()
	for time.Since(start) < 4*stuck {
		c.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.BR.Read(buf)
		if err != nil {
			t.Fatalf("after %v and %d bytes: %v\nlogs:\n%s", time.Since(start).Round(time.Millisecond), taken, err, proc.logs.String())
		}
		taken += n
		stream = append(stream, buf[:n]...)
		time.Sleep(100 * time.Millisecond)
	}
	rate := float64(taken) / time.Since(start).Seconds()
	// what it read is whole frames, and among them resync snapshots
	resyncs, closes := 0, 0
	r := &rawws.Conn{BR: bufioOf(stream), NC: c.NC}
	for {
		m, err := r.ReadMessage(time.Second)
		if err != nil {
			break
		}
		if m.Op == rawws.OpClose {
			closes++
		}
		if m.Op == rawws.OpText && strings.Contains(string(m.Payload), `"reason":"resync"`) {
			resyncs++
		}
	}
	if closes != 0 || strings.Contains(proc.logs.String(), "closed slow consumer") {
		t.Errorf("a slow but steady reader was closed:\n%s", proc.logs.String())
	}
	if drops := metric(addr, "ticker_drops_total"); drops == 0 {
		t.Errorf("ticker_drops_total = 0 with a reader at %.0f B/s: the stream was not faster than the reader", rate)
	}
	if n := metric(addr, "ticker_slow_consumer_closes_total"); n != 0 {
		t.Errorf("ticker_slow_consumer_closes_total = %v", n)
	}
	t.Logf("read %d bytes in %v (%.0f B/s), %d resync snapshots among them (stuck timeout %v)",
		taken, time.Since(start).Round(time.Millisecond), rate, resyncs, stuck)
}

func bufioOf(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
