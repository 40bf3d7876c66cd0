package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	kv    jetstream.KeyValue
	id    string
	ttl   time.Duration
	rev   uint64
	clean bool // the last Acquire took a lease its holder had released
}

// releasedPrefix starts the value a holder leaves when it releases the
// lease: the next holder knows the hand-over was clean (the old holder
// stopped publishing first) rather than an expiry.
const releasedPrefix = "released "

// openLeaseBucket creates (or opens, and updates) the lease bucket, whose
// TTL is the lease time.
func openLeaseBucket(ctx context.Context, nc *nats.Conn, ttl time.Duration, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseBucket, Description: "ticker: which ingest node publishes",
		History: 1, TTL: ttl, Storage: storage, Replicas: Replicas(nc),
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket, err)
	}
	return kv, nil
}

// NewLease returns node id's lease in kv, the lease bucket of a Store
// opened with LeaseTime ttl.
func NewLease(kv jetstream.KeyValue, id string, ttl time.Duration) (*Lease, error) {
	if err := CheckLeaseTime(ttl); err != nil {
		return nil, err
	}
	if kv == nil {
		return nil, errors.New("no lease bucket: open the store with a lease time")
	}
	return &Lease{kv: kv, id: id, ttl: ttl}, nil
}

// Time is the lease time.
func (l *Lease) Time() time.Duration { return l.ttl }

// Acquire blocks until this node holds the lease, or ctx ends. It tries
// only while may (nil: always) says so, every 250 ms at most.
func (l *Lease) Acquire(ctx context.Context, may func() bool) error {
	for {
		if may == nil || may() {
			cctx, cancel := context.WithTimeout(ctx, l.ttl)
			err := l.try(cctx)
			cancel()
			if err == nil {
				return nil
			}
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

// try takes a released lease, or creates a missing one.
func (l *Lease) try(ctx context.Context) error {
	e, err := l.kv.Get(ctx, leaseKey)
	if err == nil && strings.HasPrefix(string(e.Value()), releasedPrefix) {
		rev, err := l.kv.Update(ctx, leaseKey, []byte(l.id), e.Revision())
		if err != nil {
			return err
		}
		l.rev, l.clean = rev, true
		return nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.id))
	if err != nil {
		return err
	}
	l.rev, l.clean = rev, false
	return nil
}

// Clean reports whether the lease Acquire took had been released by its
// holder, which had stopped publishing first; false means it had expired
// (a crash, a partition) or was lost with its bucket, and the old holder's
// last versions may have reached some nodes only.
func (l *Lease) Clean() bool { return l.clean }

// ErrLeaseTaken is returned by Reacquire when another node holds the lease.
var ErrLeaseTaken = errors.New("another ingest node holds the lease")

// Reacquire takes the lease back after this node lost touch with NATS: it
// renews the key if it still holds it (a file-backed bucket kept it),
// adopts it if the key names this node (a renewal whose answer was lost),
// and creates it if it is gone (expired, or lost with a memory-backed
// bucket); created says so: another node may have led meanwhile.
// ErrLeaseTaken means another node leads; any other error, that JetStream
// did not answer (try again).
func (l *Lease) Reacquire(ctx context.Context) (created bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, l.ttl/2)
	defer cancel()
	if l.rev != 0 {
		if rev, err := l.kv.Update(rctx, leaseKey, []byte(l.id), l.rev); err == nil {
			l.rev = rev
			return false, nil
		}
	}
	e, err := l.kv.Get(rctx, leaseKey)
	switch {
	case err == nil && string(e.Value()) == releasedPrefix+l.id:
		return false, fmt.Errorf("%w: released by this node", ErrLeaseTaken)
	case err == nil && string(e.Value()) == l.id:
		rev, err := l.kv.Update(rctx, leaseKey, []byte(l.id), e.Revision())
		if err != nil {
			return false, err
		}
		l.rev = rev
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: %s", ErrLeaseTaken, e.Value())
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return false, err
	}
	rev, err := l.kv.Create(rctx, leaseKey, []byte(l.id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("%w: created by another node just now", ErrLeaseTaken)
	}
	if err != nil {
		return false, err
	}
	l.rev = rev
	return true, nil
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
// the lease time: it writes "released <id>", which a standby takes (and
// knows the hand-over clean). Call it only once this node has stopped
// publishing.
func (l *Lease) Release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	_, err := l.kv.Update(ctx, leaseKey, []byte(releasedPrefix+l.id), l.rev)
	l.rev = 0
	return err
}
