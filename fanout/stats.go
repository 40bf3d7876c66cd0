package fanout

import (
	"sync/atomic"

	"github.com/ticker-io/ticker/stats"
)

// Stats are the engine's counters, safe to read from any goroutine.
type Stats struct {
	QuotesIn        atomic.Uint64   // feed updates popped from the ring
	QuotesRejected  atomic.Uint64   // updates with an invalid symbol
	Versions        atomic.Uint64   // symbol versions published (seq increments)
	UpdatesQueued   atomic.Uint64   // update messages queued to clients
	SnapshotsQueued atomic.Uint64   // subscribe snapshots queued
	Resyncs         atomic.Uint64   // resync snapshots queued
	Epochs          atomic.Uint64   // new stream epochs a replica went over to
	Drops           atomic.Uint64   // data frames dropped from overflowing queues
	SlowClosed      atomic.Uint64   // clients closed 1008 as slow consumers
	FramesBuilt     atomic.Uint64   // distinct messages encoded as plain JSON (assembled ones excepted)
	FramesShared    atomic.Uint64   // times an already built update was reused for another client
	FramesDeflated  atomic.Uint64   // distinct messages compressed whole
	FramesAssembled atomic.Uint64   // distinct updates spliced from their window's coded entries (splice.go)
	DeflateIn       atomic.Uint64   // payload bytes given to the compressor
	DeflateOut      atomic.Uint64   // wire bytes it produced (header included)
	Clients         atomic.Int64    // registered clients
	Subscriptions   atomic.Int64    // explicit symbol subscriptions plus wildcards
	Flush           stats.Histogram // time to publish and fan out one window
	Interval        stats.Histogram // time from one window's flush to the next: the window a client really gets
}

func (s *Stats) init() {
	s.Flush.Bounds = flushBounds
	s.Interval.Bounds = intervalBounds
}

// intervalBounds: the window (50 ms by default) and what an overloaded
// engine stretches it to.
var intervalBounds = []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2}

var flushBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
