package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/market"
)

// openBucket creates (or opens, and updates) the bucket of latest quotes:
// one value per key, replicated (see Replicas), on storage.
func openBucket(ctx context.Context, nc *nats.Conn, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	replicas := Replicas(nc)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "ticker: the latest full quote of each symbol",
		History:     1,
		Storage:     storage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s (%d replicas, %s storage): %w", Bucket, replicas, storage, err)
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
// bucket, both with the stream's epoch (see AppendEpoch). It runs on the
// engine's goroutine and never blocks. While paused (the node is not sure
// to hold the lease: NATS was lost) it publishes nothing but keeps each
// symbol's latest quote; Resume writes them all to the bucket before the
// next publish. The ingest's connection has no reconnect buffer, so nothing
// written while disconnected goes out later, when another node may lead.
type Publisher struct {
	nc   *nats.Conn
	log  *slog.Logger
	subj map[string]string // symbol → quote subject
	keys map[string]string // symbol → bucket subject
	last map[string]market.Quote
	buf  []byte
	msg  []byte
	next time.Time

	epoch   atomic.Uint64
	paused  atomic.Bool
	rewrite atomic.Bool // write every symbol's latest quote before the next publish

	published atomic.Uint64
	failed    atomic.Uint64
}

// NewPublisher returns a Publisher on nc. The bucket must exist (OpenStore).
func NewPublisher(nc *nats.Conn, log *slog.Logger) *Publisher {
	return &Publisher{nc: nc, log: log, subj: map[string]string{}, keys: map[string]string{}, last: map[string]market.Quote{}}
}

// SetEpoch sets the stream's epoch, carried by everything published after.
func (p *Publisher) SetEpoch(epoch uint64) { p.epoch.Store(epoch) }

// Pause stops publishing (see Publisher).
func (p *Publisher) Pause() { p.paused.Store(true) }

// Resume publishes again. With rewrite, it starts with every symbol's
// latest quote to the bucket: what a bucket lost with a NATS server's
// memory held. A node taking the stream over from another resumes without:
// what it last published is older than the bucket, and its first versions
// carry every symbol anyway.
func (p *Publisher) Resume(rewrite bool) {
	if rewrite {
		p.rewrite.Store(true) // before paused is cleared: seen by the first publish
	}
	p.paused.Store(false)
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
	p.last[full.Symbol] = *full
	if p.paused.Load() {
		return
	}
	if p.rewrite.Swap(false) {
		p.putAll()
	}
	// the bucket first: a version whose delta went out is in the bucket
	// too, so a standby that takes over never issues its seq again
	p.put(full)
	p.msg = AppendEpoch(p.msg[:0], p.epoch.Load(), delta)
	if err := p.nc.Publish(subj, p.msg); err != nil {
		p.fail(err)
		return
	}
	p.published.Add(1)
	if !ok {
		// edges learn the symbol at once; announced after its bucket write,
		// so an edge that subscribed to announcements too late lists it
		p.nc.Publish(SymbolsSubject, []byte(full.Symbol))
	}
}

func (p *Publisher) put(full *market.Quote) {
	p.buf = full.AppendJSON(p.buf[:0])
	p.msg = AppendEpoch(p.msg[:0], p.epoch.Load(), p.buf)
	if err := p.nc.Publish(p.keys[full.Symbol], p.msg); err != nil {
		p.fail(err)
	}
}

func (p *Publisher) putAll() {
	for _, q := range p.last {
		p.put(&q)
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
	if p.paused.Load() {
		return
	}
	if p.rewrite.Swap(false) {
		p.next = time.Time{}
	}
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(refreshEvery)
	p.putAll()
}

// Published returns how many versions were published.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Failed returns how many publishes failed.
func (p *Publisher) Failed() uint64 { return p.failed.Load() }
