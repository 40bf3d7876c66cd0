package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Promotable is the engine an ingest node runs: a replica until it takes
// the stream over (fanout.Engine).
type Promotable interface {
	Promote(ctx context.Context, floors map[string]uint64) error
}

// Ingest is the ingest role's life cycle. A node starts as a standby: its
// engine is a replica fed by a Receiver that takes every symbol, so it
// holds the stream's latest version of each. When it wins the lease (at
// once, if no other ingest holds it), it reads every symbol from the bucket
// once more, stops receiving, promotes its engine so that every seq goes on
// from the highest the cluster published, starts its feeds, and renews the
// lease until its context ends.
type Ingest struct {
	Engine     Promotable
	Receiver   *Receiver // with ReceiveAll
	Lease      *Lease
	StartFeeds func() // starts the feeds into the engine's ring
	Log        *slog.Logger
	// SyncWait bounds the wait, once the lease is won, for the receiver to
	// have every symbol's latest version; default 10s.
	SyncWait time.Duration

	leader atomic.Bool
}

// Release hands the stream over at shutdown: once the engine has stopped
// (nothing more is published), it gives the lease up so that a standby
// takes over at once rather than after the lease time. Call it after Run
// has returned.
func (in *Ingest) Release(ctx context.Context) error {
	if !in.leader.Swap(false) {
		return nil
	}
	return in.Lease.Release(ctx)
}

// Leader reports whether this node publishes the stream now.
func (in *Ingest) Leader() bool { return in.leader.Load() }

// Run runs the standby and then the leader until ctx ends (nil) or the
// lease is lost (ErrLeaseLost: the process should exit, and come back as
// a standby, rather than risk two publishers).
func (in *Ingest) Run(ctx context.Context) error {
	if in.SyncWait == 0 {
		in.SyncWait = 10 * time.Second
	}
	rctx, stopReceiver := context.WithCancel(ctx)
	received := make(chan struct{})
	go func() {
		defer close(received)
		in.Receiver.Run(rctx)
	}()
	defer func() {
		stopReceiver()
		<-received
	}()
	in.Log.Info("ingest standby: following the stream until the lease is free")
	if err := in.Lease.Acquire(ctx); err != nil {
		return nil // ctx ended
	}
	start := time.Now()
	for !in.Receiver.Synced() && time.Since(start) < in.SyncWait && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if !in.Receiver.Synced() {
		in.Log.Warn("ingest: taking over before the stream was read in full", "waited", in.SyncWait)
	}
	// the old leader has stopped (it holds no lease), so the bucket has
	// every version it published, even one whose delta this node missed:
	// going on from the bucket, no seq is issued twice
	select {
	case <-in.Receiver.Reread(ctx):
	case <-time.After(max(in.SyncWait-time.Since(start), time.Second)):
		in.Log.Warn("ingest: taking over before every symbol was read from the bucket again")
	case <-ctx.Done():
		return nil
	}
	stopReceiver()
	<-received
	floors := in.Receiver.HighWater()
	if err := in.Engine.Promote(ctx, floors); err != nil {
		return nil // the engine stopped: shutting down
	}
	in.leader.Store(true)
	in.Log.Info("ingest leader: publishing the stream", "symbols_known", len(floors), "took_over_after", time.Since(start).Round(time.Millisecond))
	in.StartFeeds()
	if err := in.Lease.Hold(ctx); err != nil {
		in.leader.Store(false)
		return err
	}
	return nil // still leader until Release: the engine may publish until it stops
}
