package fanout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestManualClock: with a ManualClock the running engine flushes only when
// stepped, never on its window; each Step delivers exactly one update with
// everything pushed before it, at the step's time, and returns with it
// queued; snapshots carry the clock's time; a Step after the engine stopped
// says so instead of hanging.
func TestManualClock(t *testing.T) {
	start := time.UnixMicro(1764000000000000)
	clock := NewManualClock(start)
	e := newTestEngine(t, Config{Window: time.Millisecond, Clock: clock}, "A", "B")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	step := func(at time.Time) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		if err := clock.Step(sctx, at); err != nil {
			t.Fatalf("step to %v: %v", at, err)
		}
	}

	push(t, e, "A", 1, "bid", "1")
	step(start.Add(time.Second))
	c := e.NewClient(false)
	if err := e.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.Subscribe(ctx, c, nil, []string{"A", "B"}); err != nil {
		t.Fatal(err)
	}
	// the snapshot is queued by the engine's goroutine; wait for it
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().SnapshotsQueued.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot queued")
		}
		time.Sleep(time.Millisecond)
	}
	msgs, _, _ := take(t, c)
	if len(msgs) != 2 || msgs[1].Type != "snapshot" || msgs[1].Time != start.Add(time.Second).UnixMicro() {
		t.Fatalf("subscribe: %+v, want an ack and a snapshot at the clock's time", msgs)
	}

	// many windows of real time pass: nothing is flushed
	push(t, e, "A", 2, "bid", "2")
	push(t, e, "B", 3, "ask", "5")
	push(t, e, "A", 4, "bid", "3")
	time.Sleep(30 * time.Millisecond)
	if msgs, _, _ := take(t, c); len(msgs) != 0 {
		t.Fatalf("without a step the engine sent %+v", msgs)
	}
	at := start.Add(2 * time.Second)
	step(at)
	msgs, _, _ = take(t, c) // Step returned: the update is queued already
	if len(msgs) != 1 || msgs[0].Type != "update" || msgs[0].Time != at.UnixMicro() {
		t.Fatalf("after a step: %+v, want one update at %d", msgs, at.UnixMicro())
	}
	if got := fmt.Sprint(rawStrings(msgs[0].Quotes)); got != `[{"s":"A","seq":2,"ts":4,"bid":"3"} {"s":"B","seq":1,"ts":3,"ask":"5"}]` {
		t.Fatalf("update %s", got)
	}
	step(at) // the same time again: allowed, and nothing changed
	if msgs, _, _ := take(t, c); len(msgs) != 0 {
		t.Fatalf("an empty step sent %+v", msgs)
	}
	if err := clock.Step(ctx, start); err == nil {
		t.Fatal("a step back in time was taken")
	}

	cancel()
	<-e.Done()
	if err := clock.Step(context.Background(), at.Add(time.Second)); !errors.Is(err, ErrClockStopped) {
		t.Fatalf("step after stop: %v, want ErrClockStopped", err)
	}
}
