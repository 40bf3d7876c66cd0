// Package assemble builds one ticker node's parts — the ring, the bars,
// the fanout engine and the api server on a feed set — wired the one way
// main runs them, and hands them to internal/service to start and stop.
// main, tickertest and the tests that run a whole node build with it; a
// cluster node adds its parts through Options.Wire. (api's own tests cannot
// import it, since it imports api; they build the same parts by hand and
// run them with service.)
package assemble

import (
	"log/slog"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/service"
	"github.com/ticker-io/ticker/market"
)

// Options are a node's parts as its builder has them.
type Options struct {
	// Feeds push into the ring; nil: none (a node whose quotes come from
	// elsewhere: a stepped market, a cluster edge).
	Feeds *feeds.Set
	// Ring is the feeds' output and the engine's input; nil: a new one of
	// RingSize quotes (0: market.DefaultRingCapacity).
	Ring     *market.Ring
	RingSize int
	// Declared are the symbols known before any quote arrives; nil: the
	// feeds' own.
	Declared []string
	// Fanout configures the engine. The node's bars are tapped beside
	// Fanout.Tap (they aggregate what this engine versions).
	Fanout fanout.Config
	// API configures the server. API.Bars defaults to the node's bars.
	API api.Config
	// Status is what /readyz and the feed metrics report; nil: Feeds.
	Status api.FeedStatus
	Log    *slog.Logger // nil: slog.Default()
	// Wire, when set, runs once the engine is built and before the server
	// is (b.Server and b.Node are still nil): the parts that need the
	// engine or the bars (a cluster node's ingest and REST, step control)
	// set what the server takes in api and status.
	Wire func(b *Built, api *api.Config, status *api.FeedStatus) error
}

// Built is a node ready to start: Node starts and stops it.
type Built struct {
	Node   *service.Node
	Engine *fanout.Engine
	Server *api.Server
	Ring   *market.Ring
	Feeds  *feeds.Set
	Bars   *bars.Aggregator
}

// Build builds the node's parts; it starts nothing.
func Build(o Options) (*Built, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	set := o.Feeds
	if set == nil {
		var err error
		if set, err = feeds.NewSet(log); err != nil {
			return nil, err
		}
	}
	ring := o.Ring
	if ring == nil {
		size := o.RingSize
		if size == 0 {
			size = market.DefaultRingCapacity
		}
		if err := market.CheckRingCapacity(size); err != nil {
			return nil, err
		}
		ring = market.NewRing(size)
	}
	declared := o.Declared
	if declared == nil {
		declared = set.Symbols()
	}
	agg := bars.New()
	fcfg := o.Fanout
	if fcfg.Tap != nil {
		fcfg.Tap = fanout.Taps{fcfg.Tap, agg}
	} else {
		fcfg.Tap = agg
	}
	engine, err := fanout.New(fcfg, ring, declared, log)
	if err != nil {
		return nil, err
	}
	acfg := o.API
	if acfg.Bars == nil {
		acfg.Bars = agg
	}
	var status api.FeedStatus = set
	if o.Status != nil {
		status = o.Status
	}
	b := &Built{Engine: engine, Ring: ring, Feeds: set, Bars: agg}
	if o.Wire != nil {
		if err := o.Wire(b, &acfg, &status); err != nil {
			return nil, err
		}
	}
	if b.Server, err = api.New(acfg, engine, status, ring, log); err != nil {
		return nil, err
	}
	b.Node = &service.Node{Engine: engine, Feeds: set, Ring: ring, Server: b.Server, Log: log}
	return b, nil
}
