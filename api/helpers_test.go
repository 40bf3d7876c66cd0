package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/service"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// testServer is the whole service on a loopback port, wired as main wires it.
type testServer struct {
	t          testing.TB
	srv        *Server
	engine     *fanout.Engine
	set        *feeds.Set
	ring       *market.Ring
	addr       string
	stop       func()
	startFeeds func()
}

func quietLog() *slog.Logger {
	if os.Getenv("TICKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer runs feeds (specs), the engine and the server. With start
// false the feeds are built but not started (see startFeeds).
func startServer(t testing.TB, cfg Config, fcfg fanout.Config, specs ...string) *testServer {
	return startServerWith(t, cfg, fcfg, true, specs...)
}

func startServerWith(t testing.TB, cfg Config, fcfg fanout.Config, startFeeds bool, specs ...string) *testServer {
	t.Helper()
	return startServerLog(t, cfg, fcfg, startFeeds, quietLog(), specs...)
}

// startServerLog is startServerWith with the logger given.
func startServerLog(t testing.TB, cfg Config, fcfg fanout.Config, startFeeds bool, log *slog.Logger, specs ...string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, ln, cfg, fcfg, startFeeds, log, specs...)
}

// startServerOn serves on ln, for tests whose Config needs the address
// (an origin list naming the server itself).
func startServerOn(t testing.TB, ln net.Listener, cfg Config, fcfg fanout.Config, startFeeds bool, log *slog.Logger, specs ...string) *testServer {
	t.Helper()
	return startServerSet(t, ln, cfg, fcfg, feeds.DefaultConfig(), startFeeds, log, specs...)
}

// startServerSet is startServerOn with the feed Set's configuration given.
func startServerSet(t testing.TB, ln net.Listener, cfg Config, fcfg fanout.Config, setCfg feeds.Config, startFeeds bool, log *slog.Logger, specs ...string) *testServer {
	t.Helper()
	var fl []feeds.Feed
	for _, spec := range specs {
		f, err := feeds.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		fl = append(fl, f)
	}
	set, err := feeds.NewSetConfig(setCfg, log, fl...)
	if err != nil {
		t.Fatal(err)
	}
	ring := market.NewRing(1 << 14)
	if cfg.Bars == nil && !fcfg.Replica {
		agg := bars.New() // as main wires it
		cfg.Bars = agg
		if fcfg.Tap != nil {
			fcfg.Tap = fanout.Taps{fcfg.Tap, agg}
		} else {
			fcfg.Tap = agg
		}
	}
	engine, err := fanout.New(fcfg, ring, set.Symbols(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, engine, set, ring, log)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	// started and stopped in main's order, by the service main uses
	n := &service.Node{Engine: engine, Feeds: set, Ring: ring, Server: srv, Log: log, DeferFeeds: !startFeeds}
	n.Start(ln)
	ts := &testServer{t: t, srv: srv, engine: engine, set: set, ring: ring, addr: ln.Addr().String()}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			if err := n.Stop(); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	ts.startFeeds = n.StartFeeds
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }
func (ts *testServer) wsURL(q string) string  { return "ws://" + ts.addr + "/ws" + q }

func (ts *testServer) get(path string) (int, string) {
	ts.t.Helper()
	resp, err := http.Get(ts.url(path))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitQuote waits until the engine has published a quote of symbol.
func waitQuote(t *testing.T, ts *testServer, symbol string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := ts.get("/api/quotes/" + symbol); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s quote within 5s", symbol)
		}
	}
}

// waitFeedsFinished waits until every feed's Run has returned.
func (ts *testServer) waitFeedsFinished() {
	ts.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, st := range ts.set.Statuses() {
			done = done && st.Finished
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("feeds did not finish: %+v", ts.set.Statuses())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverMsg is a decoded server message.
type serverMsg struct {
	Type    string            `json:"type"`
	ID      json.RawMessage   `json:"id"`
	Reason  string            `json:"reason"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Symbols []string          `json:"symbols"`
	Time    int64             `json:"time"`
	Quotes  []json.RawMessage `json:"quotes"`
	Raw     []byte            `json:"-"` // the message as received
}

// client is a test WebSocket client that checks the per-symbol invariant
// as it applies snapshots and updates to its own book.
type client struct {
	t       testing.TB
	ws      *websocket.Conn
	resp    *http.Response
	book    map[string]map[string]string // symbol → field → value ("seq" and "ts" included)
	updates int
	resyncs int
	last    []serverMsg // non-data messages, in order
}

func dial(t testing.TB, url string, deflate bool, header http.Header) *client {
	t.Helper()
	d := websocket.Dialer{EnableCompression: deflate, Subprotocols: []string{"ticker.v1"}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &client{t: t, ws: ws, resp: resp, book: map[string]map[string]string{}}
	t.Cleanup(func() { ws.Close() })
	return c
}

func (c *client) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next message, applying market data to the book.
func (c *client) read(timeout time.Duration) (serverMsg, error) {
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return serverMsg{}, err
	}
	if mt != websocket.TextMessage {
		return serverMsg{}, fmt.Errorf("message type %d", mt)
	}
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("bad JSON %q: %v", data, err)
	}
	m.Raw = data
	if err := c.apply(m); err != nil {
		return m, err
	}
	return m, nil
}

// expect reads until a message of type typ arrives (market data in between
// is applied), failing after timeout.
func (c *client) expect(typ string, timeout time.Duration) serverMsg {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

func (c *client) apply(m serverMsg) error {
	switch m.Type {
	case "snapshot":
		if m.Reason == "resync" {
			c.resyncs++
		}
		for _, raw := range m.Quotes {
			q, err := decodeQuote(raw)
			if err != nil {
				return err
			}
			c.book[q["s"]] = q
		}
	case "update":
		c.updates++
		seen := map[string]bool{}
		for _, raw := range m.Quotes {
			d, err := decodeQuote(raw)
			if err != nil {
				return err
			}
			s := d["s"]
			if seen[s] {
				return fmt.Errorf("%s twice in one update", s)
			}
			seen[s] = true
			// a conflated entry covers from..seq; any other, seq alone
			from, conflated := d["from"]
			if !conflated {
				from = d["seq"]
			}
			delete(d, "from")
			if conflated && atoi(from) > atoi(d["seq"]) {
				return fmt.Errorf("%s: from %s past seq %s", s, from, d["seq"])
			}
			q, ok := c.book[s]
			if !ok {
				if from != "1" {
					return fmt.Errorf("%s: update from seq %s without a snapshot", s, from)
				}
				q = map[string]string{}
				c.book[s] = q
			} else if want := fmt.Sprint(atoi(q["seq"]) + 1); from != want {
				return fmt.Errorf("%s: seq %s after %s", s, from, q["seq"])
			}
			for k, v := range d {
				q[k] = v
			}
		}
	default:
		c.last = append(c.last, m)
	}
	return nil
}

func atoi(s string) uint64 {
	var n uint64
	fmt.Sscan(s, &n)
	return n
}

// decodeQuote flattens a Quote/Delta object into strings, checking that
// every decimal is a JSON string without exponent.
func decodeQuote(raw []byte) (map[string]string, error) {
	v, err := fastjson.ParseBytes(raw)
	if err != nil {
		return nil, err
	}
	o, err := v.Object()
	if err != nil {
		return nil, err
	}
	q := map[string]string{}
	var ferr error
	o.Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		switch key {
		case "seq", "ts", "from":
			if v.Type() != fastjson.TypeNumber {
				ferr = fmt.Errorf("%s is not a number in %s", key, raw)
			}
			q[key] = v.String()
		case "stale":
			if v.Type() != fastjson.TypeTrue && v.Type() != fastjson.TypeFalse {
				ferr = fmt.Errorf("stale is not a boolean in %s", raw)
			}
			q[key] = v.String()
		default:
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf("%s is not a string in %s", key, raw)
				return
			}
			if key != "s" && strings.ContainsAny(string(b), "eE") {
				ferr = fmt.Errorf("%s has an exponent in %s", key, raw)
			}
			q[key] = string(b)
		}
	})
	return q, ferr
}

// closeCode reads until the connection ends and returns the close code.
func (c *client) closeCode(timeout time.Duration) (int, string) {
	c.t.Helper()
	code, text, err := c.closeResult(timeout)
	if err != nil {
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
	return code, text
}

// closeResult reads until the connection ends and returns the close
// frame's code and text, or the error that ended it without one (code
// 1006, as RFC 6455 names an abnormal closure). Safe off the test goroutine.
func (c *client) closeResult(timeout time.Duration) (int, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		c.ws.SetReadDeadline(deadline)
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code, ce.Text, nil
		}
		return 1006, "", err
	}
}

// foldFixture applies a fixture line by line as State does and returns the
// final quotes (without seq) by symbol.
func foldFixture(t testing.TB, path string) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*market.State{}
	var p fastjson.Parser
	for _, line := range strings.Split(string(data), "\n") {
		var q market.Quote
		if err := protocol.ParseLine(&p, []byte(line), &q); err != nil {
			continue
		}
		st := states[q.Symbol]
		if st == nil {
			st = market.NewState(q.Symbol)
			states[q.Symbol] = st
		}
		st.Apply(&q)
	}
	out := map[string]map[string]string{}
	for sym, st := range states {
		var d market.Quote
		st.Publish(&d)
		q := st.Published()
		m, err := decodeQuote(q.AppendJSON(nil))
		if err != nil {
			t.Fatal(err)
		}
		delete(m, "seq")
		out[sym] = m
	}
	return out
}
