package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticker/market"
)

// OpenBucket creates (or opens, and updates) the bucket of latest quotes:
// one value per key, in memory, replicated (see Replicas).
func OpenBucket(ctx context.Context, nc *nats.Conn) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	replicas := Replicas(nc)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "ticker: the latest full quote of each symbol",
		History:     1,
		Storage:     jetstream.MemoryStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s (%d replicas): %w", Bucket, replicas, err)
	}
	return kv, nil
}

// Replicas is how many copies ticker's buckets keep: 3 on a NATS cluster,
// so that losing one server loses neither the quotes nor the lease, and 1
// on a single server. A cluster of fewer than three JetStream servers
// cannot hold them; run three.
func Replicas(nc *nats.Conn) int {
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	return 3
}

// refreshEvery is how often a Publisher writes every symbol's latest quote
// to the bucket again, so that a write lost while the cluster was
// unreachable is repaired.
const refreshEvery = 5 * time.Second

// Publisher is the ingest side: a fanout.Tap that publishes every version
// on its symbol's subject and writes the symbol's full quote to the
// bucket. It runs on the engine's goroutine and never blocks: nats.go
// buffers publishes (and, while reconnecting, up to its reconnect buffer;
// past that a publish fails and is counted).
type Publisher struct {
	nc   *nats.Conn
	log  *slog.Logger
	subj map[string]string // symbol → quote subject
	keys map[string]string // symbol → bucket subject
	last map[string]market.Quote
	buf  []byte
	next time.Time

	published atomic.Uint64
	failed    atomic.Uint64
}

// NewPublisher returns a Publisher on nc. The bucket must exist (OpenBucket).
func NewPublisher(nc *nats.Conn, log *slog.Logger) *Publisher {
	return &Publisher{nc: nc, log: log, subj: map[string]string{}, keys: map[string]string{}, last: map[string]market.Quote{}}
}

// Version publishes one version (fanout.Tap).
func (p *Publisher) Version(delta []byte, full *market.Quote) {
	subj, ok := p.subj[full.Symbol]
	if !ok {
		tok := Token(full.Symbol)
		subj = SubjectPrefix + tok
		p.subj[full.Symbol] = subj
		p.keys[full.Symbol] = "$KV." + Bucket + "." + tok
	}
	// the bucket first: a version whose delta went out is in the bucket
	// too, so a standby that takes over never issues its seq again
	p.put(full)
	if err := p.nc.Publish(subj, delta); err != nil {
		p.fail(err)
		return
	}
	p.published.Add(1)
	p.last[full.Symbol] = *full
	if !ok {
		// edges learn the symbol at once; announced after its bucket write,
		// so an edge that subscribed to announcements too late lists it
		p.nc.Publish(SymbolsSubject, []byte(full.Symbol))
	}
}

func (p *Publisher) put(full *market.Quote) {
	p.buf = full.AppendJSON(p.buf[:0])
	if err := p.nc.Publish(p.keys[full.Symbol], p.buf); err != nil {
		p.fail(err)
	}
}

func (p *Publisher) fail(err error) {
	if n := p.failed.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th … failure
		p.log.Warn("cluster: publish failed", "err", err, "failures", n)
	}
}

// Window ends a window (fanout.Tap); every refreshEvery it writes every
// symbol's latest quote to the bucket again. Writes come from this one
// goroutine on one connection, so the bucket never goes back a version.
func (p *Publisher) Window(now time.Time) {
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(refreshEvery)
	for _, q := range p.last {
		p.put(&q)
	}
}

// Published returns how many versions were published.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Failed returns how many publishes failed.
func (p *Publisher) Failed() uint64 { return p.failed.Load() }
