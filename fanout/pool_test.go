package fanout

import (
	"fmt"
	"testing"
)

// TestSnapshotInUpdateFrame: a snapshot built in a pooled frame that last
// held a spliced update is compressed whole, as a snapshot (with the
// pieces' assembly it once went out as the update of no symbol:
// {"type":"update","time":0,"quotes":[]}).
func TestSnapshotInUpdateFrame(t *testing.T) {
	e := newTestEngine(t, Config{}, "A", "B")
	var cs []*Client
	for i := 0; i < 4; i++ {
		c := register(e, true, 1<<20)
		subscribe(e, c, "", []string{"A", "B"}[:1+i%2]...)
		cs = append(cs, c)
	}
	for w := 0; w < 5; w++ {
		push(t, e, "A", int64(w+1), "bid", fmt.Sprint(w), "ask", "100.123456789", "volume", "123456789.123456789")
		push(t, e, "B", int64(w+1), "bid", fmt.Sprint(w), "ask", "200.123456789", "volume", "123456789.123456789")
		window(e)
		for _, c := range cs {
			take(t, c)
			take(t, c) // gives the update frames back to the pool
		}
	}
	if e.Stats().FramesAssembled.Load() == 0 {
		t.Fatal("no update was spliced")
	}
	late := register(e, true, 1<<20)
	subscribe(e, late, "", "A", "B")
	msgs, _, _ := take(t, late)
	if len(msgs) != 2 || msgs[1].Type != "snapshot" || len(msgs[1].Quotes) != 2 {
		t.Fatalf("subscribe after spliced updates: %+v", msgs)
	}
}
