package fanout

import (
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/ticker-io/ticker/internal/field"
	"github.com/ticker-io/ticker/market"
)

// Config tunes an Engine. The zero value of a field means its default.
type Config struct {
	Window              time.Duration // coalescing window, 1ms..10s; default 50ms
	MaxSymbolsPerClient int           // explicit subscriptions per client; default 1000
	QueueBytes          int           // per-client outbound queue limit; default 1 MiB
	StuckTimeout        time.Duration // a client that takes nothing for this long is closed 1008 (here: owed a resync and its writer took nothing; api: its peer acknowledged nothing); default 10s
	DeflateLevel        int           // 1 (fastest) .. 9 (smallest); default 1
	// CompressWorkers is how many compressors a window's distinct updates
	// are shared among (parallel.go), 1 to 256; zero: one per core Go runs
	// on (GOMAXPROCS) but one, which the writers keep, the default (so 1
	// on 2 cores). 1 compresses on the engine's goroutine alone.
	CompressWorkers int

	// Tap, when set, is handed every version this engine publishes: an
	// ingest node passes them on to the cluster. See Tap.
	Tap Tap
	// Replica makes the engine serve versions published elsewhere (given
	// to PushVersion) instead of versioning the ring's quotes itself: an
	// edge node, or an ingest standby until Promote.
	Replica bool
	// FollowAll, with Replica, keeps every symbol's state whoever
	// subscribes: the replica of an ingest standby, whose receiver takes the
	// whole stream (it must hold it to take the stream over), so a symbol's
	// versions keep coming after its last subscriber leaves. Without it, a
	// replica (an edge's) forgets such a symbol, whose versions stop.
	FollowAll bool
	// Interest, when set, is told on the engine's goroutine when a symbol
	// gains its first subscriber or loses its last ("*": the first or last
	// wildcard subscriber). It must not block.
	Interest func(symbol string, on bool)
	// Epoch names the stream this engine versions (its start, in Unix
	// milliseconds): every snapshot carries it, so that a client can tell a
	// new stream, whose seqs start again at 1, from a gap. Zero: none. A
	// replica takes its epoch from its versions (Version.Epoch), a promoted
	// one from Promote.
	Epoch uint64
	// Clock ends the windows and gives messages their time; nil: the
	// system clock, a window ticker. See Clock and ManualClock.
	Clock Clock
}

// Tap receives the versions an engine publishes, on the engine's
// goroutine, in seq order per symbol. It must not block.
type Tap interface {
	// Version is one published version: the Delta's JSON (valid until the
	// call returns) and the symbol's full quote at that version.
	Version(delta []byte, full *market.Quote)
	// Window ends each window's publishing.
	Window(now time.Time)
}

// DefaultConfig returns the defaults of every tunable field (ticker's
// flags take theirs from it).
func DefaultConfig() Config {
	return Config{
		Window:              50 * time.Millisecond,
		MaxSymbolsPerClient: 1000,
		QueueBytes:          1 << 20,
		StuckTimeout:        10 * time.Second,
		DeflateLevel:        flate.BestSpeed,
	}
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.MaxSymbolsPerClient == 0 {
		c.MaxSymbolsPerClient = d.MaxSymbolsPerClient
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.StuckTimeout == 0 {
		c.StuckTimeout = d.StuckTimeout
	}
	if c.DeflateLevel == 0 {
		c.DeflateLevel = d.DeflateLevel
	}
	return c
}

// Validate returns a *field.Error naming the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.Window < time.Millisecond || c.Window > 10*time.Second:
		return field.New("Window", c.Window, "1ms to 10s")
	case c.MaxSymbolsPerClient < 1:
		return field.New("MaxSymbolsPerClient", c.MaxSymbolsPerClient, "at least 1")
	case c.QueueBytes < 1024:
		return field.New("QueueBytes", c.QueueBytes, "at least 1024")
	case c.StuckTimeout < c.Window:
		return field.New("StuckTimeout", c.StuckTimeout, "at least the coalescing window")
	case c.DeflateLevel < flate.BestSpeed || c.DeflateLevel > flate.BestCompression:
		return field.New("DeflateLevel", c.DeflateLevel, "1 to 9")
	case c.CompressWorkers < 0 || c.CompressWorkers > 256:
		return field.New("CompressWorkers", c.CompressWorkers, "0 (one per core but one) to 256")
	case c.FollowAll && !c.Replica:
		return field.New("FollowAll", c.FollowAll, "only with Replica")
	}
	return nil
}

// Taps hands every version to each of its Taps in turn (an ingest node's
// cluster publisher and its bar aggregator).
type Taps []Tap

// Version implements Tap.
func (ts Taps) Version(delta []byte, full *market.Quote) {
	for _, t := range ts {
		t.Version(delta, full)
	}
}

// Window implements Tap.
func (ts Taps) Window(now time.Time) {
	for _, t := range ts {
		t.Window(now)
	}
}
