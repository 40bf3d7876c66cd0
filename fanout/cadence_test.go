package fanout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
)

func subscribeEvery(e *Engine, c *Client, every time.Duration, syms ...string) {
	e.handle(command{kind: cmdSubscribe, c: c, symbols: syms, every: every})
}

// book is a client's view: symbol → key → value ("seq", "ts" included),
// built from what it was sent, checking what a client can check.
type book map[string]map[string]string

// apply applies msgs, requiring of every update entry that it continue
// the symbol: from (seq when absent) is the previous seq + 1, or 1 for a
// symbol the book does not have. It returns the updates applied.
func (b book) apply(t testing.TB, msgs []msg) (updates int) {
	t.Helper()
	for _, m := range msgs {
		if m.Type != "snapshot" && m.Type != "update" {
			continue
		}
		seen := map[string]bool{}
		for _, raw := range m.Quotes {
			d := map[string]string{}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			for k, x := range v {
				d[k] = fmt.Sprint(x)
			}
			s := d["s"]
			if m.Type == "snapshot" {
				if _, ok := d["from"]; ok {
					t.Fatalf("a snapshot entry with from: %s", raw)
				}
				b[s] = d
				continue
			}
			if seen[s] {
				t.Fatalf("%s twice in one update", s)
			}
			seen[s] = true
			from, ok := d["from"]
			if !ok {
				from = d["seq"]
			}
			delete(d, "from")
			q := b[s]
			prev := uint64(0)
			if q != nil {
				prev = atoi(q["seq"])
			}
			if atoi(from) != prev+1 || atoi(d["seq"]) < atoi(from) {
				t.Fatalf("%s: entry from %s to %s after seq %d: %s", s, from, d["seq"], prev, raw)
			}
			if q == nil {
				q = map[string]string{}
				b[s] = q
			}
			for k, v := range d {
				q[k] = v
			}
		}
		if m.Type == "update" {
			updates++
		}
	}
	return updates
}

func atoi(s string) uint64 {
	var n uint64
	fmt.Sscan(s, &n)
	return n
}

// sameBook reports the first difference between got and want over syms.
func sameBook(got, want book, syms ...string) error {
	for _, s := range syms {
		if fmt.Sprint(got[s]) != fmt.Sprint(want[s]) {
			return fmt.Errorf("%s: got %v, window subscriber has %v", s, got[s], want[s])
		}
	}
	return nil
}

// TestConflation: beside a window subscriber, conflated subscribers get at
// most one update per interval, only at their ticks, each entry continuing
// the last (from = previous seq + 1), and at every tick their book equals
// the window subscriber's: the net change is exact. Two with the same
// symbols and interval get the same bytes; one that joins mid-interval and
// one that changes its interval continue from their snapshots.
func TestConflation(t *testing.T) {
	syms := []string{"A", "B", "C", "D", "E"}
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			e := newTestEngine(t, Config{Window: 50 * time.Millisecond}, syms...)
			w := register(e, deflate, 1<<20)
			subscribe(e, w, "", "*")
			c1, c2 := register(e, deflate, 1<<20), register(e, deflate, 1<<20)
			subscribeEvery(e, c1, 200*time.Millisecond, syms...)
			subscribeEvery(e, c2, 200*time.Millisecond, "E", "D", "C", "B", "A")
			wild := register(e, deflate, 1<<20)
			subscribeEvery(e, wild, time.Second, "*")
			var late *Client // joins at window 23, at 150ms
			books := map[*Client]book{w: {}, c1: {}, c2: {}, wild: {}}
			every := map[*Client]uint64{c1: 4, c2: 4, wild: 20}
			for c, b := range books {
				if msgs, _, _ := take(t, c); b.apply(t, msgs) != 0 {
					t.Fatal("an update before any window")
				}
			}
			rng := rand.New(rand.NewPCG(5, 6))
			ts := int64(0)
			for win := 1; win <= 120; win++ {
				if win == 23 {
					late = register(e, deflate, 1<<20)
					subscribeEvery(e, late, 150*time.Millisecond, "A", "C", "NEW")
					books[late], every[late] = book{}, 3
				}
				if win == 61 { // c2 changes its interval: a snapshot, then its new ticks
					subscribeEvery(e, c2, 100*time.Millisecond, "A")
					every[c2] = 2
					msgs, _, raw := take(t, c2)
					if msgs[0].Type != "subscribed" || !strings.Contains(string(decodeFrame(t, raw[0]).payload), `"every":"100ms"`) || msgs[1].Type != "snapshot" || len(msgs[1].Quotes) != 5 {
						t.Fatalf("changing the interval: %+v\n%q", msgs, raw)
					}
					books[c2].apply(t, msgs)
				}
				for n := rng.IntN(4); n > 0; n-- {
					ts++
					s := syms[rng.IntN(len(syms))]
					if win > 90 && n == 1 {
						s = "NEW" // a symbol that appears: the wildcard gets it from seq 1
					}
					push(t, e, s, ts, "bid", fmt.Sprint(rng.IntN(5)), []string{"ask", "last", "volume"}[rng.IntN(3)], fmt.Sprint(rng.IntN(5)))
				}
				e.drain(e.ring.Cap())
				e.flush(time.UnixMicro(int64(win) * 50000))
				var raw1, raw2 [][]byte
				msgs, _, _ := take(t, w)
				books[w].apply(t, msgs)
				for c, b := range books {
					if c == w {
						continue
					}
					msgs, _, raw := take(t, c)
					n := b.apply(t, msgs)
					switch {
					case n > 1:
						t.Fatalf("window %d: %d updates", win, n)
					case n == 1 && e.epoch%every[c] != 0:
						t.Fatalf("window %d: an update off the %d-window tick", win, every[c])
					}
					if e.epoch%every[c] == 0 {
						subs := syms
						if c == late {
							subs = []string{"A", "C"} // NEW was unknown when it subscribed
						}
						if c == wild {
							subs = append(syms, "NEW")
						}
						if c == c2 && win > 60 {
							subs = syms // still all five: the resubscribe only set the interval
						}
						if err := sameBook(b, books[w], subs...); err != nil {
							t.Fatalf("window %d, every %d: %v", win, every[c], err)
						}
					}
					if c == c1 {
						raw1 = raw
					}
					if c == c2 {
						raw2 = raw
					}
				}
				if win <= 60 && len(raw1) != len(raw2) || len(raw1) == 1 && win <= 60 && &raw1[0][0] != &raw2[0][0] {
					t.Fatalf("window %d: the same symbols and interval got different bytes", win)
				}
			}
			if deflate && e.Stats().FramesAssembled.Load() == 0 {
				t.Fatal("no update was spliced")
			}
			if len(books[late]["A"]) == 0 || len(books[wild]["NEW"]) == 0 {
				t.Fatalf("late %v, wildcard %v", books[late], books[wild]["NEW"])
			}
		})
	}
}

// TestConflationJoiner: a client whose snapshot comes after changes its
// cadence already holds gets entries that start after the snapshot, and
// none for a symbol the snapshot already has at its latest seq; the
// others on the cadence get the whole interval's change, shared.
func TestConflationJoiner(t *testing.T) {
	e := newTestEngine(t, Config{Window: 50 * time.Millisecond}, "A", "B")
	old := register(e, false, 1<<20)
	subscribeEvery(e, old, 200*time.Millisecond, "A", "B")
	take(t, old)
	push(t, e, "A", 1, "bid", "1", "ask", "2")
	push(t, e, "B", 1, "bid", "5")
	window(e) // window 1: A seq 1, B seq 1
	push(t, e, "A", 2, "bid", "1.5")
	window(e) // window 2: A seq 2
	joiner := register(e, false, 1<<20)
	subscribeEvery(e, joiner, 200*time.Millisecond, "A", "B")
	msgs, _, _ := take(t, joiner)
	if len(msgs) != 2 || fmt.Sprint(rawStrings(msgs[1].Quotes)) != `[{"s":"A","seq":2,"ts":2,"bid":"1.5","ask":"2"} {"s":"B","seq":1,"ts":1,"bid":"5"}]` {
		t.Fatalf("joiner's snapshot %+v", msgs)
	}
	push(t, e, "A", 3, "ask", "2.5")
	window(e)
	window(e) // window 4: the tick
	msgs, _, _ = take(t, old)
	if len(msgs) != 1 || fmt.Sprint(rawStrings(msgs[0].Quotes)) != `[{"s":"A","from":1,"seq":3,"ts":3,"bid":"1.5","ask":"2.5"} {"s":"B","from":1,"seq":1,"ts":1,"bid":"5"}]` {
		t.Fatalf("the cadence's update %+v", msgs)
	}
	msgs, _, _ = take(t, joiner)
	if len(msgs) != 1 || fmt.Sprint(rawStrings(msgs[0].Quotes)) != `[{"s":"A","from":3,"seq":3,"ts":3,"bid":"1.5","ask":"2.5"}]` {
		t.Fatalf("the joiner's update %+v", msgs)
	}
	// from the next tick on, both share one frame again
	push(t, e, "B", 4, "bid", "6")
	for i := 0; i < 4; i++ {
		window(e)
	}
	_, _, r1 := take(t, old)
	_, _, r2 := take(t, joiner)
	if len(r1) != 1 || len(r2) != 1 || &r1[0][0] != &r2[0][0] || !strings.Contains(string(r1[0]), `{"s":"B","from":2,"seq":2,`) {
		t.Fatalf("after the joiner's first tick: %q %q", r1, r2)
	}
}

// TestConflationEvery: the values a subscribe's every may take, against a
// 50ms window.
func TestConflationEvery(t *testing.T) {
	tests := []struct {
		every time.Duration
		want  string // the first reply
	}{
		{70 * time.Millisecond, `{"type":"error","id":9,"code":"bad_request","message":"\"every\" must be a multiple of the server's window (50ms), at most 60s; nothing was subscribed"}`},
		{25 * time.Millisecond, `{"type":"error","id":9,"code":"bad_request","message":"\"every\" must be a multiple of the server's window (50ms), at most 60s; nothing was subscribed"}`},
		{61 * time.Second, `{"type":"error","id":9,"code":"bad_request","message":"\"every\" must be a multiple of the server's window (50ms), at most 60s; nothing was subscribed"}`},
		{50 * time.Millisecond, `{"type":"subscribed","id":9,"symbols":["A"],"every":"50ms"}`},
		{time.Minute, `{"type":"subscribed","id":9,"symbols":["A"],"every":"60s"}`},
		{1500 * time.Millisecond, `{"type":"subscribed","id":9,"symbols":["A"],"every":"1500ms"}`},
	}
	for _, tt := range tests {
		e := newTestEngine(t, Config{Window: 50 * time.Millisecond}, "A")
		c := register(e, false, 1<<20)
		e.handle(command{kind: cmdSubscribe, c: c, id: []byte("9"), symbols: []string{"A"}, every: tt.every})
		_, _, raw := take(t, c)
		if len(raw) == 0 || string(decodeFrame(t, raw[0]).payload) != tt.want {
			t.Errorf("every %v: got %q\nwant %s", tt.every, raw, tt.want)
		}
		if refused := strings.Contains(tt.want, "error"); refused && (e.Stats().Subscriptions.Load() != 0 || len(e.cadences) != 0 || len(raw) != 1) {
			t.Errorf("every %v refused, yet subscriptions %d, cadences %d, %d messages", tt.every, e.Stats().Subscriptions.Load(), len(e.cadences), len(raw))
		}
	}
	// the window itself is the window's cadence: updates as without every
	e := newTestEngine(t, Config{Window: 50 * time.Millisecond}, "A")
	c := register(e, false, 1<<20)
	subscribeEvery(e, c, 200*time.Millisecond, "A")
	subscribeEvery(e, c, 50*time.Millisecond, "A") // back to the window
	take(t, c)
	push(t, e, "A", 1, "bid", "1")
	window(e)
	if msgs, _, _ := take(t, c); len(msgs) != 1 || string(msgs[0].Quotes[0]) != `{"s":"A","seq":1,"ts":1,"bid":"1"}` {
		t.Fatalf("back at the window: %+v", msgs)
	}
	if len(e.cadences) != 0 {
		t.Fatalf("an empty cadence is kept: %v", e.cadences)
	}
	// unregistering leaves no cadence behind
	subscribeEvery(e, c, time.Second, "A")
	e.handle(command{kind: cmdUnregister, c: c})
	if len(e.cadences) != 0 || len(e.symbols["A"].groups) != 0 {
		t.Fatalf("after unregister: %d cadences, A in %d", len(e.cadences), len(e.symbols["A"].groups))
	}
}

// TestConflatedResync: a conflated client whose queue overflows gets a
// resync snapshot, and its updates continue from the snapshot's seqs.
func TestConflatedResync(t *testing.T) {
	e := newTestEngine(t, Config{Window: 50 * time.Millisecond, StuckTimeout: time.Hour}, "A", "B")
	w := register(e, false, 1<<20)
	subscribe(e, w, "", "A", "B")
	slow := register(e, false, 1024)
	subscribeEvery(e, slow, 100*time.Millisecond, "A", "B")
	bw, bs := book{}, book{}
	msgs, _, _ := take(t, w)
	bw.apply(t, msgs)
	big := "1234567890123456789.1234567890123456789"
	for win := 1; win <= 40; win++ {
		push(t, e, "A", int64(win), "bid", fmt.Sprint(win), "volume", big)
		push(t, e, "B", int64(win), "ask", fmt.Sprint(win), "last", big)
		window(e)
		msgs, _, _ := take(t, w)
		bw.apply(t, msgs)
	}
	if !slow.resync {
		t.Fatal("no overflow")
	}
	resyncs := 0
	for win := 41; win <= 48; win++ {
		if win%3 == 0 {
			push(t, e, "A", int64(win), "bid", fmt.Sprint(win))
		}
		window(e)
		msgs, _, _ := take(t, w)
		bw.apply(t, msgs)
		msgs, _, _ = take(t, slow)
		for _, m := range msgs {
			if m.Type == "snapshot" && m.Reason == "resync" {
				resyncs++
			}
		}
		if resyncs > 0 {
			bs.apply(t, msgs)
		}
		if resyncs > 0 && e.epoch%2 == 0 {
			if err := sameBook(bs, bw, "A", "B"); err != nil {
				t.Fatalf("window %d: %v", win, err)
			}
		}
	}
	if resyncs != 1 {
		t.Fatalf("%d resync snapshots", resyncs)
	}
}

// TestWindowFramesUnchanged: a window subscriber's bytes are the same
// whether conflated subscribers share the engine or not.
func TestWindowFramesUnchanged(t *testing.T) {
	run := func(conflated bool) [][]byte {
		e := newTestEngine(t, Config{Window: 50 * time.Millisecond}, "A", "B", "C")
		w := register(e, true, 1<<20)
		subscribe(e, w, "", "A", "B")
		if conflated {
			for i, every := range []time.Duration{100, 150, 1000} {
				c := register(e, i%2 == 0, 1<<20)
				subscribeEvery(e, c, every*time.Millisecond, "A", "B", "C")
				c = register(e, true, 1<<20)
				subscribeEvery(e, c, every*time.Millisecond, "*")
			}
		}
		var out [][]byte
		rng := rand.New(rand.NewPCG(7, 8))
		for win := 1; win <= 40; win++ {
			for n := 0; n < 3; n++ {
				push(t, e, []string{"A", "B", "C"}[rng.IntN(3)], int64(win*10+n), "bid", fmt.Sprint(rng.IntN(9)), "ask_size", strings.Repeat("7", 1+rng.IntN(30)))
			}
			e.drain(e.ring.Cap())
			e.flush(time.UnixMicro(int64(win) * 50000))
			_, _, raw := take(t, w)
			for _, r := range raw {
				out = append(out, append([]byte(nil), r...))
			}
		}
		return out
	}
	alone, beside := run(false), run(true)
	if len(alone) != len(beside) {
		t.Fatalf("%d frames alone, %d beside conflated subscribers", len(alone), len(beside))
	}
	for i := range alone {
		if !bytes.Equal(alone[i], beside[i]) {
			t.Fatalf("frame %d differs:\n%q\n%q", i, alone[i], beside[i])
		}
	}
}

// TestConflatedReplica: on a replica, a conflated subscriber counts for
// interest (a change of interval is no new interest), gets the snapshot of
// a symbol repaired from a full quote and continues from its seq, and
// after a new epoch restarts from the new stream's snapshot.
func TestConflatedReplica(t *testing.T) {
	var interest []string
	rep := newTestEngine(t, Config{Window: 50 * time.Millisecond, Replica: true, Epoch: 1, Interest: func(s string, on bool) {
		interest = append(interest, fmt.Sprintf("%s %v", s, on))
	}}, "A")
	c := register(rep, false, 1<<20)
	subscribeEvery(rep, c, 100*time.Millisecond, "A")
	subscribeEvery(rep, c, 200*time.Millisecond, "A")
	if fmt.Sprint(interest) != "[A true]" {
		t.Fatalf("interest %v", interest)
	}
	b := book{}
	q := func(seq uint64, bid string) market.Quote {
		v := market.Quote{Symbol: "A", Seq: seq, TsMicros: int64(seq)}
		v.Set(market.Bid, market.MustDecimal(bid))
		return v
	}
	step := func(v *Version) []msg {
		if v != nil {
			rep.takeVersion(*v)
		}
		window(rep)
		msgs, _, _ := take(t, c)
		b.apply(t, msgs)
		return msgs
	}
	take(t, c)
	for seq := uint64(1); seq <= 5; seq++ {
		step(&Version{Quote: q(seq, fmt.Sprint(seq))})
	}
	step(nil)
	step(nil)
	step(nil) // a tick after the fifth version
	if b["A"]["seq"] != "5" || b["A"]["bid"] != "5" {
		t.Fatalf("after five versions: %v", b["A"])
	}
	step(&Version{Quote: q(6, "6")}) // accumulated, then a repair jumps to 20
	msgs := step(&Version{Quote: q(20, "20"), Full: true})
	if len(msgs) != 1 || msgs[0].Type != "snapshot" || b["A"]["seq"] != "20" {
		t.Fatalf("repair: %+v, book %v", msgs, b["A"])
	}
	for seq := uint64(21); seq <= 23; seq++ {
		step(&Version{Quote: q(seq, fmt.Sprint(seq))})
	}
	for i := 0; i < 4; i++ {
		step(nil)
	}
	if b["A"]["seq"] != "23" || b["A"]["bid"] != "23" {
		t.Fatalf("after the repair: %v", b["A"])
	}
	step(&Version{Quote: q(24, "24")})
	// a new epoch: its snapshot holds nothing yet, then A begins again at seq 1
	msgs = step(&Version{Quote: q(1, "100"), Full: true, Epoch: 2})
	if len(msgs) == 0 || msgs[0].Type != "snapshot" || msgs[0].Epoch != 2 {
		t.Fatalf("new epoch: %+v", msgs)
	}
	delete(b, "A") // a client drops its book at a new epoch
	b.apply(t, msgs)
	for seq := uint64(2); seq <= 4; seq++ {
		step(&Version{Quote: q(seq, fmt.Sprint(100+seq)), Epoch: 2})
	}
	for i := 0; i < 4; i++ {
		step(nil)
	}
	if b["A"]["seq"] != "4" || b["A"]["bid"] != "104" {
		t.Fatalf("in the new epoch: %v", b["A"])
	}
	rep.handle(command{kind: cmdUnsubscribe, c: c, symbols: []string{"A"}})
	if fmt.Sprint(interest) != "[A true A false]" {
		t.Fatalf("interest %v", interest)
	}
}

// TestConflatedStale: a symbol's stale mark and its return reach a
// conflated subscriber too: the tick after the mark carries "stale":true,
// and the tick after the next quote "stale":false (the published quote
// then says nothing of staleness, so the interval's marks must).
func TestConflatedStale(t *testing.T) {
	e := newTestEngine(t, Config{Window: 50 * time.Millisecond, StuckTimeout: time.Hour}, "A")
	c := register(e, false, 1<<20)
	subscribeEvery(e, c, 200*time.Millisecond, "A")
	take(t, c)
	entries := func() []string {
		msgs, _, _ := take(t, c)
		var out []string
		for _, m := range msgs {
			for _, q := range m.Quotes {
				out = append(out, string(q))
			}
		}
		return out
	}
	step := func(w int, mark market.Staleness, kv ...string) []string {
		if mark == market.Stale {
			if !e.ring.TryPush(&market.Quote{Symbol: "A", TsMicros: int64(w), Staleness: market.Stale}) {
				t.Fatal("ring full")
			}
		} else if kv != nil {
			push(t, e, "A", int64(w), kv...)
		}
		window(e)
		return entries()
	}
	for w := 1; w <= 4; w++ { // the first tick: a plain entry
		got := step(w, market.Unstated, "bid", fmt.Sprint(w))
		if w == 4 && (len(got) != 1 || strings.Contains(got[0], "stale")) {
			t.Fatalf("first tick: %v", got)
		}
	}
	step(5, market.Stale)
	for w := 6; w <= 8; w++ {
		if got := step(w, market.Unstated); w == 8 && (len(got) != 1 || !strings.Contains(got[0], `"stale":true`)) {
			t.Fatalf("the tick after the mark: %v, want stale:true", got)
		}
	}
	step(9, market.Unstated, "bid", "9")
	for w := 10; w <= 12; w++ {
		if got := step(w, market.Unstated); w == 12 && (len(got) != 1 || !strings.Contains(got[0], `"stale":false`) || !strings.Contains(got[0], `"bid":"9"`)) {
			t.Fatalf("the tick after the fresh quote: %v, want stale:false and bid 9", got)
		}
	}
}
