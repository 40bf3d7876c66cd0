package market

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/field"
)

func TestRingOrderAndWrap(t *testing.T) {
	r := NewRing(4)
	if r.Cap() != 4 {
		t.Fatalf("cap %d", r.Cap())
	}
	var out Quote
	for round := 0; round < 5; round++ {
		for i := 0; i < 4; i++ {
			q := Quote{Symbol: "S", Seq: uint64(round*10 + i)}
			if !r.TryPush(&q) {
				t.Fatalf("round %d push %d failed", round, i)
			}
		}
		extra := Quote{}
		if r.TryPush(&extra) {
			t.Fatal("push into a full ring succeeded")
		}
		for i := 0; i < 4; i++ {
			if !r.Pop(&out) || out.Seq != uint64(round*10+i) {
				t.Fatalf("round %d pop %d: got %v", round, i, out.Seq)
			}
		}
		if r.Pop(&out) {
			t.Fatal("pop from an empty ring succeeded")
		}
	}
}

// TestRingFull documents the overflow policy: a full ring makes Push wait, not
// drop; the wait ends when a slot frees, the context ends, or the ring closes.
func TestRingFull(t *testing.T) {
	r := NewRing(2)
	q := Quote{Symbol: "S"}
	r.TryPush(&q)
	r.TryPush(&q)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Push(ctx, &q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push on a full ring = %v, want deadline exceeded", err)
	}
	if r.FullWaits() != 1 {
		t.Fatalf("FullWaits = %d", r.FullWaits())
	}

	done := make(chan error, 1)
	go func() { done <- r.Push(context.Background(), &Quote{Symbol: "late", Seq: 9}) }()
	select {
	case err := <-done:
		t.Fatalf("Push returned %v while the ring was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	var out Quote
	r.Pop(&out)
	if err := <-done; err != nil {
		t.Fatalf("Push after a pop: %v", err)
	}
	r.Pop(&out)
	r.Pop(&out)
	if out.Symbol != "late" {
		t.Fatalf("last popped %q, want the waiting quote", out.Symbol)
	}

	r.TryPush(&q)
	r.TryPush(&q)
	go func() { done <- r.Push(context.Background(), &q) }()
	time.Sleep(5 * time.Millisecond)
	r.Close()
	if err := <-done; !errors.Is(err, ErrRingClosed) {
		t.Fatalf("Push on a closed ring = %v", err)
	}
	if r.TryPush(&q) {
		t.Fatal("TryPush on a closed ring succeeded")
	}
	if !r.Pop(&out) {
		t.Fatal("quotes pushed before Close must stay poppable")
	}
}

func TestRingConcurrentProducers(t *testing.T) {
	const producers, perProducer = 4, 20000
	r := NewRing(64)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 1; i <= perProducer; i++ {
				q := Quote{Symbol: string(rune('A' + p)), Seq: uint64(i)}
				if err := r.Push(context.Background(), &q); err != nil {
					t.Error(err)
					return
				}
			}
		}(p)
	}
	last := map[string]uint64{}
	var out Quote
	for n := 0; n < producers*perProducer; {
		if !r.Arm() {
			select {
			case <-r.Ready():
			case <-time.After(time.Second):
				// a lost wakeup would stall here; Arm/Ready must prevent it
				if r.Len() == 0 {
					t.Fatalf("consumer starved after %d quotes", n)
				}
			}
		}
		r.Disarm()
		for r.Pop(&out) {
			if out.Seq != last[out.Symbol]+1 {
				t.Fatalf("producer %s: seq %d after %d", out.Symbol, out.Seq, last[out.Symbol])
			}
			last[out.Symbol] = out.Seq
			n++
		}
	}
	wg.Wait()
	if r.Pop(&out) {
		t.Fatal("extra quote")
	}
}

func BenchmarkRingPushPop(b *testing.B) {
	r := NewRing(1024)
	q := quoteOf("BTC-USD", 0, 1, "bid", "64000.10", "ask", "64000.20")
	var out Quote
	b.ReportAllocs()
	for b.Loop() {
		r.TryPush(&q)
		r.Pop(&out)
	}
}

func BenchmarkRingContended(b *testing.B) {
	r := NewRing(4096)
	q := quoteOf("BTC-USD", 0, 1, "bid", "64000.10", "ask", "64000.20")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var out Quote
		for {
			if !r.Pop(&out) {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			_ = r.Push(ctx, &q)
		}
	})
	close(stop)
	<-done
}

func TestCheckRingCapacity(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{-1, false}, {0, false}, {1, false}, {2, true}, {DefaultRingCapacity, true}, {MaxRingCapacity, true}, {MaxRingCapacity + 1, false}} {
		err := CheckRingCapacity(tt.n)
		if (err == nil) != tt.ok {
			t.Errorf("CheckRingCapacity(%d) = %v, want ok=%v", tt.n, err, tt.ok)
		}
		var fe *field.Error
		if err != nil && (!errors.As(err, &fe) || fe.Field != "Capacity") {
			t.Errorf("CheckRingCapacity(%d) = %#v, want a field.Error naming Capacity", tt.n, err)
		}
	}
}
