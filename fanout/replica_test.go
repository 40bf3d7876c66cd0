package fanout

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
)

// recordTap keeps the full quote of every version a source engine
// publishes, by window.
type recordTap struct {
	cur     []market.Quote
	windows [][]market.Quote
}

func (r *recordTap) Version(delta []byte, full *market.Quote) { r.cur = append(r.cur, *full) }
func (r *recordTap) Window(time.Time) {
	r.windows = append(r.windows, r.cur)
	r.cur = nil
}

// deltaOf rebuilds the delta from two consecutive full quotes.
func deltaOf(prev, next market.Quote) market.Quote {
	d := market.Quote{Symbol: next.Symbol, Seq: next.Seq, TsMicros: next.TsMicros, Fields: market.Diff(&prev, &next)}
	for f := market.Field(0); f < market.NumFields; f++ {
		if d.Fields.Has(f) {
			d.Values[f] = next.Values[f]
		}
	}
	return d
}

// updates returns the quotes of every update message, as JSON text.
func updates(msgs []msg) []string {
	var out []string
	for _, m := range msgs {
		if m.Type == "update" {
			for _, q := range m.Quotes {
				out = append(out, string(q))
			}
		}
	}
	return out
}

// TestReplica: a replica engine fed a source engine's versions gives its
// clients the same updates, seq for seq; serves two versions of a symbol
// that arrive in one window in two windows; turns a full quote into a
// resync snapshot; reports interest; forgets a symbol nobody wants; and,
// promoted, continues each seq from the last version it served.
func TestReplica(t *testing.T) {
	tap := &recordTap{}
	src := newTestEngine(t, Config{Tap: tap}, "A", "B")
	var interest []string
	rep := newTestEngine(t, Config{Replica: true, Interest: func(s string, on bool) {
		if on {
			interest = append(interest, "+"+s)
		} else {
			interest = append(interest, "-"+s)
		}
	}}, "A", "B")
	cs := register(src, false, 1<<20)
	subscribe(src, cs, "", "A", "B")
	cr := register(rep, true, 1<<20)
	subscribe(rep, cr, "", "A", "B")
	if want := []string{"+A", "+B"}; !slices.Equal(interest, want) {
		t.Fatalf("interest %v, want %v", interest, want)
	}
	prev := map[string]market.Quote{}
	feed := func(w []market.Quote) {
		for _, q := range w {
			rep.takeVersion(Version{Quote: deltaOf(prev[q.Symbol], q)})
			prev[q.Symbol] = q
		}
	}
	for i := 0; i < 20; i++ {
		push(t, src, "A", int64(100+i), "bid", "1."+itoa(i), "ask", "2")
		if i%3 == 0 {
			push(t, src, "B", int64(100+i), "last", "5."+itoa(i))
		}
		window(src)
		feed(tap.windows[len(tap.windows)-1])
		window(rep)
	}
	ms, _, _ := take(t, cs)
	mr, _, _ := take(t, cr)
	checkSeq(t, mr, map[string]uint64{})
	if a, b := updates(ms), updates(mr); !slices.Equal(a, b) || len(a) != 27 {
		t.Fatalf("source and replica updates differ (%d, %d):\n%v\n%v", len(a), len(b), a, b)
	}

	// two versions of A in one replica window: served one per window
	push(t, src, "A", 200, "bid", "3")
	window(src)
	push(t, src, "A", 201, "bid", "4")
	window(src)
	feed(tap.windows[len(tap.windows)-2])
	feed(tap.windows[len(tap.windows)-1])
	window(rep)
	window(rep)
	mr, _, _ = take(t, cr)
	if got := updates(mr); len(got) != 2 || len(mr) != 2 {
		t.Fatalf("two versions in one window: %v", got)
	}
	if a, _ := rep.Quote("A"); a.Seq != 22 {
		t.Fatalf("replica A at seq %d, want 22", a.Seq)
	}

	// a full quote jumping ahead (after a gap): a resync snapshot of A alone
	full := prev["A"]
	full.Seq, full.TsMicros = 30, 300
	full.Set(market.Bid, market.MustDecimal("9"))
	rep.takeVersion(Version{Quote: full, Full: true})
	window(rep)
	mr, _, _ = take(t, cr)
	if len(mr) != 1 || mr[0].Type != "snapshot" || mr[0].Reason != "resync" || len(mr[0].Quotes) != 1 {
		t.Fatalf("after a full quote: %+v", mr)
	}
	var q quoteJSON
	json.Unmarshal(mr[0].Quotes[0], &q)
	if q.S != "A" || q.Seq != 30 {
		t.Fatalf("resync snapshot %s", mr[0].Quotes[0])
	}

	// nobody wants B any more: interest ends and the replica forgets it
	rep.handle(command{kind: cmdUnsubscribe, c: cr, symbols: []string{"B"}})
	if interest[len(interest)-1] != "-B" {
		t.Fatalf("interest %v", interest)
	}
	if _, ok := rep.Quote("B"); ok {
		t.Fatal("the replica still serves B, which no longer arrives")
	}

	// promoted with A known to have reached seq 33 elsewhere: its first
	// own version is 34 and carries every field and its staleness (a
	// replica may hold the other). The client had 30: an update 34 would
	// be a gap, so it gets 34 as a resync snapshot, as an edge's clients
	// do; then plain deltas follow
	rep.promote(map[string]uint64{"A": 33}, 0)
	push(t, rep, "A", 400, "bid", "10")
	window(rep)
	push(t, rep, "A", 401, "ask", "11")
	window(rep)
	mr, _, _ = take(t, cr)
	if len(mr) > 0 && mr[0].Type == "unsubscribed" { // B's, above
		mr = mr[1:]
	}
	if len(mr) != 2 || mr[0].Type != "snapshot" || mr[0].Reason != "resync" || len(mr[0].Quotes) != 1 {
		t.Fatalf("after promotion past the seq served: %+v", mr)
	}
	if got, want := string(mr[0].Quotes[0]), `{"s":"A","seq":34,"ts":400,"bid":"10","ask":"2"}`; got != want {
		t.Fatalf("after promotion: snapshot %s, want %s", got, want)
	}
	if got, want := updates(mr), []string{`{"s":"A","seq":35,"ts":401,"ask":"11"}`}; !slices.Equal(got, want) {
		t.Fatalf("after promotion: %v, want %v", got, want)
	}

	// demoted, then promoted again with no seq above its own known: the
	// first own version continues the client's seq, as an update
	rep.handle(command{kind: cmdDemote})
	rep.promote(map[string]uint64{"A": 20}, 0)
	push(t, rep, "A", 500, "bid", "12")
	window(rep)
	mr, _, _ = take(t, cr)
	want := []string{`{"s":"A","seq":36,"ts":500,"bid":"12","ask":"11","stale":false}`}
	if got := updates(mr); len(mr) != 1 || !slices.Equal(got, want) {
		t.Fatalf("promoted with nothing published above it: %+v, want updates %v", mr, want)
	}
}

// fullVersion is a full quote of sym at seq (and ts seq) with a bid, of
// the given epoch (0: the engine's).
func fullVersion(sym string, seq, epoch uint64, bid string) Version {
	q := market.Quote{Symbol: sym, Seq: seq, TsMicros: int64(seq)}
	q.Set(market.Bid, market.MustDecimal(bid))
	return Version{Quote: q, Full: true, Epoch: epoch}
}

// TestFollowAll: the replica of an ingest standby (FollowAll), whose
// receiver takes the whole stream, keeps a symbol whose last subscriber has
// left and goes on applying its deltas (an edge's replica forgets it:
// TestReplica). Promoted past a symbol it never had, it gives that
// symbol's subscribers the first own version as a "subscribe" snapshot,
// not an update whose seq they never saw begin.
func TestFollowAll(t *testing.T) {
	rep := newTestEngine(t, Config{Replica: true, FollowAll: true}, "A", "B")
	c := register(rep, false, 1<<20)
	subscribe(rep, c, "", "A")
	rep.takeVersion(fullVersion("A", 5, 0, "1"))
	window(rep)
	take(t, c)
	rep.handle(command{kind: cmdUnsubscribe, c: c, symbols: []string{"A"}})
	d := market.Quote{Symbol: "A", Seq: 6, TsMicros: 6}
	d.Set(market.Bid, market.MustDecimal("2"))
	rep.takeVersion(Version{Quote: d})
	window(rep)
	if q, ok := rep.Quote("A"); !ok || q.Seq != 6 {
		t.Fatalf("A with no subscriber left: %+v %v, want seq 6", q, ok)
	}
	if n := rep.Stats().QuotesRejected.Load(); n != 0 {
		t.Fatalf("%d versions rejected, want 0", n)
	}

	subscribe(rep, c, "", "B")
	take(t, c)
	rep.promote(map[string]uint64{"B": 40}, 0)
	push(t, rep, "B", 700, "bid", "3")
	window(rep)
	m, _, _ := take(t, c)
	if len(m) != 1 || m[0].Type != "snapshot" || m[0].Reason != "subscribe" || len(m[0].Quotes) != 1 {
		t.Fatalf("B's first own version, promoted past it: %+v", m)
	}
	if got, want := string(m[0].Quotes[0]), `{"s":"B","seq":41,"ts":700,"bid":"3"}`; got != want {
		t.Fatalf("snapshot %s, want %s", got, want)
	}
}

// TestPromoteFolded: a replica promoted with a version still queued (it
// had served seq 10, 11 waits for its window) folds it in, and its
// subscriber gets each seq once, every update its last seq + 1, whether
// the floor is the queued version's seq (a clean handover) or above it.
func TestPromoteFolded(t *testing.T) {
	for _, floor := range []uint64{11, 20} {
		rep := newTestEngine(t, Config{Replica: true, FollowAll: true}, "A")
		c := register(rep, false, 1<<20)
		subscribe(rep, c, "", "A")
		rep.takeVersion(fullVersion("A", 10, 0, "1"))
		window(rep)
		d := market.Quote{Symbol: "A", Seq: 11, TsMicros: 11}
		d.Set(market.Ask, market.MustDecimal("2"))
		rep.takeVersion(Version{Quote: d}) // queued, not served
		rep.promote(map[string]uint64{"A": floor}, 0)
		push(t, rep, "A", 500, "bid", "3")
		window(rep)
		push(t, rep, "A", 501, "bid", "4")
		window(rep)
		m, _, _ := take(t, c)
		seq := uint64(0)
		var seen []string
		for _, msg := range m {
			for _, raw := range msg.Quotes {
				var q quoteJSON
				json.Unmarshal(raw, &q)
				seen = append(seen, msg.Type+" "+string(raw))
				switch {
				case q.S != "A":
				case msg.Type == "update" && seq != 0 && q.Seq != seq+1:
					t.Fatalf("floor %d: update at seq %d after %d: %v", floor, q.Seq, seq, seen)
				case msg.Type == "snapshot" && q.Seq <= seq:
					t.Fatalf("floor %d: snapshot at seq %d after %d: %v", floor, q.Seq, seq, seen)
				}
				seq = q.Seq
			}
		}
		if want := max(floor, 11) + 2; seq != want {
			t.Fatalf("floor %d: A at seq %d, want %d: %v", floor, seq, want, seen)
		}
	}

	// a subscriber that had nothing of the symbol (its first version was
	// still queued) gets a "subscribe" snapshot, whatever the fold held
	rep := newTestEngine(t, Config{Replica: true, FollowAll: true}, "C")
	c := register(rep, false, 1<<20)
	subscribe(rep, c, "", "C")
	take(t, c)
	rep.takeVersion(fullVersion("C", 5, 0, "1"))
	rep.promote(map[string]uint64{"C": 9}, 0)
	push(t, rep, "C", 600, "bid", "2")
	window(rep)
	m, _, _ := take(t, c)
	if len(m) != 1 || m[0].Type != "snapshot" || m[0].Reason != "subscribe" || len(m[0].Quotes) != 1 || !strings.Contains(string(m[0].Quotes[0]), `"seq":10,`) {
		t.Fatalf("a symbol the subscriber never had, promoted past a queued version: %+v", m)
	}
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// TestReplicaNewEpoch: a replica at epoch 5 takes a version of epoch 6. It
// drops every symbol's state, and each client gets one resync snapshot
// carrying epoch 6 with what the new stream has (A, restored in the same
// window; not B, which has no version in it yet); B's first version of the
// new stream then comes as a resync snapshot of its own, and a version of
// the old epoch, still in flight, is dropped.
func TestReplicaNewEpoch(t *testing.T) {
	rep := newTestEngine(t, Config{Replica: true}, "A", "B")
	c := register(rep, false, 1<<20)
	subscribe(rep, c, "", "*")
	rep.takeVersion(fullVersion("A", 280, 5, "1"))
	rep.takeVersion(fullVersion("B", 90, 5, "2"))
	window(rep)
	take(t, c)

	rep.takeVersion(fullVersion("A", 2, 6, "3"))
	window(rep)
	m, _, _ := take(t, c)
	if len(m) != 1 || m[0].Type != "snapshot" || m[0].Reason != "resync" || len(m[0].Quotes) != 1 || m[0].Epoch != 6 {
		t.Fatalf("after a new epoch: %+v", m)
	}
	if a, _ := rep.Quote("A"); a.Seq != 2 {
		t.Fatalf("A at seq %d, want 2", a.Seq)
	}
	if _, ok := rep.Quote("B"); ok {
		t.Fatal("B's quote of the old epoch is still served")
	}
	rep.takeVersion(fullVersion("B", 91, 5, "9")) // the old stream's, in flight
	rep.takeVersion(fullVersion("B", 1, 6, "4"))
	window(rep)
	m, _, _ = take(t, c)
	if len(m) != 1 || m[0].Type != "snapshot" || m[0].Reason != "resync" || m[0].Epoch != 6 || !strings.Contains(string(m[0].Quotes[0]), `"seq":1,`) {
		t.Fatalf("B's first version of the new epoch: %+v", m)
	}
}
