// Package service starts and stops one ticker node — feeds → ring →
// fanout engine → api server, and a cluster node's parts beside them — in
// the one order that loses nothing: main and the tests that run a node use
// it, so that the order is written once.
//
// Start starts every goroutine of the node; Stop ends them and returns
// when they have ended: the server's Shutdown first (clients get 1001
// while quotes still flow), then the cluster parts, the feeds, the ring,
// and the engine last.
package service

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

// The parts a Node runs, by what it asks of them: a *fanout.Engine, a
// *feeds.Set and an *api.Server. Asking no more than this keeps service
// free of api, so that api's own tests run their nodes with it too.
type (
	// Engine is the fanout engine: Run until its context ends, Done once
	// it has returned.
	Engine interface {
		Run(ctx context.Context) error
		Done() <-chan struct{}
	}
	// Feeds push into the ring from Start until their context ends; Wait
	// returns once every feed has returned.
	Feeds interface {
		Start(ctx context.Context, ring feeds.Pusher)
		Wait()
	}
	// Server serves clients on a listener until Shutdown.
	Server interface {
		Serve(ln net.Listener) error
		Shutdown(ctx context.Context) error
	}
)

// Node is one node's parts, built by the caller, and what runs beside
// them. Set the fields, then call Start once and Stop once.
type Node struct {
	Engine Engine
	Feeds  Feeds
	Ring   *market.Ring // the feeds' output and the engine's input
	Server Server
	Log    *slog.Logger // nil: slog.Default()

	// DeferFeeds leaves the feeds to StartFeeds (an ingest node starts them
	// when it first leads); otherwise Start starts them.
	DeferFeeds bool
	// Background runs from Start until Stop, which ends its context and
	// waits for it right after the server's Shutdown (a cluster node's
	// store).
	Background []func(ctx context.Context)
	// Role, when set, runs from Start until Stop (a cluster node's
	// receiver or ingest loop); its return is reported by RoleEnded. Stop
	// ends it with Background and waits up to RoleWait for it, after the
	// feeds and before the engine (an ingest leader publishes until then).
	Role     func(ctx context.Context) error
	RoleWait time.Duration // default 5s
	// AfterEngine runs at the end of Stop, when nothing is published any
	// more (an ingest node releases its lease).
	AfterEngine func()
	// ShutdownTimeout bounds the server's Shutdown; default 10s.
	ShutdownTimeout time.Duration

	engineCtx  context.Context
	stopEngine context.CancelFunc
	feedCtx    context.Context
	stopFeeds  context.CancelFunc
	stopRole   context.CancelFunc
	background sync.WaitGroup
	roleDone   chan struct{}
	roleErr    error
	served     chan struct{}
	serveErr   error
}

// Start starts the engine, the feeds (unless DeferFeeds), Background, Role
// and the server on ln.
func (n *Node) Start(ln net.Listener) {
	if n.Log == nil {
		n.Log = slog.Default()
	}
	n.engineCtx, n.stopEngine = context.WithCancel(context.Background())
	go func() {
		if err := n.Engine.Run(n.engineCtx); err != nil {
			n.Log.Error("engine stopped", "err", err)
		}
	}()
	n.feedCtx, n.stopFeeds = context.WithCancel(context.Background())
	if !n.DeferFeeds {
		n.StartFeeds()
	}
	var roleCtx context.Context
	roleCtx, n.stopRole = context.WithCancel(context.Background())
	for _, run := range n.Background {
		n.background.Add(1)
		go func() { defer n.background.Done(); run(roleCtx) }()
	}
	n.roleDone = make(chan struct{})
	if n.Role != nil {
		go func() { defer close(n.roleDone); n.roleErr = n.Role(roleCtx) }()
	}
	n.served = make(chan struct{})
	go func() { defer close(n.served); n.serveErr = n.Server.Serve(ln) }()
}

// StartFeeds starts the feeds into the ring; Stop stops them. Call it
// once, after Start.
func (n *Node) StartFeeds() { n.Feeds.Start(n.feedCtx, n.Ring) }

// Served is closed when the server stops serving; ServeErr then says why.
func (n *Node) Served() <-chan struct{} { return n.served }

// ServeErr is the server's Serve error, once Served is closed.
func (n *Node) ServeErr() error { return n.serveErr }

// RoleEnded is closed when Role returns (never, without a Role); RoleErr
// then says why.
func (n *Node) RoleEnded() <-chan struct{} { return n.roleDone }

// RoleErr is Role's return, once RoleEnded is closed.
func (n *Node) RoleErr() error { return n.roleErr }

// Stop stops the node in order: the server's Shutdown (every client gets
// 1001), Background and Role, the feeds, the ring, then — after Role has
// returned, or RoleWait — the engine, and AfterEngine. It returns the
// Shutdown's error, once every goroutine Start started has ended but Role
// (which may outlive RoleWait).
func (n *Node) Stop() error {
	timeout := n.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := n.Server.Shutdown(ctx)
	select {
	case <-n.served:
	case <-time.After(time.Second):
		n.Log.Warn("the server's Serve has not returned a second after Shutdown")
	}
	n.stopRole()
	n.background.Wait()
	n.stopFeeds()
	n.Ring.Close()
	n.Feeds.Wait()
	if n.Role != nil {
		wait := n.RoleWait
		if wait == 0 {
			wait = 5 * time.Second
		}
		select {
		case <-n.roleDone:
		case <-time.After(wait):
			n.Log.Warn("stopping the engine before the node's role ended", "waited", wait)
		}
	}
	n.stopEngine()
	<-n.Engine.Done()
	if n.AfterEngine != nil {
		n.AfterEngine()
	}
	return err
}
