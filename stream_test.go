package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/rawws"
)

// event is one block of an event stream: its fields, or its comments.
type event struct {
	id, name, data string
	comments       []string
}

// readEvents parses an event stream from r and sends its blocks to out
// until r ends, then closes out.
func readEvents(r io.Reader, out chan<- event) {
	defer close(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev event
	fields := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if fields > 0 {
				out <- ev
			}
			ev, fields = event{}, 0
			continue
		}
		fields++
		if c, ok := strings.CutPrefix(line, ":"); ok {
			ev.comments = append(ev.comments, strings.TrimSpace(c))
			continue
		}
		name, value, _ := strings.Cut(line, ": ")
		switch name {
		case "id":
			ev.id = value
		case "event":
			ev.name = value
		case "data":
			ev.data = value
		}
	}
}

// streamMsg is what the stream tests read of a message.
type streamMsg struct {
	Type, Reason string
	Epoch        uint64
	Time         int64
	Quotes       []struct {
		S   string
		Seq uint64
	}
}

// curlStream runs curl -N on /stream and returns its events; the test's
// cleanup stops curl.
func curlStream(t *testing.T, addr, query string, args ...string) (<-chan event, *exec.Cmd) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	cmd := exec.Command("curl", append(args, "-sSN", "--max-time", "60", "http://"+addr+"/stream?"+query)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	events := make(chan event, 1024)
	go readEvents(out, events)
	return events, cmd
}

// nextMsg returns the next event carrying a message (heartbeats skipped).
func nextMsg(t *testing.T, events <-chan event) (event, streamMsg) {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.data == "" {
				continue
			}
			var m streamMsg
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatalf("data %q: %v", ev.data, err)
			}
			if m.Type != ev.name {
				t.Fatalf("event %q carries a %q message", ev.name, m.Type)
			}
			return ev, m
		case <-time.After(10 * time.Second):
			t.Fatal("no message within 10s")
		}
	}
}

// TestProcessStreamCurl runs the built binary and reads /stream with
// curl -N: the subscribed ack, the snapshot, then updates whose seqs rise
// by one per symbol, each snapshot and update with the id epoch:time. A
// second curl that sends the last id it saw as Last-Event-ID gets a
// resync snapshot with the seqs at least as high. On SIGTERM the first
// stream ends with the comment "closed 1001 server shutting down" and a
// clean end of the response: curl exits 0.
func TestProcessStreamCurl(t *testing.T) {
	proc, addr := startBinary(t, "--feed", "synthetic:?symbols=8&rate=400&seed=3")
	for _, sym := range []string{"BTC-USD", "ETH-USD"} {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if code, _ := tryGet("http://" + addr + "/api/quotes/" + sym); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s quote within 5s", sym)
			}
		}
	}
	events, cmd := curlStream(t, addr, "symbols=BTC-USD,ETH-USD")
	_, ack := nextMsg(t, events)
	if ack.Type != "subscribed" || ack.Epoch == 0 {
		t.Fatalf("first message %+v, want the subscribed ack with the epoch", ack)
	}
	ev, snap := nextMsg(t, events)
	if snap.Type != "snapshot" || snap.Reason != "subscribe" || len(snap.Quotes) != 2 || ev.id != fmt.Sprintf("%d:%d", ack.Epoch, snap.Time) {
		t.Fatalf("second message %+v (id %q), want the snapshot of both symbols", snap, ev.id)
	}
	seqs := map[string]uint64{}
	for _, q := range snap.Quotes {
		seqs[q.S] = q.Seq
	}
	lastID := ""
	for updates := 0; updates < 40; updates++ {
		ev, m := nextMsg(t, events)
		if m.Type != "update" || ev.id != fmt.Sprintf("%d:%d", ack.Epoch, m.Time) {
			t.Fatalf("%+v (id %q), want an update with id epoch:time", m, ev.id)
		}
		for _, q := range m.Quotes {
			if q.Seq != seqs[q.S]+1 {
				t.Fatalf("%s: seq %d after %d", q.S, q.Seq, seqs[q.S])
			}
			seqs[q.S] = q.Seq
		}
		lastID = ev.id
	}
	t.Logf("40 updates in order; seqs now %v; last id %s", seqs, lastID)

	resumed, resumedCmd := curlStream(t, addr, "symbols=BTC-USD,ETH-USD", "-H", "Last-Event-ID: "+lastID)
	nextMsg(t, resumed) // the ack
	_, resync := nextMsg(t, resumed)
	if resync.Type != "snapshot" || resync.Reason != "resync" || len(resync.Quotes) != 2 {
		t.Fatalf("after Last-Event-ID: %+v, want a resync snapshot of both symbols", resync)
	}
	for _, q := range resync.Quotes {
		if q.Seq < seqs[q.S] {
			t.Errorf("%s: resync seq %d below the %d already seen", q.S, q.Seq, seqs[q.S])
		}
	}
	resumedCmd.Process.Kill()

	stopped := make(chan error, 1)
	go func() { stopped <- proc.stop(t, syscall.SIGTERM) }()
	var comments []string
	for ev := range events {
		comments = append(comments, ev.comments...)
	}
	if len(comments) == 0 || comments[len(comments)-1] != "closed 1001 server shutting down" {
		t.Errorf("comments at the end %q, want the last \"closed 1001 server shutting down\"", comments[max(0, len(comments)-3):])
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("curl: %v (want exit 0: the response ended cleanly)", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("ticker exited %v\n%s", err, proc.logs.String())
	}
}

// TestProcessStreamSlowConsumer: a stream client that stops reading (a
// raw TCP client with a 4 KiB receive buffer) is cut like a WebSocket
// one: within --stuck-timeout plus the write timeout its socket is reset
// while it still reads nothing, counted as a slow-consumer close, and it
// leaves ticker_streams; a stream that reads keeps getting updates. When
// the staller reads again it finds whole events, then the end.
func TestProcessStreamSlowConsumer(t *testing.T) {
	const stuck = 2 * time.Second
	const writeTimeout = 10 * time.Second
	proc, addr := startBinary(t, "--feed", "synthetic:?symbols=200&rate=4000&seed=5", "--stuck-timeout", stuck.String())
	good, _ := curlStream(t, addr, "symbols=*")
	nextMsg(t, good)

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	staller, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer staller.Close()
	fmt.Fprintf(staller, "GET /stream?symbols=* HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	stalledAt := time.Now()

	// the good reader drains its stream meanwhile
	updates := make(chan int, 1)
	stopGood := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-stopGood:
				updates <- n
				return
			case ev, ok := <-good:
				if !ok {
					updates <- -1
					return
				}
				if ev.name == "update" {
					n++
				}
			}
		}
	}()

	bound := stuck + writeTimeout
	var closedAfter time.Duration
	for time.Since(stalledAt) < bound+5*time.Second {
		if st, err := rawws.TCPState(staller); err != nil || st != 1 /* established */ {
			closedAfter = time.Since(stalledAt)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if closedAfter == 0 || closedAfter > bound {
		t.Fatalf("the staller's socket was not closed within %v (after %v)\n%s", bound, closedAfter, proc.logs.String())
	}
	t.Logf("staller cut after %v (stuck timeout %v)", closedAfter, stuck)
	if n := metric(addr, "ticker_slow_consumer_closes_total"); n != 1 {
		t.Errorf("ticker_slow_consumer_closes_total = %v, want 1", n)
	}
	if n := metric(addr, "ticker_streams"); n != 1 {
		t.Errorf("ticker_streams = %v, want 1 (the reader)", n)
	}

	// whole events, then the end (the reset, or the close comment and the last chunk), never silence
	staller.SetReadDeadline(time.Now().Add(3 * time.Second))
	raw, err := io.ReadAll(staller)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the staller's connection went silent instead of ending, after %d bytes", len(raw))
	}
	text := string(raw)
	if !strings.HasPrefix(text, "HTTP/1.1 200 OK\r\n") || !strings.Contains(text, "event: subscribed\n") {
		t.Errorf("the staller read %.200q", text)
	}
	t.Logf("the staller read %d bytes, then %v", len(raw), err)

	time.Sleep(300 * time.Millisecond)
	close(stopGood)
	if n := <-updates; n < 20 {
		t.Errorf("the reading stream got %d updates meanwhile", n)
	}
}

// TestProcessStreamSlowReader: a stream client that reads slowly but
// steadily (16 KiB every 100 ms from a 4 KiB receive buffer, while the
// stream sends several times that) is not closed: its queue overflows and
// it gets resync snapshots, as a WebSocket client would.
func TestProcessStreamSlowReader(t *testing.T) {
	const stuck = 2 * time.Second
	proc, addr := startBinary(t, "--feed", "synthetic:?symbols=200&rate=4000&seed=5", "--stuck-timeout", stuck.String(),
		"--send-buffer-bytes", "65536", "--queue-bytes", "131072")
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /stream?symbols=* HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	var stream []byte
	buf := make([]byte, 16<<10)
	for start := time.Now(); time.Since(start) < 3*stuck; time.Sleep(100 * time.Millisecond) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v\n%s", len(stream), err, proc.logs.String())
		}
		stream = append(stream, buf[:n]...)
	}
	text := string(stream)
	resyncs := strings.Count(text, `data: {"type":"snapshot","reason":"resync"`)
	if resyncs == 0 || strings.Contains(text, ": closed ") {
		t.Errorf("%d resync snapshots, closed %v, in %d bytes", resyncs, strings.Contains(text, ": closed "), len(stream))
	}
	if n := metric(addr, "ticker_slow_consumer_closes_total"); n != 0 {
		t.Errorf("ticker_slow_consumer_closes_total = %v", n)
	}
	t.Logf("read %d bytes: %d resync snapshots, drops %v", len(stream), resyncs, metric(addr, "ticker_drops_total"))
}
