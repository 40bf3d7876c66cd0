package cluster

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/internal/natstest"
)

// TestBucketReadsFromLeader: one NATS server of three restarts while a key
// of the bucket is being written; a node connected to that server alone
// then reads the key over and over while the writes go on. A direct get
// (what jetstream's Get does) may be answered by that server's replica,
// which trails the stream's leader, with a value older than one whose
// write was acknowledged before the read began. The Store's reads, which
// decide the seqs a node issues after a takeover, never return one.
func TestBucketReadsFromLeader(t *testing.T) {
	nc := natstest.Start(t, 3)
	writer := connect(t, nc.URL(1), nc.URL(2))
	wst := openStore(t, writer, StoreConfig{})
	reader := connect(t, nc.URL(0)) // reconnects to server 0 only
	st := openStore(t, reader, StoreConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var acked atomic.Int64 // the highest value whose write was acknowledged
	wctx, stopWrites := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); wctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(wctx, 2*time.Second)
			_, err := wst.Quotes().Put(pctx, "K", strconv.AppendInt(nil, i, 10))
			pcancel()
			if err == nil {
				acked.Store(i)
			}
		}
	}()
	defer func() { stopWrites(); wg.Wait() }()
	for acked.Load() < 100 {
		if ctx.Err() != nil {
			t.Fatal("no writes acknowledged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc.Restart(0, 300*time.Millisecond)

	rjs, err := jetstream.New(reader)
	if err != nil {
		t.Fatal(err)
	}
	var direct jetstream.KeyValue
	for direct == nil {
		if kv, err := rjs.KeyValue(ctx, Bucket); err == nil {
			direct = kv
		} else if ctx.Err() != nil {
			t.Fatalf("the bucket on the restarted server: %v", err)
		}
	}
	read := func(kv jetstream.KeyValue) (value, before int64, err error) {
		before = acked.Load()
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		defer rcancel()
		e, err := kv.Get(rctx, "K")
		if err != nil {
			return 0, before, err
		}
		value, err = strconv.ParseInt(string(e.Value()), 10, 64)
		return value, before, err
	}
	var staleDirect, directReads, reads, errs int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if v, before, err := read(direct); err == nil {
			directReads++
			if v < before {
				staleDirect++
			}
		}
		v, before, err := read(st.Quotes())
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			t.Fatalf("the Store's read found no K after %d reads", reads)
		case err != nil:
			errs++ // the restarted server still joining: no answer is not a wrong answer
		case v < before:
			t.Fatalf("the Store's read %d returned %d, though %d was acknowledged before it began", reads, v, before)
		default:
			reads++
		}
	}
	t.Logf("the Store read K %d times, never older than an acknowledged write (%d reads failed while the server rejoined); direct gets: %d of %d returned an older value", reads, errs, staleDirect, directReads)
	if reads == 0 {
		t.Fatal("the Store never read K after the restart")
	}
}
