package fanout

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"

	"ticker/market"
	"ticker/ws"
)

// ErrStopped is returned by the command methods once Run has returned.
var ErrStopped = errors.New("fanout engine stopped")

// ErrNotReplica is returned by PushVersion on an engine that versions its
// own quotes.
var ErrNotReplica = errors.New("fanout engine is not a replica")

// Config tunes an Engine. The zero value of a field means its default.
type Config struct {
	Window              time.Duration // coalescing window, 1ms..10s; default 50ms
	MaxSymbolsPerClient int           // explicit subscriptions per client; default 1000
	QueueBytes          int           // per-client outbound queue limit; default 1 MiB
	StuckTimeout        time.Duration // a client that takes nothing for this long is closed 1008 (here: owed a resync and its writer took nothing; api: its peer acknowledged nothing); default 10s
	DeflateLevel        int           // 1 (fastest) .. 9 (smallest); default 1
	// CompressBudget is the time per window the engine may spend compressing
	// whole messages; past it, messages for deflate clients are assembled
	// from per-symbol compressed pieces (cheap, but about 3× the bytes).
	// Zero or negative: no limit, the default. Worth setting on a server
	// with cores to spare, where the engine's one goroutine is the limit;
	// on a machine whose CPU is all used, fewer bytes win (bench/RESULTS.md).
	CompressBudget time.Duration

	// Tap, when set, is handed every version this engine publishes: an
	// ingest node passes them on to the cluster. See Tap.
	Tap Tap
	// Replica makes the engine serve versions published elsewhere (given
	// to PushVersion) instead of versioning the ring's quotes itself: an
	// edge node, or an ingest standby until Promote.
	Replica bool
	// Interest, when set, is told on the engine's goroutine when a symbol
	// gains its first subscriber or loses its last ("*": the first or last
	// wildcard subscriber). It must not block.
	Interest func(symbol string, on bool)
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

// Version is one input of a replica engine (Config.Replica).
type Version struct {
	// Quote is a delta (seq, ts and the changed fields) continuing the
	// symbol's published seq, or, with Full, its whole quote.
	Quote market.Quote
	// Full makes Quote replace the symbol's state: a resync. Subscribers
	// get a snapshot of it ("resync", or "subscribe" when the engine had
	// no quote of the symbol).
	Full bool
	// Declare only makes Quote.Symbol known (subscribable).
	Declare bool
}

// maxQueuedVersions bounds the versions a replica keeps per symbol waiting
// for their window; past it they are folded into one full quote (a resync).
const maxQueuedVersions = 64

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Window == 0 {
		c.Window = 50 * time.Millisecond
	}
	if c.MaxSymbolsPerClient == 0 {
		c.MaxSymbolsPerClient = 1000
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 1 << 20
	}
	if c.StuckTimeout == 0 {
		c.StuckTimeout = 10 * time.Second
	}
	if c.DeflateLevel == 0 {
		c.DeflateLevel = flate.BestSpeed
	}
	return c
}

// Validate names the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.Window < time.Millisecond || c.Window > 10*time.Second:
		return fmt.Errorf("coalesce window %v: want 1ms to 10s", c.Window)
	case c.MaxSymbolsPerClient < 1:
		return fmt.Errorf("max symbols per client %d: want at least 1", c.MaxSymbolsPerClient)
	case c.QueueBytes < 1024:
		return fmt.Errorf("queue bytes %d: want at least 1024", c.QueueBytes)
	case c.StuckTimeout < c.Window:
		return fmt.Errorf("stuck timeout %v: want at least the window", c.StuckTimeout)
	case c.DeflateLevel < flate.BestSpeed || c.DeflateLevel > flate.BestCompression:
		return fmt.Errorf("deflate level %d: want 1 to 9", c.DeflateLevel)
	}
	return nil
}

type symbol struct {
	name  string
	id    int
	state *market.State
	subs  map[*Client]struct{}
	dirty bool
	delta []byte // this window's encoded delta

	queue []Version // a replica's versions waiting for a window, in seq order
	fresh bool      // restored from a full quote with no earlier state
	full  bool      // publish every field in the next version (after Promote)

	// this window's delta compressed as a piece (see compressor.piece), as
	// the first entry of a message and with a leading comma; built on demand
	pieceEpoch uint64
	pieceFirst []byte
	pieceNext  []byte
}

type cmdKind uint8

const (
	cmdRegister cmdKind = iota
	cmdUnregister
	cmdSubscribe
	cmdUnsubscribe
	cmdPromote
	cmdReply
	cmdClose
)

type command struct {
	kind    cmdKind
	floors  map[string]uint64 // cmdPromote
	c       *Client
	id      []byte
	symbols []string
	payload []byte // cmdReply
	code    int    // cmdClose
	reason  string // cmdClose
	counted bool   // sent by sendPending: handling it lowers c.pending
}

// sameSymbols reports whether f carries exactly syms, in order.
func sameSymbols(f *Frame, syms []*symbol) bool {
	if len(f.syms) != len(syms) {
		return false
	}
	for i, s := range syms {
		if f.syms[i] != s {
			return false
		}
	}
	return true
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
	replica   bool
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
	epoch     uint64
	comp      *compressor
	frames    map[uint64]*Frame // this window's updates by the hash of their symbols, chained by next
	seed      maphash.Seed

	compressBudget time.Duration // per window (Config.CompressBudget)
	compressSpent  time.Duration // this window
	headPiece      []byte        // this window's update envelope, as a piece
	headTime       int64
	tailPiece      []byte
	scratch        []byte

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
		replica:   cfg.Replica,
		symbols:   map[string]*symbol{},
		clients:   map[*Client]struct{}{},
		wildcards: map[*Client]struct{}{},
		resyncing: map[*Client]struct{}{},
		comp:      newCompressor(cfg.DeflateLevel),
		frames:    map[uint64]*Frame{},
		seed:      maphash.MakeSeed(),
		pub:       map[string]market.Quote{},
	}
	if cfg.Replica {
		// only a replica takes versions; elsewhere the nil channel never fires
		e.vers = make(chan Version, 4096)
	}
	e.compressBudget = cfg.CompressBudget
	if e.compressBudget <= 0 {
		e.compressBudget = 1<<63 - 1
	}
	e.tailPiece = e.comp.piece(nil, []byte("]}"))
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
	tick := time.NewTicker(e.cfg.Window)
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
		case now := <-tick.C:
			e.drain(e.ring.Cap())
			e.flush(now)
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
		case now := <-tick.C:
			e.ring.Disarm()
			e.drain(e.ring.Cap())
			e.flush(now)
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

func (e *Engine) send(ctx context.Context, cmd command) error {
	select {
	case <-e.done:
		return ErrStopped
	default:
	}
	select {
	case e.cmds <- cmd:
		return nil
	case <-e.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Register adds a client. Its frames start with the replies to its first
// subscribe.
func (e *Engine) Register(ctx context.Context, c *Client) error {
	return e.send(ctx, command{kind: cmdRegister, c: c})
}

// Unregister removes a client and all its subscriptions.
func (e *Engine) Unregister(ctx context.Context, c *Client) error {
	return e.send(ctx, command{kind: cmdUnregister, c: c})
}

// Subscribe subscribes c to symbols ("*" for every symbol, present and
// future). The client receives, in order: an error per kind of refused
// symbol (unknown_symbol, too_many_symbols), a "subscribed" ack listing the
// accepted symbols, and a "subscribe" snapshot of the newly subscribed
// symbols that have a quote. id is the request's raw JSON id, or nil.
// A symbol listed twice counts, and is acked, once.
func (e *Engine) Subscribe(ctx context.Context, c *Client, id []byte, symbols []string) error {
	return e.sendPending(ctx, command{kind: cmdSubscribe, c: c, id: id, symbols: symbols})
}

// Unsubscribe removes symbols from c's subscriptions and acks them all, each
// once (unsubscribing what is not subscribed is not an error).
func (e *Engine) Unsubscribe(ctx context.Context, c *Client, id []byte, symbols []string) error {
	return e.sendPending(ctx, command{kind: cmdUnsubscribe, c: c, id: id, symbols: symbols})
}

// sendPending sends a command whose replies later replies must follow.
func (e *Engine) sendPending(ctx context.Context, cmd command) error {
	cmd.counted = true
	cmd.c.pending.Add(1)
	err := e.send(ctx, cmd)
	if err != nil {
		cmd.c.pending.Add(-1)
	}
	return err
}

// Reply queues payload (a pong or an error built with this package's
// Append functions) for c, after the replies to every subscribe and
// unsubscribe of c sent before it, so that a client gets its replies in the
// order of its requests. With none of them waiting, it is queued at once,
// without the engine; it must be called from the goroutine that sends c's
// Subscribe and Unsubscribe.
func (e *Engine) Reply(ctx context.Context, c *Client, payload []byte) error {
	if c.pending.Load() == 0 {
		e.reply(c, payload)
		return nil
	}
	// counted, so that a later reply cannot overtake this one by going direct
	return e.sendPending(ctx, command{kind: cmdReply, c: c, payload: payload})
}

// CloseAfterReplies closes c with code and reason once every reply owed to
// it has been queued: the replies to its earlier requests still in the
// engine, as Reply orders them. Its queued market data is dropped; its
// queued replies go out before the close frame. Like Reply, it must be
// called from the goroutine that sends c's requests.
func (e *Engine) CloseAfterReplies(ctx context.Context, c *Client, code int, reason string) {
	if c.pending.Load() == 0 {
		c.closeAfterReplies(code, reason)
		return
	}
	if e.sendPending(ctx, command{kind: cmdClose, c: c, code: code, reason: reason}) != nil {
		c.closeAfterReplies(code, reason) // the engine is gone: nothing more is owed
	}
}

func (e *Engine) handle(cmd command) {
	c := cmd.c
	switch cmd.kind {
	case cmdRegister:
		c.registered = true
		e.clients[c] = struct{}{}
		e.stats.Clients.Add(1)
	case cmdUnregister:
		if !c.registered {
			return
		}
		c.registered = false
		for s := range c.subs {
			e.dropSub(c, s)
		}
		clear(c.subs)
		if c.wildcard {
			e.dropWildcard(c)
		}
		delete(e.resyncing, c)
		delete(e.clients, c)
		e.stats.Clients.Add(-1)
	case cmdSubscribe:
		if c.registered {
			e.subscribe(c, cmd.id, unique(cmd.symbols))
		}
		if cmd.counted {
			c.pending.Add(-1)
		}
	case cmdUnsubscribe:
		if c.registered {
			e.unsubscribe(c, cmd.id, unique(cmd.symbols))
		}
		if cmd.counted {
			c.pending.Add(-1)
		}
	case cmdReply:
		if c.registered {
			e.reply(c, cmd.payload)
		}
		c.pending.Add(-1)
	case cmdClose:
		c.closeAfterReplies(cmd.code, cmd.reason)
		c.pending.Add(-1)
	case cmdPromote:
		e.promote(cmd.floors)
	}
}

// unique returns names without repeats, in first-seen order; it reuses
// names' array.
func unique(names []string) []string {
	if len(names) < 2 {
		return names
	}
	seen := make(map[string]struct{}, len(names))
	out := names[:0]
	for _, n := range names {
		if _, dup := seen[n]; !dup {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	return out
}

// dropSub removes c from s's subscribers (c.subs is the caller's).
func (e *Engine) dropSub(c *Client, s *symbol) {
	delete(s.subs, c)
	e.stats.Subscriptions.Add(-1)
	if len(s.subs) == 0 {
		e.interest(s.name, false)
		if e.replica && len(e.wildcards) == 0 {
			e.forget(s)
		}
	}
}

// dropWildcard ends c's wildcard subscription.
func (e *Engine) dropWildcard(c *Client) {
	c.wildcard = false
	delete(e.wildcards, c)
	e.stats.Subscriptions.Add(-1)
	if len(e.wildcards) > 0 {
		return
	}
	e.interest("*", false)
	if e.replica {
		for _, s := range e.byID {
			if len(s.subs) == 0 {
				e.forget(s)
			}
		}
	}
}

func (e *Engine) interest(symbol string, on bool) {
	if e.cfg.Interest != nil {
		e.cfg.Interest(symbol, on)
	}
}

// forget drops a replica's state of a symbol nobody subscribes to: its
// versions stop arriving, so what it holds would go stale. A later
// subscriber gets the symbol again from a full quote.
func (e *Engine) forget(s *symbol) {
	if s.state.PublishedRef().Seq == 0 && len(s.queue) == 0 {
		return
	}
	s.state = market.NewState(s.name)
	s.queue = s.queue[:0]
	e.pubMu.Lock()
	delete(e.pub, s.name)
	e.pubMu.Unlock()
}

// PushVersion hands a replica engine one version published elsewhere
// (see Version). Versions of a symbol must come in seq order, deltas
// continuing the seq without a gap; a Full version may jump. An engine
// created without Config.Replica takes none (ErrNotReplica).
func (e *Engine) PushVersion(ctx context.Context, v Version) error {
	if e.vers == nil {
		return ErrNotReplica
	}
	select {
	case e.vers <- v:
		return nil
	case <-e.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Promote turns a replica into the source of versions: from the next
// window on it versions the ring's quotes itself. Each symbol's seq goes on
// from the highest of the version it served and floors[symbol] (the
// highest seq the cluster is known to have published, which a replica
// behind a gap may not have served), and the symbol's first own version
// carries every field, so that any replica, whatever version it held, is
// whole again. Versions still queued are folded in first.
func (e *Engine) Promote(ctx context.Context, floors map[string]uint64) error {
	return e.send(ctx, command{kind: cmdPromote, floors: floors})
}

func (e *Engine) promote(floors map[string]uint64) {
	if !e.replica {
		return
	}
	e.replica = false
	for _, s := range e.byID {
		if len(s.queue) > 0 {
			q := e.folded(s, nil)
			s.queue = s.queue[:0]
			if q.Seq > s.state.PublishedRef().Seq {
				s.state.Restore(q)
				e.repaired = append(e.repaired, s)
			}
		}
		s.state.SkipTo(floors[s.name])
		if s.state.PublishedRef().Seq > 0 {
			s.full = true
			if !s.dirty {
				s.dirty = true
				e.dirty = append(e.dirty, s)
			}
		}
	}
}

// takeVersions takes the versions waiting, at most max.
func (e *Engine) takeVersions(max int) {
	for n := 0; n < max; n++ {
		select {
		case v := <-e.vers:
			e.takeVersion(v)
		default:
			return
		}
	}
}

func (e *Engine) takeVersion(v Version) {
	if err := market.ValidateSymbol(v.Quote.Symbol); err != nil {
		e.stats.QuotesRejected.Add(1)
		return
	}
	s := e.symbolFor(v.Quote.Symbol)
	if v.Declare {
		return
	}
	if !e.replica {
		e.stats.QuotesRejected.Add(1) // promoted: versions come from this engine now
		return
	}
	e.stats.QuotesIn.Add(1)
	if len(s.queue) >= maxQueuedVersions {
		q := e.folded(s, &v)
		s.queue = append(s.queue[:0], Version{Quote: q, Full: true})
	} else {
		s.queue = append(s.queue, v)
	}
	if !s.dirty {
		s.dirty = true
		e.dirty = append(e.dirty, s)
	}
}

// folded returns s's published quote with its queued versions (and last,
// if not nil) applied.
func (e *Engine) folded(s *symbol, last *Version) market.Quote {
	tmp := *s.state
	apply := func(v *Version) {
		if v.Full {
			tmp.Restore(v.Quote)
		} else {
			tmp.ApplyDelta(&v.Quote)
		}
	}
	for i := range s.queue {
		apply(&s.queue[i])
	}
	if last != nil {
		apply(last)
	}
	return tmp.Published()
}

// nextVersion serves the next queued version of a replica's symbol: a
// delta joins this window's changes, a full quote replaces the state.
func (e *Engine) nextVersion(s *symbol, changed []*symbol) []*symbol {
	if len(s.queue) == 0 {
		return changed
	}
	v := s.queue[0]
	n := copy(s.queue, s.queue[1:])
	s.queue = s.queue[:n]
	if v.Full {
		s.fresh = s.state.PublishedRef().Seq == 0
		s.state.Restore(v.Quote)
		e.repaired = append(e.repaired, s)
		return changed
	}
	if !s.state.ApplyDelta(&v.Quote) {
		e.stats.QuotesRejected.Add(1)
		e.log.Warn("replica: a delta out of sequence was skipped", "symbol", s.name, "seq", v.Quote.Seq, "have", s.state.PublishedRef().Seq)
		return changed
	}
	s.delta = v.Quote.AppendJSON(s.delta[:0])
	return append(changed, s)
}

// sendRepaired gives each subscriber of a symbol restored from a full
// quote a snapshot of it; its updates continue from there.
func (e *Engine) sendRepaired(tm int64) {
	for _, s := range e.repaired {
		reason := "resync"
		if s.fresh {
			reason = "subscribe"
		}
		s.fresh = false
		f := e.snapshotFrame([]*symbol{s}, reason, tm)
		if f == nil {
			continue
		}
		give := func(c *Client) {
			if !c.resync && !c.closing.Load() {
				e.offerData(c, f, &e.stats.Resyncs)
			}
		}
		for c := range s.subs {
			if !c.wildcard {
				give(c)
			}
		}
		for c := range e.wildcards {
			give(c)
		}
		f.release()
	}
	clear(e.repaired)
	e.repaired = e.repaired[:0]
}

func (e *Engine) subscribe(c *Client, id []byte, names []string) {
	var accepted, unknown, excess []string
	var fresh []*symbol
	wildcardNew := false
	for _, name := range names {
		if name == "*" {
			if !c.wildcard {
				c.wildcard, wildcardNew = true, true
				e.wildcards[c] = struct{}{}
				e.stats.Subscriptions.Add(1)
				if len(e.wildcards) == 1 {
					e.interest("*", true)
				}
			}
			accepted = append(accepted, name)
			continue
		}
		s := e.symbols[name]
		if s == nil {
			unknown = append(unknown, name)
			continue
		}
		if _, ok := c.subs[s]; ok {
			accepted = append(accepted, name)
			continue
		}
		if len(c.subs) >= e.cfg.MaxSymbolsPerClient {
			excess = append(excess, name)
			continue
		}
		c.subs[s] = struct{}{}
		s.subs[c] = struct{}{}
		if len(s.subs) == 1 {
			e.interest(s.name, true)
		}
		e.stats.Subscriptions.Add(1)
		accepted = append(accepted, name)
		fresh = append(fresh, s)
	}
	if len(unknown) > 0 {
		e.reply(c, AppendError(nil, id, CodeUnknownSymbol, "no feed declares or has delivered these symbols", unknown))
	}
	if len(excess) > 0 {
		e.reply(c, AppendError(nil, id, CodeTooManySymbols,
			fmt.Sprintf("at most %d symbols per connection; these were not subscribed", e.cfg.MaxSymbolsPerClient), excess))
	}
	if accepted == nil {
		accepted = []string{}
	}
	e.reply(c, AppendAck(nil, "subscribed", id, accepted))

	if c.resync {
		return // the pending resync snapshot covers the new symbols
	}
	var snap []*symbol
	switch {
	case wildcardNew:
		// every symbol with a quote that the client was not already getting
		for _, s := range e.byID {
			if _, had := c.subs[s]; had && !slices.Contains(fresh, s) {
				continue
			}
			snap = append(snap, s)
		}
	case !c.wildcard:
		snap = fresh
	}
	if f := e.snapshotFrame(snap, "subscribe", time.Now().UnixMicro()); f != nil {
		e.offerData(c, f, &e.stats.SnapshotsQueued)
		f.release()
	}
}

func (e *Engine) unsubscribe(c *Client, id []byte, names []string) {
	for _, name := range names {
		if name == "*" {
			if c.wildcard {
				e.dropWildcard(c)
			}
			continue
		}
		if s := e.symbols[name]; s != nil {
			if _, ok := c.subs[s]; ok {
				delete(c.subs, s)
				e.dropSub(c, s)
			}
		}
	}
	if names == nil {
		names = []string{}
	}
	e.reply(c, AppendAck(nil, "unsubscribed", id, names))
}

func (e *Engine) reply(c *Client, payload []byte) {
	c.offer(textFrame(payload, kindReply))
}

// offerData queues a snapshot or update, first building the form the client
// needs, and marks the client for resync when its queue overflows.
func (e *Engine) offerData(c *Client, f *Frame, counter interface{ Add(uint64) uint64 }) bool {
	e.prepare(f, c.deflate)
	if c.offer(f) {
		counter.Add(1)
		return true
	}
	e.stats.Drops.Add(uint64(c.takeDropped()))
	if !c.resync && !c.Closing() {
		c.resync = true
		c.resyncSince = time.Now()
		e.resyncing[c] = struct{}{}
	}
	return false
}

// snapshotFrame encodes the published quotes of syms (those with a version)
// as a snapshot message, or returns nil if none has a quote. The caller owns
// the frame's one reference.
func (e *Engine) snapshotFrame(syms []*symbol, reason string, timeMicros int64) *Frame {
	f := newFrame(kindData)
	buf := f.startPlain()
	buf = appendQuotesHead(buf, "snapshot", reason, timeMicros)
	n := 0
	for _, s := range syms {
		q := s.state.PublishedRef()
		if q.Seq == 0 {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = q.AppendJSON(buf)
		n++
	}
	if n == 0 {
		f.pbuf = buf
		f.release()
		return nil
	}
	buf = append(buf, ']', '}')
	f.finishPlain(buf)
	e.stats.FramesBuilt.Add(1)
	return f
}

// updateFrame returns the update message holding the deltas of syms (in id
// order), building it only if no other client got the same one this window.
func (e *Engine) updateFrame(syms []*symbol, timeMicros int64) *Frame {
	var h maphash.Hash
	h.SetSeed(e.seed)
	var b [4]byte
	for _, s := range syms {
		b[0], b[1], b[2], b[3] = byte(s.id), byte(s.id>>8), byte(s.id>>16), byte(s.id>>24)
		h.Write(b[:])
	}
	key := h.Sum64()
	first := e.frames[key]
	for f := first; f != nil; f = f.next {
		if sameSymbols(f, syms) {
			e.stats.FramesShared.Add(1)
			return f
		}
	}
	f := newFrame(kindData) // its reference is the cache's, dropped at the end of the flush
	f.syms = append(f.syms, syms...)
	f.timeMicros = timeMicros
	f.next = first
	e.frames[key] = f
	return f
}

// dropFrames releases the window's cached updates: those no queue holds go
// back to the pool.
func (e *Engine) dropFrames() {
	for _, f := range e.frames {
		for f != nil {
			next := f.next
			f.next = nil
			f.release()
			f = next
		}
	}
	clear(e.frames)
}

// prepare builds the form of f a client needs: the plain frame, or the
// compressed one. Whole messages are compressed while this window's
// compression budget lasts; after that, updates for deflate clients are
// assembled from per-symbol pieces, each compressed once per window, so that
// compression never makes the engine miss its window (the bytes are larger,
// about 0.8 of plain against 0.26 for a whole message).
func (e *Engine) prepare(f *Frame, deflate bool) {
	if !deflate {
		e.buildPlain(f)
		return
	}
	if f.deflated != nil {
		return
	}
	if f.syms != nil && e.compressSpent >= e.compressBudget {
		e.assemble(f)
		return
	}
	e.buildPlain(f)
	t0 := time.Now()
	e.comp.deflate(f)
	e.compressSpent += time.Since(t0)
	e.stats.FramesDeflated.Add(1)
	e.stats.DeflateIn.Add(uint64(len(f.Payload())))
	e.stats.DeflateOut.Add(uint64(len(f.deflated)))
}

// buildPlain encodes a lazily built update.
func (e *Engine) buildPlain(f *Frame) {
	if f.plain != nil {
		return
	}
	buf := f.startPlain()
	buf = appendQuotesHead(buf, "update", "", f.timeMicros)
	for i, s := range f.syms {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, s.delta...)
	}
	buf = append(buf, ']', '}')
	f.finishPlain(buf)
	e.stats.FramesBuilt.Add(1)
}

// assemble builds f's compressed form by concatenating pieces: the window's
// envelope head, each symbol's delta, and the tail.
func (e *Engine) assemble(f *Frame) {
	if e.headPiece == nil || e.headTime != f.timeMicros {
		e.headPiece = e.comp.piece(e.headPiece[:0], appendQuotesHead(nil, "update", "", f.timeMicros))
		e.headTime = f.timeMicros
	}
	buf := append(f.dbuf[:0], zeroHeader[:]...)
	buf = append(buf, e.headPiece...)
	for i, s := range f.syms {
		if s.pieceEpoch != e.epoch {
			s.pieceEpoch = e.epoch
			s.pieceFirst = e.comp.piece(s.pieceFirst[:0], s.delta)
			e.scratch = append(append(e.scratch[:0], ','), s.delta...)
			s.pieceNext = e.comp.piece(s.pieceNext[:0], e.scratch)
		}
		if i == 0 {
			buf = append(buf, s.pieceFirst...)
		} else {
			buf = append(buf, s.pieceNext...)
		}
	}
	buf = append(buf, e.tailPiece...)
	buf = buf[:len(buf)-4] // the message's final 00 00 ff ff
	at := ws.PutHeader(buf, maxHeaderLen, ws.BitFin|ws.BitRSV1|ws.OpText, len(buf)-maxHeaderLen)
	f.dbuf = buf
	f.deflated = buf[at:]
	e.stats.FramesAssembled.Add(1)
}

func (e *Engine) flush(now time.Time) {
	start := time.Now()
	e.epoch++
	e.compressSpent = 0
	changed := e.changed[:0]
	var d market.Quote
	again := e.again[:0]
	for _, s := range e.dirty {
		s.dirty = false
		if len(s.queue) > 0 {
			changed = e.nextVersion(s, changed)
			if len(s.queue) > 0 {
				s.dirty = true
				again = append(again, s)
			}
			continue
		}
		if e.replica {
			continue
		}
		if s.full {
			s.full = false
			s.state.PublishAll(&d)
			s.delta = d.AppendJSON(s.delta[:0])
			changed = append(changed, s)
		} else if s.state.Publish(&d) {
			s.delta = d.AppendJSON(s.delta[:0])
			changed = append(changed, s)
		}
	}
	clear(e.dirty)
	e.dirty, e.again = append(e.dirty[:0], again...), again[:0]
	slices.SortFunc(changed, func(a, b *symbol) int { return a.id - b.id })
	e.changed = changed
	if len(changed) > 0 || len(e.repaired) > 0 {
		e.stats.Versions.Add(uint64(len(changed)))
		e.pubMu.Lock()
		for _, s := range changed {
			e.pub[s.name] = s.state.Published()
		}
		for _, s := range e.repaired {
			e.pub[s.name] = s.state.Published()
		}
		e.pubMu.Unlock()
	}
	if t := e.cfg.Tap; t != nil && !e.replica {
		for _, s := range changed {
			t.Version(s.delta, s.state.PublishedRef())
		}
		t.Window(now)
	}

	tm := now.UnixMicro()
	e.sendRepaired(tm)
	touched := e.touched[:0]
	for _, s := range changed {
		for c := range s.subs {
			if c.wildcard {
				continue
			}
			if c.mark != e.epoch {
				c.mark = e.epoch
				c.pend = c.pend[:0]
				touched = append(touched, c)
			}
			c.pend = append(c.pend, s)
		}
	}
	for _, c := range touched {
		e.deliver(c, c.pend, tm, now)
	}
	if len(changed) > 0 {
		for c := range e.wildcards {
			c.mark = e.epoch
			e.deliver(c, changed, tm, now)
		}
	}
	for c := range e.resyncing {
		if c.mark != e.epoch {
			e.deliver(c, nil, tm, now)
		}
	}
	e.dropFrames()
	clear(touched)
	e.touched = touched[:0]
	e.stats.Flush.Observe(time.Since(start))
}

func (e *Engine) deliver(c *Client, syms []*symbol, tm int64, now time.Time) {
	if c.closing.Load() {
		return // its connection is going: build nothing for it
	}
	if c.resync {
		e.resync(c, tm, now)
		return
	}
	if len(syms) == 0 {
		return
	}
	e.offerData(c, e.updateFrame(syms, tm), &e.stats.UpdatesQueued)
}

// resync sends c a snapshot of everything it subscribes to once its writer
// has made progress since the overflow (building snapshots for a writer that
// is still blocked would only overflow again), or closes it if the writer
// has been stuck past the limit.
func (e *Engine) resync(c *Client, tm int64, now time.Time) {
	if c.Closing() {
		delete(e.resyncing, c)
		return
	}
	idle, progressed := c.sinceTake(now, c.resyncSince)
	if idle > e.cfg.StuckTimeout {
		if c.Close(ws.ClosePolicy, "slow consumer") {
			e.stats.SlowClosed.Add(1)
		}
		delete(e.resyncing, c)
		e.log.Info("closed slow consumer", "stuck", idle.Round(time.Millisecond))
		return
	}
	if !progressed {
		return
	}
	var syms []*symbol
	if c.wildcard {
		syms = e.byID
	} else {
		syms = make([]*symbol, 0, len(c.subs))
		for s := range c.subs {
			syms = append(syms, s)
		}
		slices.SortFunc(syms, func(a, b *symbol) int { return a.id - b.id })
	}
	f := e.snapshotFrame(syms, "resync", tm)
	c.resync = false // offerData sets it again on overflow
	if f == nil {
		delete(e.resyncing, c)
		return
	}
	if e.offerData(c, f, &e.stats.Resyncs) {
		delete(e.resyncing, c)
	}
	f.release()
}

// Symbols returns every known symbol (declared or delivered), sorted.
func (e *Engine) Symbols() []string {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	return append(make([]string, 0, len(e.names)), e.names...) // [] rather than null in JSON
}

// Quotes returns the published full quote of every symbol that has one,
// sorted by symbol.
func (e *Engine) Quotes() []market.Quote {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	out := make([]market.Quote, 0, len(e.pub))
	for _, name := range e.names {
		if q, ok := e.pub[name]; ok {
			out = append(out, q)
		}
	}
	return out
}

// Quote returns the published full quote of symbol, if it has one.
func (e *Engine) Quote(symbol string) (market.Quote, bool) {
	e.pubMu.RLock()
	defer e.pubMu.RUnlock()
	q, ok := e.pub[symbol]
	return q, ok
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
