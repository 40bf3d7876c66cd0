package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket holds the ingest lease: one key whose holder is the node that
// versions and publishes the stream.
const LeaseBucket = "ticker_lease"

const leaseKey = "ingest"

// Lease is one ingest node's claim to be the publisher. The bucket's TTL is
// the lease time: the holder renews the key every third of it, and when it
// stops (crash, partition), the key expires and a standby's Create
// succeeds. A holder that fails to renew before the TTL has passed must
// stop publishing: Hold returns an error then.
type Lease struct {
	kv  jetstream.KeyValue
	id  string
	ttl time.Duration
	rev uint64
}

// OpenLease opens (or creates) the lease bucket with the given lease time.
func OpenLease(ctx context.Context, nc *nats.Conn, id string, ttl time.Duration) (*Lease, error) {
	if ttl < 300*time.Millisecond {
		return nil, fmt.Errorf("lease time %v: want at least 300ms", ttl)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	replicas := Replicas(nc)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseBucket, Description: "ticker: which ingest node publishes",
		History: 1, TTL: ttl, Storage: jetstream.MemoryStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket, err)
	}
	return &Lease{kv: kv, id: id, ttl: ttl}, nil
}

// Acquire blocks until this node holds the lease, or ctx ends.
func (l *Lease) Acquire(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, l.ttl)
		rev, err := l.kv.Create(cctx, leaseKey, []byte(l.id))
		cancel()
		if err == nil {
			l.rev = rev
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(l.ttl/4, 250*time.Millisecond)): // a released lease is taken at once
		}
	}
}

// Holder returns the id of the node holding the lease, or "".
func (l *Lease) Holder(ctx context.Context) string {
	e, err := l.kv.Get(ctx, leaseKey)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// ErrLeaseLost is returned by Hold when the lease could not be renewed in
// time: another node may hold it now.
var ErrLeaseLost = errors.New("ingest lease lost")

// Hold renews the lease every third of its time until ctx ends (then it
// returns nil, leaving the key to expire) or a renewal fails for a whole
// lease time (then ErrLeaseLost).
func (l *Lease) Hold(ctx context.Context) error {
	renewed := time.Now()
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		uctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		rev, err := l.kv.Update(uctx, leaseKey, []byte(l.id), l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev, renewed = rev, time.Now()
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyExists) || time.Since(renewed) >= l.ttl*2/3:
			// someone else wrote the key, or it may have expired by now
			return fmt.Errorf("%w: %v", ErrLeaseLost, err)
		}
	}
}

// Release gives the lease up at once, if this node still holds it at the
// revision it last wrote, so that a standby takes over without waiting for
// the lease time. Call it only once this node has stopped publishing.
func (l *Lease) Release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
	l.rev = 0
	return err
}
