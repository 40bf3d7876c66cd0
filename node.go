package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/cluster"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/assemble"
)

// clusterNode is what --role ingest or edge adds to a process: the NATS
// connection and the cluster parts its engine is wired to.
type clusterNode struct {
	nc     *nats.Conn
	store  *cluster.Store
	kv     jetstream.KeyValue // the bucket of latest quotes
	pub    *cluster.Publisher
	recv   *cluster.Receiver
	ingest *cluster.Ingest
	lease  *cluster.Lease
	bars   *nats.Subscription // an ingest node's answers to the edges' bar requests
	failed bool               // wire failed on NATS
	log    *slog.Logger
}

// configure sets what the engine and the server of a cluster node take
// before they are built: a replica engine (an edge always, an ingest node
// until it leads) that tells the receiver which symbols it wants, an
// ingest node's publisher tapped on it, and the bars of the ingest leader,
// whichever node it is.
func (n *clusterNode) configure(cfg *config) {
	cfg.Fanout.Replica = true
	n.recv = cluster.NewReceiver(n.nc, n.kv, n.log)
	cfg.Fanout.Interest = n.recv.Interest
	if cfg.Role == "ingest" {
		cfg.Fanout.FollowAll = true // its receiver takes the whole stream (wire)
		n.pub = cluster.NewPublisher(n.nc, n.log)
		cfg.Fanout.Tap = n.pub // the node's bars are tapped beside it
	}
	cfg.API.Bars = cluster.NewBarClient(n.nc)
}

// wire adds the cluster's parts to a node being built (assemble's Wire):
// its readiness, an ingest node's lease-driven publishing and its bars
// served to the edges, the cluster's metrics, and an edge's REST for the
// symbols no client of its own wants.
func (n *clusterNode) wire(role string, set *feeds.Set, b *assemble.Built, acfg *api.Config, status *api.FeedStatus) error {
	*status = edgeStatus{n.recv}
	if role == "ingest" {
		n.recv.ReceiveAll()
		n.ingest = &cluster.Ingest{Engine: b.Engine, Receiver: n.recv, Lease: n.lease, Publisher: n.pub, Log: n.log}
		*status = ingestStatus{set: set, recv: n.recv, ingest: n.ingest}
		n.store.OnDisconnect(n.ingest.Disconnected)
		n.store.OnReopen(n.ingest.Reopened)
		sub, err := cluster.ServeBars(n.nc, b.Bars, n.ingest.Leader)
		if err != nil {
			n.failed = true
			return err
		}
		n.bars = sub
	}
	n.store.OnReopen(n.recv.Reopened)
	acfg.Collectors = cluster.Collectors(role, n.pub, n.recv, n.ingest)
	if role == "edge" {
		acfg.Quotes = cluster.NewEdgeQuotes(b.Engine, n.kv) // REST for symbols no client here wants
	}
	return nil
}

// close ends what dialCluster and wire opened, once the node has stopped.
func (n *clusterNode) close() {
	if n.bars != nil {
		n.bars.Unsubscribe()
	}
	n.nc.Close()
}

// errStopped is dialCluster's answer when ctx ended (SIGINT, SIGTERM)
// before NATS answered.
var errStopped = errors.New("stopped before NATS answered")

// dialWait is how long dialCluster retries before it gives up.
const dialWait = 30 * time.Second

// dialCluster connects to NATS and opens the bucket of latest quotes (and,
// for an ingest node, the lease), retrying for up to dialWait while the
// cluster starts or elects its JetStream leaders, or until ctx ends
// (errStopped). The node's Store opens them again after every reconnect.
func dialCluster(ctx context.Context, cfg config, log *slog.Logger) (*clusterNode, error) {
	urls := redact(cfg.NATS) // for messages: credentials stay out of logs
	deadline := time.Now().Add(dialWait)
	pause := func() bool { // false: ctx ended
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
			return true
		}
	}
	var nc *nats.Conn
	var err error
	opts := []nats.Option{nats.Name("ticker " + cfg.Role + " " + cfg.NodeID),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.Timeout(2 * time.Second)}
	if cfg.Role == "ingest" {
		// nothing written while disconnected goes out on reconnect, when
		// another node may lead: a publish then fails, and is counted
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	storeCfg := cluster.StoreConfig{Storage: cfg.Storage}
	if cfg.Role == "ingest" {
		storeCfg.LeaseTime = cfg.LeaseTime
	}
	for {
		nc, err = nats.Connect(cfg.NATS, opts...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("--nats %s: %v (gave up after %v)", urls, err, dialWait)
		}
		log.Warn("NATS not reachable yet", "url", urls, "err", err)
		if !pause() {
			return nil, errStopped
		}
	}
	n := &clusterNode{nc: nc, log: log}
	for {
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		n.store, err = cluster.OpenStore(octx, nc, storeCfg, log)
		if err == nil && cfg.Role == "ingest" {
			n.lease, err = cluster.NewLease(n.store.LeaseBucket(), cfg.NodeID, cfg.LeaseTime)
		}
		cancel()
		if err == nil {
			n.kv = n.store.Quotes()
			return n, nil
		}
		if time.Now().After(deadline) {
			nc.Close()
			return nil, fmt.Errorf("NATS JetStream at %s: %v (gave up after %v)", urls, err, dialWait)
		}
		log.Warn("JetStream not ready yet", "err", err)
		if !pause() {
			nc.Close()
			return nil, errStopped
		}
	}
}

// ingestStatus is the readiness of an ingest node: its feeds' once it
// leads, the stream's while it stands by (it serves clients as an edge).
type ingestStatus struct {
	set    *feeds.Set
	recv   *cluster.Receiver
	ingest *cluster.Ingest
}

func (s ingestStatus) Ready() bool {
	if s.ingest.Leader() {
		return s.set.Ready()
	}
	return s.recv.Ready()
}

func (s ingestStatus) Statuses() []feeds.Status { return s.set.Statuses() }

// edgeStatus is the readiness of an edge node, its receiver's; it runs no
// feeds, so it has none to report.
type edgeStatus struct{ recv *cluster.Receiver }

func (s edgeStatus) Ready() bool              { return s.recv.Ready() }
func (s edgeStatus) Statuses() []feeds.Status { return nil }
