package feeds

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/market"
)

// orderSink records what is pushed, in order; with gate set, a push of a
// stale mark waits until gate is closed (after telling entered).
type orderSink struct {
	mu      sync.Mutex
	got     []string // "stale A" or "quote A"
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (s *orderSink) Push(ctx context.Context, q *market.Quote) error {
	if q.IsStale() && s.gate != nil {
		s.once.Do(func() { close(s.entered) })
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := "quote "
	if q.IsStale() {
		kind = "stale "
	}
	s.got = append(s.got, kind+q.Symbol)
	return nil
}

func (s *orderSink) Malformed(error) {}

func (s *orderSink) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func newStaleness(after time.Duration, syms ...string) *staleness {
	return &staleness{after: after, symbols: syms, name: "test", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func waitLen(t *testing.T, s *orderSink, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(s.list()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pushed %v, want %d", s.list(), n)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStalenessMarks: a loss marks every symbol once, at once with after
// 0 or after the wait otherwise; a quote within the wait cancels it; the
// next loss after a quote marks again; a feed not configured marks none.
func TestStalenessMarks(t *testing.T) {
	ctx := context.Background()
	quote := func(sym string) *market.Quote { return &market.Quote{Symbol: sym, TsMicros: 1} }
	for _, tt := range []struct {
		name string
		run  func(st *staleness, sink *orderSink)
		want []string
	}{
		{"at once, once per loss", func(st *staleness, sink *orderSink) {
			st.lost(ctx, sink)
			st.lost(ctx, sink) // a redial that failed: still the same loss
			st.push(ctx, sink, quote("A"))
			st.lost(ctx, sink)
		}, []string{"stale A", "stale B", "quote A", "stale A", "stale B"}},
		{"after the wait", func(st *staleness, sink *orderSink) {
			st.after = 5 * time.Millisecond
			st.lost(ctx, sink)
			waitLen(t, sink, 2)
			st.push(ctx, sink, quote("B"))
		}, []string{"stale A", "stale B", "quote B"}},
		{"a quote within the wait", func(st *staleness, sink *orderSink) {
			st.after = time.Hour
			st.lost(ctx, sink)
			st.push(ctx, sink, quote("A"))
			st.close()
		}, []string{"quote A"}},
		{"not configured", func(st *staleness, sink *orderSink) {
			st.symbols = nil
			st.lost(ctx, sink)
		}, nil},
		{"nothing quoted yet", func(st *staleness, sink *orderSink) {
			st.quoted = false // a feed that lost its first connection before any quote
			st.lost(ctx, sink)
			st.push(ctx, sink, quote("A"))
			st.lost(ctx, sink)
		}, []string{"quote A", "stale A", "stale B"}},
	} {
		st, sink := newStaleness(0, "A", "B"), &orderSink{}
		st.quoted = true // the feed has quoted before (but in the case that says not)
		tt.run(st, sink)
		st.close()
		if got := sink.list(); !equal(got, tt.want) {
			t.Errorf("%s: pushed %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStalenessOrder: the first quote after a loss waits for marks being
// pushed, so no mark lands behind it; close waits for them too.
func TestStalenessOrder(t *testing.T) {
	ctx := context.Background()
	sink := &orderSink{gate: make(chan struct{}), entered: make(chan struct{})}
	st := newStaleness(time.Millisecond, "A", "B")
	st.quoted = true
	st.lost(ctx, sink)
	<-sink.entered // the timer is pushing the first mark, and holds on
	pushed, closed := make(chan struct{}), make(chan struct{})
	go func() { st.push(ctx, sink, &market.Quote{Symbol: "A", TsMicros: 2}); close(pushed) }()
	go func() { <-pushed; st.close(); close(closed) }()
	time.Sleep(20 * time.Millisecond)
	if got := sink.list(); len(got) != 0 {
		t.Fatalf("pushed %v while the marks were held", got)
	}
	close(sink.gate)
	<-closed
	if got, want := sink.list(), []string{"stale A", "stale B", "quote A"}; !equal(got, want) {
		t.Errorf("pushed %v, want %v", got, want)
	}
}
