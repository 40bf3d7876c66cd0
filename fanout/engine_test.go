package fanout

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/ws"
)

// wsFrame is one decoded server frame.
type wsFrame struct {
	op         byte
	compressed bool
	payload    []byte
}

func decodeFrame(t testing.TB, b []byte) wsFrame {
	t.Helper()
	if len(b) < 2 {
		t.Fatalf("short frame %x", b)
	}
	f := wsFrame{op: b[0] & 0x0f, compressed: b[0]&ws.BitRSV1 != 0}
	if b[0]&ws.BitFin == 0 {
		t.Fatalf("fragmented frame")
	}
	if b[1]&0x80 != 0 {
		t.Fatalf("server frame is masked")
	}
	n, at := int(b[1]&0x7f), 2
	switch n {
	case 126:
		n, at = int(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		n, at = int(binary.BigEndian.Uint64(b[2:10])), 10
	}
	if len(b)-at != n {
		t.Fatalf("frame says %d payload bytes, has %d", n, len(b)-at)
	}
	f.payload = b[at:]
	if f.compressed {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(f.payload), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
		p, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("inflate: %v", err)
		}
		f.payload = p
	}
	return f
}

type msg struct {
	Type    string            `json:"type"`
	ID      json.RawMessage   `json:"id"`
	Reason  string            `json:"reason"`
	Code    string            `json:"code"`
	Symbols []string          `json:"symbols"`
	Time    int64             `json:"time"`
	Epoch   uint64            `json:"epoch"`
	Quotes  []json.RawMessage `json:"quotes"`
}

type quoteJSON struct {
	S   string `json:"s"`
	Seq uint64 `json:"seq"`
	Ts  int64  `json:"ts"`
}

// take drains c and decodes every text message.
func take(t testing.TB, c *Client) (msgs []msg, closing bool, raw [][]byte) {
	t.Helper()
	bufs, closing := c.Take(nil)
	for _, b := range bufs {
		f := decodeFrame(t, b)
		if f.op != ws.OpText {
			continue
		}
		var m msg
		if err := json.Unmarshal(f.payload, &m); err != nil {
			t.Fatalf("bad JSON %s: %v", f.payload, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, closing, bufs
}

func newTestEngine(t testing.TB, cfg Config, declared ...string) *Engine {
	t.Helper()
	e, err := New(cfg, market.NewRing(1024), declared, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func push(t testing.TB, e *Engine, sym string, ts int64, kv ...string) {
	t.Helper()
	q := market.Quote{Symbol: sym, TsMicros: ts}
	for i := 0; i < len(kv); i += 2 {
		f, ok := market.FieldByName([]byte(kv[i]))
		if !ok {
			t.Fatalf("field %s", kv[i])
		}
		q.Set(f, market.MustDecimal(kv[i+1]))
	}
	if !e.ring.TryPush(&q) {
		t.Fatal("ring full")
	}
}

// window drains the ring and flushes, as Run does at each tick.
func window(e *Engine) {
	e.drain(e.ring.Cap())
	e.flush(time.Now())
}

func register(e *Engine, deflate bool, queueBytes int) *Client {
	c := NewClient(deflate, queueBytes)
	e.handle(command{kind: cmdRegister, c: c})
	return c
}

func subscribe(e *Engine, c *Client, id string, syms ...string) {
	var raw []byte
	if id != "" {
		raw = []byte(id)
	}
	e.handle(command{kind: cmdSubscribe, c: c, id: raw, symbols: syms})
}

func TestSubscribeFlow(t *testing.T) {
	e := newTestEngine(t, Config{MaxSymbolsPerClient: 3}, "A", "B", "C", "D", "E")
	push(t, e, "A", 1, "bid", "1.0", "ask", "1.1")
	push(t, e, "B", 2, "bid", "2")
	window(e)

	c := register(e, false, 1<<20)
	subscribe(e, c, "7", "A", "NOPE", "C", "D", "E", "A")
	msgs, _, _ := take(t, c)
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%s:%s:%s:%v", m.Type, m.ID, m.Code, m.Symbols))
	}
	want := []string{
		"error:7:unknown_symbol:[NOPE]",
		"error:7:too_many_symbols:[E]",
		"subscribed:7::[A C D]", // the second A is the same symbol: acked once
		"snapshot:::[]",
	}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("replies\n got %v\nwant %v", got, want)
	}
	snap := msgs[3]
	if snap.Reason != "subscribe" || len(snap.Quotes) != 1 ||
		string(snap.Quotes[0]) != `{"s":"A","seq":1,"ts":1,"bid":"1","ask":"1.1"}` {
		t.Fatalf("snapshot %+v %s", snap, snap.Quotes)
	}

	// C gets its first full quote in an update (seq 1); A continues at seq 2
	push(t, e, "A", 3, "ask", "1.2")
	push(t, e, "C", 4, "last", "9", "last_size", "1")
	push(t, e, "B", 5, "bid", "2.5") // not subscribed
	window(e)
	msgs, _, _ = take(t, c)
	if len(msgs) != 1 || msgs[0].Type != "update" {
		t.Fatalf("want one update, got %+v", msgs)
	}
	if q := fmt.Sprint(rawStrings(msgs[0].Quotes)); q != `[{"s":"A","seq":2,"ts":3,"ask":"1.2"} {"s":"C","seq":1,"ts":4,"last":"9","last_size":"1"}]` {
		t.Fatalf("update quotes %s", q)
	}

	// no id: none echoed; unsubscribe acks everything and stops updates
	e.handle(command{kind: cmdUnsubscribe, c: c, symbols: []string{"A", "ZZZ"}})
	push(t, e, "A", 6, "ask", "1.3")
	window(e)
	msgs, _, raw := take(t, c)
	if len(msgs) != 1 || msgs[0].Type != "unsubscribed" || string(raw[0][2:]) != `{"type":"unsubscribed","symbols":["A","ZZZ"]}` {
		t.Fatalf("after unsubscribe: %+v", msgs)
	}
	if e.Stats().Subscriptions.Load() != 2 {
		t.Fatalf("subscriptions gauge %d, want 2 (C, D)", e.Stats().Subscriptions.Load())
	}
	e.handle(command{kind: cmdUnregister, c: c})
	if e.Stats().Subscriptions.Load() != 0 || e.Stats().Clients.Load() != 0 {
		t.Fatalf("gauges after unregister: %d subs, %d clients", e.Stats().Subscriptions.Load(), e.Stats().Clients.Load())
	}
}

func rawStrings(rs []json.RawMessage) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func TestWildcard(t *testing.T) {
	e := newTestEngine(t, Config{}, "A")
	push(t, e, "A", 1, "bid", "1")
	window(e)
	c := register(e, false, 1<<20)
	subscribe(e, c, "", "*")
	msgs, _, _ := take(t, c)
	if len(msgs) != 2 || msgs[0].Type != "subscribed" || msgs[1].Type != "snapshot" || len(msgs[1].Quotes) != 1 {
		t.Fatalf("wildcard subscribe: %+v", msgs)
	}
	// a symbol no feed declared appears: the wildcard client gets it from seq 1
	push(t, e, "NEW", 2, "bid", "5", "ask", "6")
	window(e)
	msgs, _, _ = take(t, c)
	if len(msgs) != 1 || string(msgs[0].Quotes[0]) != `{"s":"NEW","seq":1,"ts":2,"bid":"5","ask":"6"}` {
		t.Fatalf("new symbol: %+v", msgs)
	}
	if strings.Join(e.Symbols(), ",") != "A,NEW" {
		t.Fatalf("symbols %v", e.Symbols())
	}
	// an explicit subscription under the wildcard sends no second snapshot
	subscribe(e, c, "", "A")
	msgs, _, _ = take(t, c)
	if len(msgs) != 1 || msgs[0].Type != "subscribed" {
		t.Fatalf("explicit under wildcard: %+v", msgs)
	}
	// dropping the wildcard keeps the explicit symbol flowing, without a gap
	e.handle(command{kind: cmdUnsubscribe, c: c, symbols: []string{"*"}})
	push(t, e, "A", 3, "bid", "1.5")
	push(t, e, "NEW", 3, "bid", "5.5")
	window(e)
	msgs, _, _ = take(t, c)
	if len(msgs) != 2 || len(msgs[1].Quotes) != 1 || string(msgs[1].Quotes[0]) != `{"s":"A","seq":2,"ts":3,"bid":"1.5"}` {
		t.Fatalf("after dropping wildcard: %+v", msgs)
	}
}

// TestCoalescing: many changes in one window become one update per client,
// with each symbol once and seq advanced by exactly one.
func TestCoalescing(t *testing.T) {
	e := newTestEngine(t, Config{}, "A", "B")
	c := register(e, false, 1<<20)
	subscribe(e, c, "", "A", "B")
	take(t, c)
	for i := 0; i < 100; i++ {
		push(t, e, "A", int64(10+i), "bid", fmt.Sprint(i))
		push(t, e, "B", int64(10+i), "ask", fmt.Sprint(i))
	}
	window(e)
	msgs, _, _ := take(t, c)
	if len(msgs) != 1 {
		t.Fatalf("%d messages for one window", len(msgs))
	}
	want := []string{`{"s":"A","seq":1,"ts":109,"bid":"99"}`, `{"s":"B","seq":1,"ts":109,"ask":"99"}`}
	if got := rawStrings(msgs[0].Quotes); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// a window with nothing new sends nothing
	window(e)
	if msgs, _, _ := take(t, c); len(msgs) != 0 {
		t.Fatalf("empty window sent %+v", msgs)
	}
}

// TestSharedFrames: clients that get the same message get the same bytes,
// encoded once and compressed once: the plain JSON only for clients without
// deflate, the spliced form only for those with it.
func TestSharedFrames(t *testing.T) {
	e := newTestEngine(t, Config{}, "A", "B", "C")
	var plain, deflated, other []*Client
	for i := 0; i < 5; i++ {
		plain = append(plain, register(e, false, 1<<20))
		deflated = append(deflated, register(e, true, 1<<20))
		other = append(other, register(e, true, 1<<20))
	}
	for i := range plain {
		subscribe(e, plain[i], "", "A", "B")
		subscribe(e, deflated[i], "", "B", "A") // same set, other order
		subscribe(e, other[i], "", "A", "C")
	}
	for _, c := range append(append(plain, deflated...), other...) {
		take(t, c)
	}
	built, deflatedN, splicedN := e.Stats().FramesBuilt.Load(), e.Stats().FramesDeflated.Load(), e.Stats().FramesAssembled.Load()
	// a long JSON payload so compression is worth it
	for i := 0; i < 20; i++ {
		push(t, e, "A", int64(i+1), "bid", fmt.Sprintf("100.%02d", i), "ask", fmt.Sprintf("101.%02d", i), "bid_size", "100", "ask_size", "200", "last", "100.5", "last_size", "5", "volume", "12345.678")
	}
	push(t, e, "B", 1, "bid", "2", "ask", "3", "bid_size", "100", "ask_size", "200", "last", "2.5", "last_size", "5", "volume", "99999")
	push(t, e, "C", 1, "bid", "4")
	window(e)
	if n := e.Stats().FramesBuilt.Load() - built; n != 1 {
		t.Fatalf("built %d plain updates, want 1 ({A,B}; {A,C} has only deflate clients)", n)
	}
	if n := e.Stats().FramesAssembled.Load() - splicedN; n != 2 {
		t.Fatalf("spliced %d updates, want 2 ({A,B} and {A,C})", n)
	}
	if n := e.Stats().FramesDeflated.Load() - deflatedN; n != 0 {
		t.Fatalf("compressed %d updates whole, want 0", n)
	}
	var first, firstDeflated []byte
	for i := range plain {
		_, _, p := take(t, plain[i])
		_, _, d := take(t, deflated[i])
		if i == 0 {
			first, firstDeflated = p[0], d[0]
		}
		if &p[0][0] != &first[0] || &d[0][0] != &firstDeflated[0] {
			t.Fatal("clients with the same message got different buffers")
		}
	}
	pf, df := decodeFrame(t, first), decodeFrame(t, firstDeflated)
	if pf.compressed || !df.compressed {
		t.Fatalf("compressed flags: plain %v deflated %v", pf.compressed, df.compressed)
	}
	if !bytes.Equal(pf.payload, df.payload) {
		t.Fatalf("inflated payload differs:\n%s\n%s", pf.payload, df.payload)
	}
	if len(firstDeflated) >= len(first) {
		t.Fatalf("compressed frame %d bytes, plain %d", len(firstDeflated), len(first))
	}
}

func TestSmallMessagesGoUncompressed(t *testing.T) {
	e := newTestEngine(t, Config{}, "A")
	c := register(e, true, 1<<20)
	subscribe(e, c, "1", "A")
	_, _, raw := take(t, c)
	if f := decodeFrame(t, raw[0]); f.compressed {
		t.Fatal("a short ack was compressed")
	}
}

// TestSlowConsumer: a client whose writer takes nothing overflows, loses its
// queued data (never blocking the engine or the other client), then gets a
// resync snapshot, and is closed 1008 once stuck past the limit.
func TestSlowConsumer(t *testing.T) {
	e := newTestEngine(t, Config{StuckTimeout: time.Hour}, "A", "B")
	slow := register(e, false, 2048)
	fast := register(e, false, 1<<20)
	subscribe(e, slow, "", "A", "B")
	subscribe(e, fast, "", "A", "B")
	take(t, fast)
	// slow's ack stays queued: replies survive overflow
	lastSeq := map[string]uint64{}
	for w := 0; w < 40; w++ {
		push(t, e, "A", int64(w+1), "bid", fmt.Sprint(w), "ask", fmt.Sprint(w+1), "volume", "123456789.123456789")
		push(t, e, "B", int64(w+1), "bid", fmt.Sprint(w), "ask", fmt.Sprint(w+1), "volume", "123456789.123456789")
		window(e)
		msgs, _, _ := take(t, fast)
		if len(msgs) != 1 || msgs[0].Type != "update" {
			t.Fatalf("window %d: fast client got %+v", w, msgs)
		}
		checkSeq(t, msgs, lastSeq)
		if q := slow.QueuedBytes(); q > 2048+1024 {
			t.Fatalf("slow queue grew to %d bytes", q)
		}
	}
	if e.Stats().Drops.Load() == 0 || !slow.resync {
		t.Fatalf("no overflow: drops %d resync %v", e.Stats().Drops.Load(), slow.resync)
	}
	msgs, _, _ := take(t, slow)
	if len(msgs) == 0 || msgs[0].Type != "subscribed" {
		t.Fatalf("the ack was dropped: %+v", msgs)
	}
	// whatever survived, the stream is consistent: a resync snapshot restarts
	// each symbol, updates continue it by one
	slowSeq := map[string]uint64{}
	resyncs := 0
	for round := 0; ; round++ {
		for _, m := range msgs {
			if m.Type == "snapshot" {
				if m.Reason != "resync" || len(m.Quotes) != 2 {
					t.Fatalf("snapshot %+v", m)
				}
				resyncs++
				for _, q := range m.Quotes {
					var qj quoteJSON
					json.Unmarshal(q, &qj)
					slowSeq[qj.S] = qj.Seq
				}
			}
			if m.Type == "update" && resyncs == 0 {
				t.Fatal("an update reached the client after a drop, before any resync")
			}
		}
		checkSeqFrom(t, msgs, slowSeq)
		if resyncs > 0 && !slow.resync || round > 3 {
			break
		}
		push(t, e, "A", int64(100+round), "bid", "7")
		window(e)
		msgs, _, _ = take(t, slow)
	}
	if resyncs == 0 || e.Stats().Resyncs.Load() == 0 {
		t.Fatal("no resync snapshot reached the slow client")
	}
	push(t, e, "A", 150, "bid", "8")
	window(e)
	msgs, _, _ = take(t, slow)
	if len(msgs) != 1 || msgs[0].Type != "update" {
		t.Fatalf("after recovering: %+v", msgs)
	}
	checkSeq(t, msgs, slowSeq)

	// stuck: the writer takes nothing for longer than the limit
	e.cfg.StuckTimeout = time.Millisecond
	for w := 0; w < 40 && !slow.Closing(); w++ {
		push(t, e, "A", int64(200+w), "bid", fmt.Sprint(w), "volume", "123456789.123456789")
		push(t, e, "B", int64(200+w), "bid", fmt.Sprint(w), "volume", "123456789.123456789")
		time.Sleep(2 * time.Millisecond)
		window(e)
	}
	_, closing, raw := take(t, slow)
	if !closing {
		t.Fatal("stuck client not closed")
	}
	cf := decodeFrame(t, raw[len(raw)-1])
	if cf.op != ws.OpClose || binary.BigEndian.Uint16(cf.payload) != ws.ClosePolicy || string(cf.payload[2:]) != "slow consumer" {
		t.Fatalf("close frame %x", raw[len(raw)-1])
	}
	if e.Stats().SlowClosed.Load() != 1 {
		t.Fatalf("slow closed %d", e.Stats().SlowClosed.Load())
	}
}

// checkSeq asserts the per-symbol invariant over update messages.
func checkSeq(t testing.TB, msgs []msg, last map[string]uint64) {
	t.Helper()
	checkSeqFrom(t, msgs, last)
}

// checkSeqFrom checks updates against last, restarting each symbol at a
// snapshot.
func checkSeqFrom(t testing.TB, msgs []msg, last map[string]uint64) {
	t.Helper()
	for _, m := range msgs {
		if m.Type == "snapshot" {
			for _, raw := range m.Quotes {
				var q quoteJSON
				json.Unmarshal(raw, &q)
				last[q.S] = q.Seq
			}
			continue
		}
		if m.Type != "update" {
			continue
		}
		seen := map[string]bool{}
		for _, raw := range m.Quotes {
			var q quoteJSON
			if err := json.Unmarshal(raw, &q); err != nil {
				t.Fatal(err)
			}
			if seen[q.S] {
				t.Fatalf("%s twice in one update", q.S)
			}
			seen[q.S] = true
			if prev, ok := last[q.S]; ok && q.Seq != prev+1 {
				t.Fatalf("%s: seq %d after %d", q.S, q.Seq, prev)
			}
			last[q.S] = q.Seq
		}
	}
}

// TestRunEndToEnd runs the engine's own loop with a real ticker.
func TestRunEndToEnd(t *testing.T) {
	ring := market.NewRing(256)
	e, err := New(Config{Window: 5 * time.Millisecond}, ring, []string{"A"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	go e.Run(ctx)
	c := NewClient(true, 1<<20)
	wake := make(chan struct{}, 1)
	c.SetNotify(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	e.Register(ctx, c)
	e.Subscribe(ctx, c, nil, []string{"A"})
	last := map[string]uint64{}
	var got int
	deadline := time.After(10 * time.Second)
	for i := 1; got < 20; i++ {
		q := market.Quote{Symbol: "A", TsMicros: int64(i)}
		q.Set(market.Bid, market.NewDecimal(int64(i), 2))
		if err := ring.Push(ctx, &q); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			msgs, _, _ := take(t, c)
			checkSeq(t, msgs, last)
			for _, m := range msgs {
				if m.Type == "update" {
					got++
				}
			}
		case <-time.After(time.Millisecond):
		case <-deadline:
			t.Fatalf("only %d updates", got)
		}
	}
	cancel()
	<-e.Done()
	if err := e.Subscribe(context.Background(), c, nil, []string{"A"}); err != ErrStopped {
		t.Fatalf("command after stop: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{{Window: time.Microsecond}, {Window: 11 * time.Second}, {QueueBytes: 10}, {DeflateLevel: 12}, {StuckTimeout: time.Millisecond, Window: time.Second}}
	for _, c := range bad {
		if _, err := New(c, market.NewRing(2), nil, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(Config{}, market.NewRing(2), []string{"bad symbol"}, nil); err == nil {
		t.Error("invalid declared symbol accepted")
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestAssembledFrames: with the compression budget spent, deflate clients
// get messages assembled from per-symbol pieces, which inflate to exactly the
// plain message.
func TestAssembledFrames(t *testing.T) {
	e := newTestEngine(t, Config{}, "A", "B", "C")
	plain := register(e, false, 1<<20)
	var deflated []*Client
	for i := 0; i < 3; i++ {
		deflated = append(deflated, register(e, true, 1<<20))
	}
	subscribe(e, plain, "", "A", "B", "C")
	subscribe(e, deflated[0], "", "A", "B", "C") // same message as plain
	subscribe(e, deflated[1], "", "B")
	subscribe(e, deflated[2], "", "C", "A")
	for _, c := range append(deflated, plain) {
		take(t, c)
	}
	for w := 0; w < 3; w++ {
		push(t, e, "A", int64(10*w+1), "bid", fmt.Sprintf("100.%d", w), "ask", "101", "bid_size", "100", "volume", "12345.678")
		push(t, e, "B", int64(10*w+2), "bid", fmt.Sprintf("200.%d", w), "ask", "201", "last", "200.5", "last_size", "3")
		push(t, e, "C", int64(10*w+3), "ask", fmt.Sprintf("3.%d", w), "bid", "2.9")
		window(e)
		_, _, p := take(t, plain)
		want := decodeFrame(t, p[0]).payload
		for i, c := range deflated {
			_, _, d := take(t, c)
			f := decodeFrame(t, d[0])
			if !f.compressed {
				t.Fatalf("window %d client %d: not compressed", w, i)
			}
			if i == 0 && !bytes.Equal(f.payload, want) {
				t.Fatalf("spliced message inflates to\n%s\nwant\n%s", f.payload, want)
			}
			var m msg
			if err := json.Unmarshal(f.payload, &m); err != nil || m.Type != "update" {
				t.Fatalf("client %d: %s (%v)", i, f.payload, err)
			}
		}
	}
	if e.Stats().FramesAssembled.Load() != 9 || e.Stats().FramesDeflated.Load() != 0 {
		t.Fatalf("spliced %d, deflated whole %d", e.Stats().FramesAssembled.Load(), e.Stats().FramesDeflated.Load())
	}
}

// TestFramesOutliveOtherWindows: frames are pooled, so this checks that the
// bytes a Take hands out stay intact until that client's next Take, however
// many windows other clients' frames are built, shared, dropped and reused
// in meanwhile, and that the frames then come back for reuse.
func TestFramesOutliveOtherWindows(t *testing.T) {
	syms := []string{"AAA", "BBB", "CCC"}
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			e := newTestEngine(t, Config{QueueBytes: 4096}, syms...)
			held := register(e, deflate, 1<<20)
			subscribe(e, held, "1", syms...)
			busy := []*Client{register(e, deflate, 1<<20), register(e, deflate, 1<<20), register(e, deflate, 1024)}
			for i, c := range busy {
				subscribe(e, c, "1", syms[:i+1]...)
			}
			padding := strings.Repeat("1", 36) // big enough to be compressed
			push(t, e, "AAA", 1, "bid", "1."+padding, "ask", "2")
			push(t, e, "BBB", 1, "bid", "3."+padding, "ask", "4")
			window(e)
			held.Take(nil) // acks and snapshots
			push(t, e, "AAA", 2, "bid", "5."+padding)
			push(t, e, "CCC", 2, "bid", "6."+padding)
			window(e)
			bufs, _ := held.Take(nil)
			if len(bufs) != 1 {
				t.Fatalf("held client got %d frames, want 1", len(bufs))
			}
			want := bytes.Clone(bufs[0])
			for w := 0; w < 200; w++ {
				for _, s := range syms {
					push(t, e, s, int64(10+w), "bid", fmt.Sprintf("%d.%s", 100+w, padding), "ask", fmt.Sprint(900+w))
				}
				window(e)
				for i, c := range busy {
					if i == 2 && w%3 != 0 {
						continue // a slow one: overflows, drops, resyncs
					}
					msgs, _, _ := take(t, c)
					for _, m := range msgs {
						if len(m.Quotes) == 0 && m.Type != "subscribed" {
							t.Fatalf("empty %s", m.Type)
						}
					}
				}
			}
			if !bytes.Equal(bufs[0], want) {
				t.Fatal("a taken frame changed before the client's next Take")
			}
			m := decodeFrame(t, bufs[0])
			if !strings.Contains(string(m.payload), `"bid":"6.`+padding) {
				t.Fatalf("held frame: %s", m.payload)
			}
			f := held.inflight[0]
			held.Take(nil)
			if n := f.refs.Load(); n != 0 && f.plain != nil {
				t.Fatalf("frame still has %d references after every holder let go", n)
			}
		})
	}
}
