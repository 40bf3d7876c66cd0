package market

import "testing"

func TestStatePublish(t *testing.T) {
	type step struct {
		apply   []Quote // updates within one window
		publish bool
		delta   string // JSON of the delta when published
	}
	steps := []step{
		{apply: []Quote{quoteOf("A", 0, 10, "bid", "1.0", "ask", "1.2")}, publish: true,
			delta: `{"s":"A","seq":1,"ts":10,"bid":"1","ask":"1.2"}`},
		{apply: nil, publish: false},
		{apply: []Quote{quoteOf("A", 0, 20, "bid", "1.00")}, publish: false}, // same value: no change, ts kept
		{apply: []Quote{quoteOf("A", 0, 30, "bid", "1.1"), quoteOf("A", 0, 31, "bid", "1.05", "last", "1.1")}, publish: true,
			delta: `{"s":"A","seq":2,"ts":31,"bid":"1.05","last":"1.1"}`},
		// changed and changed back within a window: a delta with the new ts only
		{apply: []Quote{quoteOf("A", 0, 40, "ask", "9"), quoteOf("A", 0, 41, "ask", "1.2")}, publish: true,
			delta: `{"s":"A","seq":3,"ts":41}`},
	}
	s := NewState("A")
	for i, st := range steps {
		for _, u := range st.apply {
			s.Apply(&u)
		}
		var d Quote
		got := s.Publish(&d)
		if got != st.publish {
			t.Fatalf("step %d: Publish = %v, want %v", i, got, st.publish)
		}
		if got && string(d.AppendJSON(nil)) != st.delta {
			t.Fatalf("step %d: delta %s, want %s", i, d.AppendJSON(nil), st.delta)
		}
	}
	p := s.Published()
	want := `{"s":"A","seq":3,"ts":41,"bid":"1.05","ask":"1.2","last":"1.1"}`
	if string(p.AppendJSON(nil)) != want {
		t.Fatalf("published %s, want %s", p.AppendJSON(nil), want)
	}
}

func staleMark(sym string, ts int64) Quote { return Quote{Symbol: sym, TsMicros: ts, Staleness: Stale} }

// TestStateStale: a stale mark is one published change (seq + 1, ts kept),
// a live quote after it turns the symbol fresh with an explicit
// "stale":false, and a replica folding the deltas holds the same quote.
func TestStateStale(t *testing.T) {
	type step struct {
		apply []Quote
		delta string // "" when nothing is published
		full  string // the published quote after the step
	}
	steps := []step{
		{apply: []Quote{staleMark("A", 5)}}, // nothing to mark before a value
		{apply: []Quote{quoteOf("A", 0, 10, "bid", "1")},
			delta: `{"s":"A","seq":1,"ts":10,"bid":"1"}`, full: `{"s":"A","seq":1,"ts":10,"bid":"1"}`},
		{apply: []Quote{staleMark("A", 20)},
			delta: `{"s":"A","seq":2,"ts":10,"stale":true}`, full: `{"s":"A","seq":2,"ts":10,"bid":"1","stale":true}`},
		{apply: []Quote{staleMark("A", 30)}, full: `{"s":"A","seq":2,"ts":10,"bid":"1","stale":true}`}, // already stale
		// the same value again: fresh is a change, and takes the quote's ts
		{apply: []Quote{quoteOf("A", 0, 40, "bid", "1")},
			delta: `{"s":"A","seq":3,"ts":40,"stale":false}`, full: `{"s":"A","seq":3,"ts":40,"bid":"1"}`},
		// a quote then a mark within one window: one version, stale
		{apply: []Quote{quoteOf("A", 0, 50, "bid", "2"), staleMark("A", 51)},
			delta: `{"s":"A","seq":4,"ts":50,"bid":"2","stale":true}`, full: `{"s":"A","seq":4,"ts":50,"bid":"2","stale":true}`},
		// a live quote and a mark again within one window: nothing changed but the ts
		{apply: []Quote{quoteOf("A", 0, 60, "bid", "2"), staleMark("A", 61)},
			delta: `{"s":"A","seq":5,"ts":60}`, full: `{"s":"A","seq":5,"ts":60,"bid":"2","stale":true}`},
		{apply: []Quote{quoteOf("A", 0, 70, "ask", "3")},
			delta: `{"s":"A","seq":6,"ts":70,"ask":"3","stale":false}`, full: `{"s":"A","seq":6,"ts":70,"bid":"2","ask":"3"}`},
	}
	s, replica := NewState("A"), NewState("A")
	for i, st := range steps {
		for _, u := range st.apply {
			s.Apply(&u)
		}
		var d Quote
		published := s.Publish(&d)
		if published != (st.delta != "") || published && string(d.AppendJSON(nil)) != st.delta {
			t.Fatalf("step %d: published %v %s, want %s", i, published, d.AppendJSON(nil), st.delta)
		}
		if st.full == "" {
			continue
		}
		if got := s.PublishedRef().AppendJSON(nil); string(got) != st.full {
			t.Fatalf("step %d: published quote %s, want %s", i, got, st.full)
		}
		if published && !replica.ApplyDelta(&d) {
			t.Fatalf("step %d: replica refused %s", i, d.AppendJSON(nil))
		}
		if replica.Published() != s.Published() {
			t.Fatalf("step %d: replica %s, want %s", i, replica.PublishedRef().AppendJSON(nil), st.full)
		}
	}
}

// TestStatePublishAllStale: a node taking the stream over states the
// staleness in its first versions, so a replica that held the other one
// is corrected either way; Restore keeps Stale and nothing else.
func TestStatePublishAllStale(t *testing.T) {
	for _, stale := range []bool{false, true} {
		s := NewState("A")
		s.Restore(Quote{Symbol: "A", Seq: 7, TsMicros: 10, Staleness: Fresh})
		if s.Published().Staleness != Unstated {
			t.Fatalf("Restore kept %v", s.Published().Staleness)
		}
		u := quoteOf("A", 0, 11, "bid", "1")
		s.Apply(&u)
		if stale {
			m := staleMark("A", 12)
			s.Apply(&m)
		}
		replica := NewState("A")
		replica.Restore(Quote{Symbol: "A", Seq: 7, TsMicros: 10, Staleness: map[bool]Staleness{false: Stale, true: Unstated}[stale]})
		var d Quote
		s.PublishAll(&d)
		if !replica.ApplyDelta(&d) || replica.Published() != s.Published() {
			t.Fatalf("stale=%v: replica %s from %s, want %s", stale, replica.PublishedRef().AppendJSON(nil), d.AppendJSON(nil), s.PublishedRef().AppendJSON(nil))
		}
	}
}

// TestDeltasReproduceState applies every published delta to a client-side
// copy and checks it equals the published quote at every version.
func TestDeltasReproduceState(t *testing.T) {
	s := NewState("X")
	var client Quote
	vals := []string{"1", "2", "2", "3", "1", "1.5"}
	for i := 0; i < 200; i++ {
		u := Quote{Symbol: "X", TsMicros: int64(i)}
		u.Set(Field(i%int(NumFields)), MustDecimal(vals[i%len(vals)]))
		s.Apply(&u)
		if i%3 != 0 {
			continue
		}
		var d Quote
		if !s.Publish(&d) {
			continue
		}
		if d.Seq != client.Seq+1 {
			t.Fatalf("seq %d after %d", d.Seq, client.Seq)
		}
		client.Symbol, client.Seq, client.TsMicros = d.Symbol, d.Seq, d.TsMicros
		for f := Field(0); f < NumFields; f++ {
			if d.Fields.Has(f) {
				client.Set(f, d.Values[f])
			}
		}
		if client != s.Published() {
			t.Fatalf("client %s != server %s", client.AppendJSON(nil), s.PublishedRef().AppendJSON(nil))
		}
	}
}

func BenchmarkStateApplyPublish(b *testing.B) {
	s := NewState("BTC-USD")
	u1 := quoteOf("BTC-USD", 0, 1, "bid", "64000.10", "bid_size", "0.5", "ask", "64000.20", "ask_size", "1.25")
	u2 := quoteOf("BTC-USD", 0, 2, "bid", "64000.11", "bid_size", "0.7", "ask", "64000.20", "ask_size", "1.5")
	var d Quote
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			s.Apply(&u1)
		} else {
			s.Apply(&u2)
		}
		s.Publish(&d)
	}
}

// TestStateReplicates: a second State fed the first one's deltas through
// ApplyDelta (or restored from its full quote midway) holds the same
// published quote at every version, and continues versioning from it.
func TestStateReplicates(t *testing.T) {
	src, dst := NewState("A"), NewState("A")
	updates := []Quote{
		quoteOf("A", 0, 10, "bid", "1.0", "ask", "1.2"),
		quoteOf("A", 0, 20, "last", "1.1", "last_size", "3"),
		quoteOf("A", 0, 30, "bid", "1.05"),
		quoteOf("A", 0, 40, "ask", "1.3", "volume", "100"),
	}
	for i, u := range updates {
		src.Apply(&u)
		var d Quote
		if !src.Publish(&d) {
			t.Fatalf("update %d: nothing published", i)
		}
		if i == 1 {
			if dst.ApplyDelta(&Quote{Symbol: "A", Seq: d.Seq + 1}) {
				t.Fatal("a delta two versions ahead was applied")
			}
		}
		if i == 2 {
			dst.Restore(src.Published()) // a resync from the full quote
			continue
		}
		if !dst.ApplyDelta(&d) {
			t.Fatalf("update %d: delta seq %d refused at %d", i, d.Seq, dst.Published().Seq)
		}
		if a, b := src.Published(), dst.Published(); string(a.AppendJSON(nil)) != string(b.AppendJSON(nil)) {
			t.Fatalf("update %d: %s ≠ %s", i, a.AppendJSON(nil), b.AppendJSON(nil))
		}
	}
	if dst.ApplyDelta(&Quote{Symbol: "A", Seq: 2}) {
		t.Fatal("an old delta was applied")
	}
	// the replica takes over: the next version is 5, from its own state
	u := quoteOf("A", 0, 50, "bid", "1.06")
	dst.Apply(&u)
	var d Quote
	if !dst.Publish(&d) || d.Seq != 5 || string(d.AppendJSON(nil)) != `{"s":"A","seq":5,"ts":50,"bid":"1.06"}` {
		t.Fatalf("after takeover: %s", d.AppendJSON(nil))
	}
}
