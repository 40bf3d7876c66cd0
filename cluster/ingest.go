package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Promotable is the engine an ingest node runs: a replica until it takes
// the stream over (fanout.Engine).
type Promotable interface {
	Promote(ctx context.Context, floors map[string]uint64, epoch uint64) error
}

// Ingest is the ingest role's life cycle. A node starts as a standby: its
// engine is a replica fed by a Receiver that takes every symbol, so it
// holds the stream's latest version of each. When it wins the lease, it
// reads every symbol from the bucket once more, stops receiving, promotes
// its engine so that every seq goes on from the highest the cluster
// published, starts its feeds, and renews the lease until its context
// ends.
//
// Who may take the lease: a standby with the stream's state at once, but a
// full lease time after a NATS reconnect, so that the leader of before,
// which kept its state in memory and takes the lease back at once, goes
// on; a node with no state at all only after two lease times without one
// (then no node had any, and it starts a new epoch).
//
// A leader that loses NATS does not exit: it stops publishing
// (Publisher.Pause) and keeps versioning in memory; once NATS is back and
// the buckets are open again, it takes the lease back, writes every
// symbol's latest quote to the bucket and publishes again, its seqs going
// on above any it published. Only when another node has taken the lease
// meanwhile does Run return ErrLeaseLost.
type Ingest struct {
	Engine     Promotable
	Receiver   *Receiver // with ReceiveAll
	Lease      *Lease
	Publisher  *Publisher
	StartFeeds func() // starts the feeds into the engine's ring
	Log        *slog.Logger
	// SyncWait bounds the wait, once the lease is won, for the receiver to
	// have every symbol's latest version; default 10s.
	SyncWait time.Duration

	leader   atomic.Bool
	led      atomic.Bool  // led once: holds the lease or may
	down     atomic.Bool  // NATS lost since the last reopening
	reopenAt atomic.Int64 // Unix nanos of the last reopening (0: none)
	mu       sync.Mutex
	suspend  context.CancelFunc // ends the current Hold when NATS is lost
	reopened chan struct{}      // cap 1
	once     sync.Once
}

func (in *Ingest) init() {
	in.once.Do(func() { in.reopened = make(chan struct{}, 1) })
}

// Disconnected tells the node NATS is lost (Store.OnDisconnect): a leader
// stops publishing at once. It never blocks.
func (in *Ingest) Disconnected() {
	in.init()
	in.down.Store(true)
	if in.Publisher != nil && in.led.Load() {
		in.Publisher.Pause()
	}
	in.mu.Lock()
	if in.suspend != nil {
		in.suspend()
	}
	in.mu.Unlock()
}

// Reopened tells the node NATS is back and the buckets open again
// (Store.OnReopen). It never blocks.
func (in *Ingest) Reopened() {
	in.init()
	in.reopenAt.Store(time.Now().UnixNano())
	in.down.Store(false)
	select {
	case in.reopened <- struct{}{}:
	default:
	}
}

// Release hands the stream over at shutdown: once the engine has stopped
// (nothing more is published), it gives the lease up so that a standby
// takes over at once rather than after the lease time. Call it after Run
// has returned.
func (in *Ingest) Release(ctx context.Context) error {
	in.leader.Store(false)
	if !in.led.Swap(false) {
		return nil
	}
	return in.Lease.Release(ctx)
}

// Leader reports whether this node publishes the stream now.
func (in *Ingest) Leader() bool { return in.leader.Load() }

// mayLead says whether this standby may try the lease now (see Ingest).
func (in *Ingest) mayLead(started time.Time) bool {
	if in.down.Load() {
		return false
	}
	ttl := in.Lease.Time()
	since := time.Since(started)
	if at := in.reopenAt.Load(); at != 0 {
		since = time.Since(time.Unix(0, at))
		if in.Receiver.HasState() {
			return since > ttl
		}
	} else if in.Receiver.HasState() {
		return true
	}
	return since > 2*ttl
}

// Run runs the standby and then the leader until ctx ends (nil) or another
// node has taken the lease while this one was cut off from NATS
// (ErrLeaseLost: the process should exit, and come back as a standby,
// rather than risk two publishers).
func (in *Ingest) Run(ctx context.Context) error {
	in.init()
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
	started := time.Now()
	if err := in.Lease.Acquire(ctx, func() bool { return in.mayLead(started) }); err != nil {
		return nil // ctx ended
	}
	in.led.Store(true)
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
	epoch := in.Receiver.Epoch()
	if !in.Receiver.HasState() || epoch == 0 {
		epoch = NewEpoch(epoch)
		in.Log.Warn("ingest: no node has the stream's state; a new epoch starts every symbol at seq 1", "epoch", epoch)
	}
	if in.Publisher != nil {
		in.Publisher.SetEpoch(epoch)
	}
	if err := in.Engine.Promote(ctx, floors, epoch); err != nil {
		return nil // the engine stopped: shutting down
	}
	in.leader.Store(true)
	in.Log.Info("ingest leader: publishing the stream", "symbols_known", len(floors), "epoch", epoch, "took_over_after", time.Since(start).Round(time.Millisecond))
	in.StartFeeds()
	return in.lead(ctx)
}

// lead renews the lease until ctx ends; when NATS is lost or a renewal
// fails, it stops publishing and takes the lease back.
func (in *Ingest) lead(ctx context.Context) error {
	for {
		hctx, cancel := context.WithCancel(ctx)
		in.mu.Lock()
		in.suspend = cancel
		in.mu.Unlock()
		var err error
		if !in.down.Load() {
			err = in.Lease.Hold(hctx)
		}
		cancel()
		if ctx.Err() != nil {
			return nil // still leader until Release: the engine may publish until it stops
		}
		// not sure to hold the lease any more: publish nothing until it is
		// ours again, or another node could publish the same seqs
		in.leader.Store(false)
		if in.Publisher != nil {
			in.Publisher.Pause()
		}
		in.Log.Warn("ingest leader: NATS lost or lease not renewed; publishing paused, state kept", "err", err)
		lost := time.Now()
		if err := in.reacquire(ctx); err != nil {
			if errors.Is(err, ErrLeaseTaken) {
				in.led.Store(false)
				return errors.Join(ErrLeaseLost, err)
			}
			return nil // ctx ended
		}
		if in.Publisher != nil {
			in.Publisher.Resume()
		}
		in.leader.Store(true)
		in.Log.Info("ingest leader: lease taken back; the bucket is written again and publishing resumes", "paused", time.Since(lost).Round(time.Millisecond))
	}
}

// reacquire takes the lease back once NATS is up, trying every 250 ms.
func (in *Ingest) reacquire(ctx context.Context) error {
	for {
		if !in.down.Load() {
			err := in.Lease.Reacquire(ctx)
			if err == nil || errors.Is(err, ErrLeaseTaken) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-in.reopened:
		case <-time.After(250 * time.Millisecond):
		}
	}
}
