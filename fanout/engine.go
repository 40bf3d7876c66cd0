package fanout

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/splice"
)

// ErrStopped is returned by the command methods once Run has returned.
var ErrStopped = errors.New("fanout engine stopped")

type symbol struct {
	name   string
	id     int
	state  *market.State
	subs   map[*Client]struct{} // explicit subscribers at the window's cadence (a conflated one keeps its own)
	dirty  bool
	delta  []byte           // this window's encoded delta
	fields market.FieldSet  // the fields it carries
	marks  market.Staleness // and whether it turned the symbol stale or fresh (Unstated: neither)
	groups []*cadence       // conflated cadences with explicit subscribers of the symbol

	queue   []Version // a replica's versions waiting for a window, in seq order
	fresh   bool      // restored from a full quote with no earlier state
	renewed bool      // state dropped for a new epoch: its next full quote is a resync
	full    bool      // publish every field in the next version (after Promote)
	jump    bool      // and its seq jumps past what subscribers had: it goes to them as a snapshot

	piece splice.Piece // this window's delta in the engine's splice window, when it is sealed
}

// Engine coalesces quotes per window and fans the resulting messages out to
// clients. See the package documentation.
type Engine struct {
	cfg  Config
	ring *market.Ring
	log  *slog.Logger
	cmds chan command
	vers chan Version
	done chan struct{}

	// owned by Run's goroutine
	src       source    // own versions or a replica's (source.go); Promote and Demote swap it
	held      bool      // Hold, read once per window
	lastFlush time.Time // when the last window's flush began (Stats.Interval)
	symbols   map[string]*symbol
	byID      []*symbol
	repaired  []*symbol // a replica's symbols restored from a full quote this window
	again     []*symbol // scratch: symbols with versions left for the next window
	dirty     []*symbol
	changed   []*symbol
	touched   []*Client
	clients   map[*Client]struct{}
	wildcards map[*Client]struct{}
	resyncing map[*Client]struct{}
	epoch     uint64 // window counter
	stream    uint64 // the stream's epoch (Config.Epoch)
	newStream bool   // the stream's epoch changed: every client gets a snapshot at the next flush
	comp      *compressor
	comps     []*compressor     // the other compressors a flush's workers use (parallel.go); none with one core
	jobs      []*Frame          // this window's frames waiting for compressDeferred
	deferred  []deferredOffer   // and the updates owed to deflate clients, in order
	frames    map[uint64]*Frame // this window's updates by the hash of their symbols, chained by next
	seed      maphash.Seed
	cadences  cadences // the conflated cadences in use (cadence.go)

	filtered filters // restricted wildcards' symbols of a window, by Restriction key (restrict.go)

	spl spliceWindow // this window's deltas, for splicing its updates (splice.go)

	holding atomic.Bool // Hold

	// published view, read by other goroutines
	pubMu sync.RWMutex
	pub   map[string]market.Quote
	names []string

	stats Stats
}

// New returns an engine reading from ring, with the declared symbols known
// (subscribable) before any quote arrives.
func New(cfg Config, ring *market.Ring, declared []string, log *slog.Logger) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		cfg: cfg, ring: ring, log: log,
		cmds:      make(chan command, 1024),
		done:      make(chan struct{}),
		src:       own{},
		symbols:   map[string]*symbol{},
		clients:   map[*Client]struct{}{},
		wildcards: map[*Client]struct{}{},
		resyncing: map[*Client]struct{}{},
		comp:      newCompressor(cfg.DeflateLevel),
		frames:    map[uint64]*Frame{},
		seed:      maphash.MakeSeed(),
		pub:       map[string]market.Quote{},
		stream:    cfg.Epoch,
	}
	if cfg.Replica {
		e.src = replicaOf(cfg)
		// only a replica takes versions; elsewhere the nil channel never fires
		e.vers = make(chan Version, 4096)
	}
	for range compressWorkers(cfg.CompressWorkers) - 1 {
		e.comps = append(e.comps, newCompressor(cfg.DeflateLevel))
	}
	e.stats.init()
	for _, name := range declared {
		if err := market.ValidateSymbol(name); err != nil {
			return nil, err
		}
		e.symbolFor(name)
	}
	return e, nil
}

// NewClient returns a client with the engine's queue limit (QueueBytes).
// deflate says whether the connection negotiated permessage-deflate.
func (e *Engine) NewClient(deflate bool) *Client { return NewClient(deflate, e.cfg.QueueBytes) }

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Stats returns the engine's live counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// Done is closed when Run has returned.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Run consumes the ring and flushes every window until ctx ends. It must be
// called once; it returns nil after ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.done)
	tick := e.cfg.clock().NewTicker(e.cfg.Window)
	defer tick.Stop()
	const batch = 4096
	for {
		n := e.drain(batch)
		// Commands first, all that wait: with a flush slower than the window
		// the tick is always ready, and a select between it and the commands
		// would take one command per flush (connections leaving by the
		// thousand would wait minutes, and so would subscribes).
		// versions before commands: a symbol declared before a subscribe
		// to it was sent must be known when the subscribe is handled
		e.takeVersions(batch)
		e.handlePending(maxCommandsPerTurn)
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C():
			e.drain(e.ring.Cap())
			e.flush(now)
			tick.Flushed()
			continue
		default:
		}
		if n == batch || e.ring.Arm() {
			e.ring.Disarm()
			continue
		}
		select {
		case <-ctx.Done():
			e.ring.Disarm()
			return nil
		case now := <-tick.C():
			e.ring.Disarm()
			e.drain(e.ring.Cap())
			e.flush(now)
			tick.Flushed()
		case cmd := <-e.cmds:
			e.ring.Disarm()
			if e.vers != nil {
				e.takeVersions(batch)
			}
			e.handle(cmd)
		case v := <-e.vers:
			e.ring.Disarm()
			e.takeVersion(v)
		case <-e.ring.Ready():
			e.ring.Disarm()
		}
	}
}

// maxCommandsPerTurn bounds the commands handled between two looks at the
// ring and the ticker; a command costs microseconds.
const maxCommandsPerTurn = 1 << 16

// handlePending handles the commands waiting, at most max, and returns how
// many it handled.
func (e *Engine) handlePending(max int) int {
	for n := 0; n < max; n++ {
		select {
		case cmd := <-e.cmds:
			if e.vers != nil {
				e.takeVersions(maxCommandsPerTurn) // see Run: versions first
			}
			e.handle(cmd)
		default:
			return n
		}
	}
	return max
}

func (e *Engine) drain(max int) int {
	var q market.Quote
	n := 0
	for n < max && e.ring.Pop(&q) {
		n++
		s := e.symbols[q.Symbol]
		if s == nil {
			if err := market.ValidateSymbol(q.Symbol); err != nil {
				e.stats.QuotesRejected.Add(1)
				continue
			}
			s = e.symbolFor(q.Symbol)
		}
		if s.state.Apply(&q) && !s.dirty {
			s.dirty = true
			e.dirty = append(e.dirty, s)
		}
	}
	if n > 0 {
		e.stats.QuotesIn.Add(uint64(n))
	}
	return n
}

func (e *Engine) symbolFor(name string) *symbol {
	if s := e.symbols[name]; s != nil {
		return s
	}
	s := &symbol{name: name, id: len(e.byID), state: market.NewState(name), subs: map[*Client]struct{}{}}
	e.symbols[name] = s
	e.byID = append(e.byID, s)
	e.pubMu.Lock()
	i := sort.SearchStrings(e.names, name)
	e.names = slices.Insert(e.names, i, name)
	e.pubMu.Unlock()
	return s
}
