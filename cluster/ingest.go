package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

// Promotable is the engine an ingest node runs: a replica until it takes
// the stream over (fanout.Engine).
type Promotable interface {
	VersionSink // what its Receiver feeds while it stands by
	Promote(ctx context.Context, floors map[string]uint64, epoch uint64) error
	Demote(ctx context.Context) error
	Rebase(ctx context.Context, floors map[string]uint64) error
	Hold(on bool)
	Quotes() []market.Quote
}

// TakeoverSkip is how many seqs of each symbol a standby leaves unused
// when it takes over a lease that expired rather than was released.
const TakeoverSkip = 16

// Ingest is the ingest role's life cycle. A node starts as a standby: its
// engine is a replica fed by a Receiver that takes every symbol, so it
// holds the stream's latest version of each. When it wins the lease, it
// reads every symbol from the bucket once more, stops receiving, promotes
// its engine so that every seq goes on from the highest the cluster
// published, starts its feeds, and renews the lease until its context
// ends.
//
// Who may take the lease: a standby with the stream's state at once, but
// half a lease time after a NATS reconnect, so that the leader of before,
// which kept its state in memory and takes the lease back at once, goes
// on; a node with no state at all only after two lease times without one
// since it started or NATS came back (then no node had any, and it starts
// a new epoch).
//
// A leader that loses NATS does not exit: it holds its engine (no seq is
// issued; changes wait, coalesced) and publishes nothing, keeping its state
// in memory; once NATS is back and the buckets are open again, it takes the
// lease back, writes every symbol's latest quote to the bucket and goes
// on, each seq the next of the one it last published. When another node
// has taken the lease meanwhile, it stands by again, following that
// node's stream.
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
	feeds    sync.Once // StartFeeds, at the first takeover
}

func (in *Ingest) init() {
	in.once.Do(func() { in.reopened = make(chan struct{}, 1) })
}

// Disconnected tells the node NATS is lost (Store.OnDisconnect): a leader
// stops publishing at once. It never blocks.
func (in *Ingest) Disconnected() {
	in.init()
	in.down.Store(true)
	if in.led.Load() {
		in.pause()
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
			return since > ttl/2
		}
	} else if in.Receiver.HasState() {
		return true
	}
	return since > 2*ttl
}

// Run runs the standby and then the leader until ctx ends. A leader that
// another node replaced while it was cut off from NATS stands by again.
func (in *Ingest) Run(ctx context.Context) error {
	in.init()
	if in.SyncWait == 0 {
		in.SyncWait = 10 * time.Second
	}
	started := time.Now()
	for {
		if !in.standby(ctx, started) {
			return nil // ctx ended
		}
		if !in.lead(ctx) {
			return nil
		}
		// another node leads: follow its stream, as any standby does
		if err := in.Engine.Demote(ctx); err != nil {
			return nil
		}
		in.Engine.Hold(false)
		in.Log.Warn("ingest: another node took the stream over while this one was cut off from NATS; standing by again")
	}
}

// standby follows the stream until this node wins the lease, then takes
// the stream over; false if ctx ended first.
func (in *Ingest) standby(ctx context.Context, started time.Time) bool {
	rctx, stopReceiver := context.WithCancel(ctx)
	received := make(chan struct{})
	go func() {
		defer close(received)
		in.Receiver.Run(rctx, in.Engine)
	}()
	defer func() {
		stopReceiver()
		<-received
	}()
	in.Log.Info("ingest standby: following the stream until the lease is free")
	if err := in.Lease.Acquire(ctx, func() bool { return in.mayLead(started) }); err != nil {
		return false
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
		return false
	}
	stopReceiver()
	<-received
	floors := in.Receiver.HighWater()
	epoch := in.Receiver.Epoch()
	switch {
	case !in.Receiver.HasState() || epoch == 0:
		epoch = NewEpoch(epoch)
		in.Log.Warn("ingest: no node has the stream's state; a new epoch starts every symbol at seq 1", "epoch", epoch)
	case !in.Lease.Clean():
		// the old leader did not hand over: it crashed or lost NATS, and a
		// last version of it may have reached some edges but neither this
		// node nor the bucket (a NATS server that died with it in flight).
		// Going on above it, no seq is issued twice; edges see a gap and
		// resync their clients from the bucket.
		for sym, seq := range floors {
			if seq > 0 {
				floors[sym] = seq + TakeoverSkip
			}
		}
	}
	if in.Publisher != nil {
		in.Publisher.SetEpoch(epoch)
		in.Publisher.Resume(false)
	}
	if err := in.Engine.Promote(ctx, floors, epoch); err != nil {
		return false // the engine stopped: shutting down
	}
	in.Engine.Hold(false)
	in.leader.Store(true)
	in.Log.Info("ingest leader: publishing the stream", "symbols_known", len(floors), "epoch", epoch, "clean_handover", in.Lease.Clean(), "took_over_after", time.Since(start).Round(time.Millisecond))
	in.feeds.Do(in.StartFeeds)
	return true
}

// lead renews the lease until ctx ends (false) or another node has taken
// it (true). When NATS is lost or a renewal fails, the engine versions
// nothing and nothing is published until the lease is taken back.
func (in *Ingest) lead(ctx context.Context) bool {
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
			return false // still leader until Release: the engine may publish until it stops
		}
		// not sure to hold the lease any more: version and publish nothing
		// until it is ours again, or another node could issue the same seqs
		in.pause()
		in.Log.Warn("ingest leader: NATS lost or lease not renewed; versioning paused, state kept", "err", err)
		lost := time.Now()
		created, err := in.reacquire(ctx)
		if err != nil {
			if errors.Is(err, ErrLeaseTaken) {
				in.led.Store(false)
				in.Log.Warn("ingest: the lease was taken meanwhile", "err", err)
				return true
			}
			return false // ctx ended
		}
		if created {
			switch in.rebase(ctx) {
			case rebaseStopped:
				return false
			case rebaseNewer:
				// a newer stream began meanwhile: hand the lease over and
				// follow it (this node may take it back, from that stream)
				in.Lease.Release(ctx)
				in.led.Store(false)
				in.Log.Warn("ingest: a newer epoch began while this node was cut off; standing by")
				return true
			}
		}
		if in.Publisher != nil {
			in.Publisher.Resume(true)
		}
		in.Engine.Hold(false)
		in.leader.Store(true)
		in.Log.Info("ingest leader: lease taken back; the bucket is written again and publishing resumes", "paused", time.Since(lost).Round(time.Millisecond))
	}
}

func (in *Ingest) pause() {
	in.Engine.Hold(true)
	if in.Publisher != nil {
		in.Publisher.Pause()
	}
	in.leader.Store(false)
}

type rebaseResult uint8

const (
	rebaseDone    rebaseResult = iota
	rebaseNewer                // the bucket holds a newer epoch
	rebaseStopped              // ctx ended
)

// rebase, after the lease had to be created again (it had expired, or
// was lost with the bucket), goes on above any seq another node may have
// published meanwhile: the bucket holds its versions, if there were any.
func (in *Ingest) rebase(ctx context.Context) rebaseResult {
	own := map[string]uint64{}
	for _, q := range in.Engine.Quotes() {
		own[q.Symbol] = q.Seq
	}
	var epoch uint64
	if in.Publisher != nil {
		epoch = in.Publisher.epoch.Load()
	}
	for {
		floors, newer, err := bucketAhead(ctx, in.Receiver.kv, own, epoch)
		switch {
		case err == nil && newer:
			return rebaseNewer
		case err == nil:
			if len(floors) > 0 {
				in.Log.Warn("ingest: another node published while this one was cut off; going on above its seqs", "symbols", len(floors))
				if err := in.Engine.Rebase(ctx, floors); err != nil {
					return rebaseStopped
				}
			}
			return rebaseDone
		}
		in.Log.Warn("ingest: reading the bucket before resuming", "err", err)
		select {
		case <-ctx.Done():
			return rebaseStopped
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bucketAhead returns, for each symbol whose bucket seq is above own's,
// that seq plus TakeoverSkip; newer reports a value of a later epoch than
// epoch.
func bucketAhead(ctx context.Context, kv jetstream.KeyValue, own map[string]uint64, epoch uint64) (floors map[string]uint64, newer bool, err error) {
	floors = map[string]uint64{}
	var p fastjson.Parser
	for sym, seq := range own {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		q, e, found, err := bucketQuote(gctx, kv, &p, sym)
		cancel()
		if errors.Is(err, errMalformedQuote) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		switch {
		case found && e > epoch && epoch != 0:
			return nil, true, nil
		case found && (e == epoch || e == 0) && q.Seq > seq:
			floors[sym] = q.Seq + TakeoverSkip
		}
	}
	return floors, false, nil
}

// reacquire takes the lease back once NATS is up, trying every 250 ms.
func (in *Ingest) reacquire(ctx context.Context) (created bool, err error) {
	for {
		if !in.down.Load() {
			created, err := in.Lease.Reacquire(ctx)
			if err == nil || errors.Is(err, ErrLeaseTaken) {
				return created, err
			}
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-in.reopened:
		case <-time.After(250 * time.Millisecond):
		}
	}
}
