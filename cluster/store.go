package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/internal/field"
)

// ParseStorage reads --nats-storage: "file" (the buckets outlive a NATS
// server's restart) or "memory" (they do not; faster on slow disks).
func ParseStorage(s string) (jetstream.StorageType, error) {
	switch s {
	case "file":
		return jetstream.FileStorage, nil
	case "memory":
		return jetstream.MemoryStorage, nil
	}
	return 0, fmt.Errorf("%q: want file or memory", s)
}

// The ingest lease's time: a standby takes over this long after the
// leader stops renewing. Zero in a StoreConfig means no lease (an edge).
const (
	DefaultLeaseTime = 3 * time.Second
	MinLeaseTime     = 300 * time.Millisecond
	MaxLeaseTime     = time.Minute
)

// CheckLeaseTime reports a lease time out of range as a *field.Error
// naming "LeaseTime".
func CheckLeaseTime(d time.Duration) error {
	if d < MinLeaseTime || d > MaxLeaseTime {
		return field.New("LeaseTime", d, fmt.Sprintf("%v to %v", MinLeaseTime, MaxLeaseTime))
	}
	return nil
}

// Validate reports a field out of range as a *field.Error.
func (c StoreConfig) Validate() error {
	if c.LeaseTime != 0 {
		return CheckLeaseTime(c.LeaseTime)
	}
	return nil
}

// StoreConfig says which buckets a Store keeps and how.
type StoreConfig struct {
	Storage jetstream.StorageType // FileStorage (the zero value) or MemoryStorage
	// LeaseTime, when not zero, makes the Store keep the lease bucket too
	// (an ingest node), with this TTL.
	LeaseTime time.Duration
}

// Store keeps a node's buckets open on its NATS connection. It opens them
// at OpenStore and again after every reconnect: a NATS server restarted
// with memory storage has lost them, and every node, not only the first to
// start, must be able to create them again. It owns the connection's
// disconnect and reconnect handlers and tells the parts that registered
// (OnDisconnect, OnReopen).
//
// Goroutines: Run owns one, which reopens the buckets after a reconnect; it
// returns when its context ends.
type Store struct {
	nc     *nats.Conn
	cfg    StoreConfig
	log    *slog.Logger
	quotes jetstream.KeyValue
	lease  jetstream.KeyValue
	kick   chan struct{} // cap 1: reconnected

	mu     sync.Mutex
	onDown []func()
	onUp   []func()
}

// OpenStore opens (or creates) the buckets once; call Run to keep them.
func OpenStore(ctx context.Context, nc *nats.Conn, cfg StoreConfig, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{nc: nc, cfg: cfg, log: log, kick: make(chan struct{}, 1)}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		if err != nil {
			log.Warn("NATS disconnected", "err", err)
		}
		s.mu.Lock()
		fs := s.onDown
		s.mu.Unlock()
		for _, f := range fs {
			f()
		}
	})
	nc.SetReconnectHandler(func(*nats.Conn) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	})
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	quotes, err := openBucket(ctx, s.nc, s.cfg.Storage)
	if err != nil {
		return err
	}
	// the lease bucket after the quotes: a node that finds the lease bucket
	// can write the quotes too
	if s.cfg.LeaseTime > 0 {
		lease, err := openLeaseBucket(ctx, s.nc, s.cfg.LeaseTime, s.cfg.Storage)
		if err != nil {
			return err
		}
		if s.lease == nil {
			s.lease = lease
		}
	}
	if s.quotes == nil {
		s.quotes = readFromLeader(quotes, s.nc, Bucket) // leaderread.go
	}
	return nil
}

// Quotes is the bucket of latest quotes. The handle stays valid across
// reopenings: it names the bucket, not one incarnation of it.
func (s *Store) Quotes() jetstream.KeyValue { return s.quotes }

// LeaseBucket is the lease bucket (nil without StoreConfig.LeaseTime).
func (s *Store) LeaseBucket() jetstream.KeyValue { return s.lease }

// OnDisconnect registers f, called on NATS's goroutine when the connection
// is lost; it must not block. Register before Run.
func (s *Store) OnDisconnect(f func()) {
	s.mu.Lock()
	s.onDown = append(s.onDown, f)
	s.mu.Unlock()
}

// OnReopen registers f, called on Run's goroutine once the connection is
// back and the buckets are open again; it must not block. Register before
// Run.
func (s *Store) OnReopen(f func()) {
	s.mu.Lock()
	s.onUp = append(s.onUp, f)
	s.mu.Unlock()
}

// Run reopens the buckets after each reconnect, trying every 250 ms until
// JetStream answers, then calls the OnReopen functions; until ctx ends.
func (s *Store) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		for tries := 1; ; tries++ {
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := s.open(octx)
			cancel()
			if err == nil {
				s.log.Info("cluster: buckets open again after a NATS reconnect", "tries", tries)
				break
			}
			if tries == 1 || tries%20 == 0 {
				s.log.Warn("cluster: reopening the buckets after a NATS reconnect", "err", err, "tries", tries)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
		s.mu.Lock()
		fs := s.onUp
		s.mu.Unlock()
		for _, f := range fs {
			f()
		}
	}
}
