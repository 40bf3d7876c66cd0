package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// VersionSink is what a Receiver feeds: a replica fanout.Engine.
type VersionSink interface {
	PushVersion(ctx context.Context, v fanout.Version) error
}

// Receiver is the edge side: it subscribes by interest, passes each
// symbol's versions to the sink in seq order without a gap, and repairs
// gaps from the bucket. Create it with NewReceiver, give its Interest to
// the engine's Config, and call Run with the engine. (The engine is given
// to Run, not to NewReceiver, so that the receiver exists before the
// engine whose Config holds its Interest.)
type Receiver struct {
	nc   *nats.Conn
	kv   jetstream.KeyValue
	sink VersionSink // Run's, set by it
	log  *slog.Logger

	mu          sync.Mutex
	want        map[string]bool
	wild        bool
	all         bool // receive every symbol whatever the interest (a standby ingest)
	reconnected bool
	kick        chan struct{} // cap 1: interest changed or NATS reconnected

	msgs    chan *nats.Msg
	fetch   chan string
	fetched chan fetchResult
	names   chan listing
	reread  chan chan struct{} // Reread's requests
	ready   atomic.Bool        // the loop has taken the bucket's symbols in once
	pending atomic.Int64       // fetches in flight
	held    atomic.Bool        // a version has been passed on: the node has the stream's state
	epochAt atomic.Uint64      // epoch, for Epoch

	// owned by Run
	subs     map[string]*nats.Subscription
	wsub     *nats.Subscription
	syms     map[string]*symState
	known    map[string]bool
	declared map[string]bool // symbols made subscribable in the sink
	parser   fastjson.Parser
	rereadN  int             // symbols whose read for Reread has not completed
	rereadCh []chan struct{} // closed when rereadN reaches 0
	epoch    uint64          // the stream's epoch (0: none seen yet)

	stats ReceiverStats
}

// ReceiverStats are a Receiver's counters.
type ReceiverStats struct {
	Versions  atomic.Uint64 // deltas passed on
	Gaps      atomic.Uint64 // gaps opened in a symbol in sync: a delta past its next seq
	Repairs   atomic.Uint64 // full quotes passed on (gaps repaired, late joins, reconnects)
	Fetches   atomic.Uint64 // bucket reads
	Malformed atomic.Uint64 // messages that could not be parsed
	Epochs    atomic.Uint64 // new stream epochs gone over to (every symbol read again)
	Stale     atomic.Uint64 // deltas and bucket values of an older epoch, dropped
}

type symState struct {
	last     uint64         // the last seq passed on (0: none yet)
	buf      []market.Quote // deltas past a gap, by seq
	fetching bool
	retryAt  time.Time // fetch again then (zero: no need)
	reread   rereadState
}

// rereadState tracks one symbol's part in a Reread.
type rereadState uint8

const (
	rereadNone    rereadState = iota
	rereadWanted              // a read must start (one in flight began too early)
	rereadStarted             // a read that began after the request is in flight
)

type fetchResult struct {
	symbol string
	q      market.Quote
	epoch  uint64
	found  bool
	err    error
}

// maxBuffered bounds the deltas a symbol keeps past a gap while its full
// quote is fetched; past it they are dropped (the fetch covers them).
const maxBuffered = 256

// NewReceiver returns a Receiver reading from nc and the bucket kv.
func NewReceiver(nc *nats.Conn, kv jetstream.KeyValue, log *slog.Logger) *Receiver {
	r := &Receiver{
		nc: nc, kv: kv, log: log,
		want:     map[string]bool{},
		kick:     make(chan struct{}, 1),
		msgs:     make(chan *nats.Msg, 8192),
		fetch:    make(chan string, 1024),
		fetched:  make(chan fetchResult, 1024),
		names:    make(chan listing, 1),
		reread:   make(chan chan struct{}, 1),
		subs:     map[string]*nats.Subscription{},
		syms:     map[string]*symState{},
		known:    map[string]bool{},
		declared: map[string]bool{},
	}
	return r
}

// Reopened tells the receiver that NATS is back and the buckets are open
// again (Store.OnReopen): deltas published meanwhile are lost, so it reads
// every symbol it serves from the bucket. It never blocks.
func (r *Receiver) Reopened() {
	r.mu.Lock()
	r.reconnected = true
	r.mu.Unlock()
	r.poke()
}

// HasState reports whether the receiver has passed on any version of the
// stream: a standby ingest that has none must not take the stream over
// before one that has (Ingest).
func (r *Receiver) HasState() bool { return r.held.Load() }

// Epoch returns the epoch of the stream the receiver follows (0: none seen).
func (r *Receiver) Epoch() uint64 { return r.epochAt.Load() }

// Interest is the engine's Config.Interest: called when a symbol gains its
// first subscriber or loses its last ("*" for the wildcard). It never blocks.
func (r *Receiver) Interest(symbol string, on bool) {
	r.mu.Lock()
	if symbol == "*" {
		r.wild = on
	} else if on {
		r.want[symbol] = true
	} else {
		delete(r.want, symbol)
	}
	r.mu.Unlock()
	r.poke()
}

func (r *Receiver) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// ReceiveAll makes the receiver take every symbol, whatever its engine's
// clients want: a standby ingest must hold the whole stream to take it
// over. Call it before Run.
func (r *Receiver) ReceiveAll() {
	r.mu.Lock()
	r.all = true
	r.mu.Unlock()
	r.poke()
}

// HighWater returns, per symbol, the highest seq the receiver has seen
// (passed on or waiting past a gap). Call it after Run has returned.
func (r *Receiver) HighWater() map[string]uint64 {
	hw := make(map[string]uint64, len(r.syms))
	for sym, st := range r.syms {
		top := st.last
		if n := len(st.buf); n > 0 && st.buf[n-1].Seq > top {
			top = st.buf[n-1].Seq
		}
		hw[sym] = top
	}
	return hw
}

// Ready reports whether the receiver is connected and knows the symbols.
func (r *Receiver) Ready() bool { return r.ready.Load() && r.nc.IsConnected() }

// Stats returns the receiver's counters.
func (r *Receiver) Stats() *ReceiverStats { return &r.stats }

// Run receives into sink until ctx ends. It owns the fetch workers and the
// symbol lister, and waits for them before it returns. It may run again
// after it has returned (an ingest node standing by again): it then reads
// every symbol it holds from the bucket again.
func (r *Receiver) Run(ctx context.Context, sink VersionSink) error {
	r.sink = sink
	// what an earlier Run had in flight is gone with its workers
	r.pending.Store(0)
	for _, st := range r.syms {
		st.fetching = false
	}
	for drained := false; !drained; {
		select {
		case <-r.fetch:
		case <-r.fetched:
		default:
			drained = true
		}
	}
	r.mu.Lock()
	r.reconnected = true
	r.mu.Unlock()
	r.poke()
	// announcements first, then the listing: a symbol is announced after
	// its bucket write, so none falls between the two
	announce, err := r.nc.ChanSubscribe(SymbolsSubject, r.msgs)
	if err == nil {
		err = r.nc.FlushTimeout(5 * time.Second) // the server has the subscription
	}
	if err != nil {
		r.log.Error("cluster: subscribing to symbol announcements", "err", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.fetchWorker(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.listSymbols(ctx)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer func() {
		tick.Stop()
		if announce != nil {
			announce.Unsubscribe()
		}
		r.unsubscribeAll()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			r.reconcile(ctx)
		case m := <-r.msgs:
			r.onMsg(ctx, m)
		case res := <-r.fetched:
			r.onFetched(ctx, res)
		case l := <-r.names:
			if first := r.epoch == 0; l.epoch != 0 && r.inEpoch(ctx, l.epoch) && first {
				// the first epoch learned: the engine is told it with a
				// declaration, though its symbols were declared before the
				// stream began (an edge started first), so that acks carry it
				r.sink.PushVersion(ctx, fanout.Version{Quote: market.Quote{Symbol: l.names[0]}, Declare: true, Epoch: r.epoch})
			}
			r.onNames(ctx, l.names)
			r.ready.Store(true)
		case done := <-r.reread:
			r.startReread(done)
		case now := <-tick.C:
			for sym, st := range r.syms {
				if !st.retryAt.IsZero() && now.After(st.retryAt) {
					st.retryAt = time.Time{}
					r.startFetch(sym, st)
				}
			}
		}
	}
}

// listSymbols hands the loop the bucket's symbols at start and every few
// seconds (onNames declares the new ones), so that clients can subscribe
// to symbols no delta has carried here yet.
// listing is what listSymbols found: the bucket's symbols and, while the
// receiver knows no epoch yet, the epoch of the stream (from one of the
// symbols' values; 0: not read).
type listing struct {
	names []string
	epoch uint64
}

func (r *Receiver) listSymbols(ctx context.Context) {
	var p fastjson.Parser
	// the second listing a second after the first: a bucket write still in
	// flight at the first (its announcement sent before this receiver
	// subscribed) has landed by then
	every := time.NewTicker(time.Second)
	defer every.Stop()
	for n := 0; ; n++ {
		if n == 2 {
			every.Reset(5 * time.Second)
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var names []string
		lister, err := r.kv.ListKeys(lctx)
		if err == nil {
			for tok := range lister.Keys() {
				if sym, err := Symbol(tok); err == nil && market.ValidateSymbol(sym) == nil {
					names = append(names, sym)
				}
			}
			lister.Stop()
		}
		l := listing{names: names}
		if err == nil && len(names) > 0 && r.epochAt.Load() == 0 {
			// a fresh node learns the epoch now, so that a subscribe's
			// ack carries it before any version of the symbol has come
			_, l.epoch, _, _ = bucketQuote(lctx, r.kv, &p, names[0])
		}
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			if ctx.Err() != nil {
				return
			}
			if !r.nc.IsConnected() || errors.Is(err, nats.ErrReconnectBufExceeded) {
				// an ingest node buffers nothing while disconnected, so its
				// requests then fail with "outbound buffer limit exceeded"
				r.log.Info("cluster: NATS is not connected; the bucket's symbols are listed again once it is")
			} else {
				r.log.Warn("cluster: listing the bucket's symbols", "err", err)
			}
		} else {
			select {
			case r.names <- l:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-every.C:
		}
	}
}

func (r *Receiver) fetchWorker(ctx context.Context) {
	var p fastjson.Parser
	for {
		var sym string
		select {
		case <-ctx.Done():
			return
		case sym = <-r.fetch:
		}
		r.stats.Fetches.Add(1)
		res := fetchResult{symbol: sym}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res.q, res.epoch, res.found, res.err = bucketQuote(fctx, r.kv, &p, sym)
		cancel()
		if errors.Is(res.err, errMalformedQuote) {
			r.stats.Malformed.Add(1)
		}
		select {
		case r.fetched <- res:
		case <-ctx.Done():
			return
		}
	}
}

// reconcile brings the NATS subscriptions in line with the interest.
func (r *Receiver) reconcile(ctx context.Context) {
	r.mu.Lock()
	wild, reconnected := r.wild || r.all, r.reconnected
	want := make(map[string]bool, len(r.want))
	for s := range r.want {
		want[s] = true
	}
	r.reconnected = false
	r.mu.Unlock()

	if wild && r.wsub == nil {
		sub, err := r.nc.ChanSubscribe(SubjectPrefix+">", r.msgs)
		if err != nil {
			r.log.Error("cluster: subscribing to every symbol", "err", err)
			r.retryLater()
			return
		}
		r.wsub = sub
		for sym := range r.known {
			r.startFetch(sym, r.state(sym))
		}
	}
	if !wild && r.wsub != nil {
		r.wsub.Unsubscribe()
		r.wsub = nil
	}
	// per-symbol subscriptions only while no wildcard covers them
	for sym, sub := range r.subs {
		if wild || !want[sym] {
			sub.Unsubscribe()
			delete(r.subs, sym)
		}
	}
	if !wild {
		for sym := range want {
			if r.subs[sym] != nil {
				continue
			}
			sub, err := r.nc.ChanSubscribe(SubjectPrefix+Token(sym), r.msgs)
			if err != nil {
				r.log.Error("cluster: subscribing", "symbol", sym, "err", err)
				r.retryLater()
				continue
			}
			r.subs[sym] = sub
		}
	}
	for sym := range want {
		if _, ok := r.syms[sym]; !ok {
			r.startFetch(sym, r.state(sym)) // a late join: its snapshot
		}
	}
	for sym, st := range r.syms {
		if !wild && !want[sym] {
			if st.reread != rereadNone {
				r.rereadN-- // nothing to read for a symbol nobody wants
			}
			delete(r.syms, sym) // the engine forgot it too
		}
	}
	r.rereadProgress()
	if reconnected {
		// deltas published while disconnected are lost; quiet symbols would
		// never show the gap, so read every symbol now and once more a
		// second later, when writes in flight have reached the bucket
		for sym, st := range r.syms {
			r.startFetch(sym, st)
			st.retryAt = time.Now().Add(time.Second)
		}
	}
}

func (r *Receiver) retryLater() {
	time.AfterFunc(200*time.Millisecond, r.poke)
}

func (r *Receiver) wanted(sym string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wild || r.all || r.want[sym]
}

func (r *Receiver) state(sym string) *symState {
	st := r.syms[sym]
	if st == nil {
		st = &symState{}
		r.syms[sym] = st
	}
	return st
}

// onNames takes in symbols listed in the bucket or announced: each new one
// is made subscribable in the sink, and fetched if every symbol is wanted.
func (r *Receiver) onNames(ctx context.Context, names []string) {
	r.mu.Lock()
	wild := r.wild || r.all
	r.mu.Unlock()
	for _, sym := range names {
		if !r.declared[sym] {
			r.declared[sym] = true
			r.sink.PushVersion(ctx, fanout.Version{Quote: market.Quote{Symbol: sym}, Declare: true, Epoch: r.epoch})
		}
		if !r.known[sym] {
			r.known[sym] = true
			if wild && r.wsub != nil {
				r.startFetch(sym, r.state(sym))
			}
		}
	}
}

// Synced reports whether the receiver is ready (it has taken in the
// bucket's symbols) and has no fetch in flight: with ReceiveAll, it then
// holds the latest version of every symbol it knows.
func (r *Receiver) Synced() bool {
	return r.Ready() && r.pending.Load() == 0
}

// Reread reads every symbol the receiver takes from the bucket again, each
// with a read that starts after this call, and passes on what is newer than
// what it holds. The channel it returns is closed once every read has
// completed; never, if ctx ends first or Run is not running. A standby
// ingest calls it once it holds the lease: the old leader has stopped by
// then, so the bucket holds every version it published, even one whose
// delta never reached this node.
func (r *Receiver) Reread(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	select {
	case r.reread <- done:
	case <-ctx.Done():
	}
	return done
}

func (r *Receiver) startReread(done chan struct{}) {
	r.rereadCh = append(r.rereadCh, done)
	for sym := range r.known {
		if !r.wanted(sym) {
			continue // an edge rereads only what its clients want
		}
		st := r.state(sym)
		if st.reread == rereadNone {
			r.rereadN++
		}
		st.reread = rereadWanted
		if !st.fetching {
			r.startFetch(sym, st) // or later, from retryAt
		}
	}
	r.rereadProgress()
}

// rereadProgress closes Reread's channels once no symbol waits for a read.
func (r *Receiver) rereadProgress() {
	if r.rereadN > 0 {
		return
	}
	for _, ch := range r.rereadCh {
		close(ch)
	}
	r.rereadCh = nil
}

func (r *Receiver) onMsg(ctx context.Context, m *nats.Msg) {
	if m.Subject == SymbolsSubject {
		sym := string(m.Data)
		if market.ValidateSymbol(sym) != nil {
			r.stats.Malformed.Add(1)
			return
		}
		r.onNames(ctx, []string{sym})
		return
	}
	sym, err := Symbol(strings.TrimPrefix(m.Subject, SubjectPrefix))
	if err != nil {
		r.stats.Malformed.Add(1)
		return
	}
	if !r.wanted(sym) {
		return // a message in flight when interest ended
	}
	epoch, obj := SplitEpoch(m.Data)
	if !r.inEpoch(ctx, epoch) {
		return
	}
	var q market.Quote
	if err := protocol.ParseVersion(&r.parser, obj, &q); err != nil || q.Symbol != sym {
		if r.stats.Malformed.Add(1) == 1 {
			r.log.Warn("cluster: malformed delta", "subject", m.Subject, "err", err)
		}
		return
	}
	r.known[sym] = true
	st := r.state(sym)
	switch {
	case q.Seq <= st.last:
		return // a duplicate, or older than a full quote already passed on
	case q.Seq == st.last+1:
		r.pass(ctx, fanout.Version{Quote: q})
		st.last = q.Seq
		r.drain(ctx, st)
	default:
		if st.last > 0 && len(st.buf) == 0 {
			// a gap opens in a symbol that was in sync; before its first
			// full quote a symbol only waits for it, which is no gap
			r.stats.Gaps.Add(1)
		}
		if len(st.buf) < maxBuffered {
			i, found := slices.BinarySearchFunc(st.buf, q.Seq, func(b market.Quote, seq uint64) int { return cmpSeq(b.Seq, seq) })
			if !found {
				st.buf = slices.Insert(st.buf, i, q)
			}
		}
		r.startFetch(sym, st)
	}
}

// inEpoch reports whether a message of the given epoch belongs to the
// stream the receiver follows, going over to it first if it is newer. A
// message without an epoch (0) belongs to any.
func (r *Receiver) inEpoch(ctx context.Context, epoch uint64) bool {
	switch {
	case epoch == 0 || epoch == r.epoch:
		return true
	case epoch < r.epoch:
		r.stats.Stale.Add(1)
		return false
	}
	old := r.epoch
	r.epoch = epoch
	r.epochAt.Store(epoch)
	if old == 0 {
		return true // the first epoch seen: nothing to drop
	}
	// a new stream: its seqs start again, so what the receiver holds of the
	// old one says nothing; every symbol is read from the bucket, where the
	// new leader wrote it before publishing
	r.stats.Epochs.Add(1)
	r.held.Store(false)
	r.log.Warn("cluster: the stream began a new epoch; every symbol is read again", "epoch", epoch, "previous", old)
	for sym, st := range r.syms {
		st.last = 0
		st.buf = st.buf[:0]
		r.startFetch(sym, st)
		st.retryAt = time.Now().Add(time.Second) // and again, once writes in flight have landed
	}
	return true
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// drain passes on the buffered deltas that now continue the seq.
func (r *Receiver) drain(ctx context.Context, st *symState) {
	n := 0
	for _, q := range st.buf {
		if q.Seq <= st.last {
			n++
			continue
		}
		if q.Seq != st.last+1 {
			break
		}
		r.pass(ctx, fanout.Version{Quote: q})
		st.last = q.Seq
		n++
	}
	st.buf = st.buf[:copy(st.buf, st.buf[n:])]
}

func (r *Receiver) pass(ctx context.Context, v fanout.Version) {
	v.Epoch = r.epoch
	r.held.Store(true)
	if v.Full {
		r.stats.Repairs.Add(1)
	} else {
		r.stats.Versions.Add(1)
	}
	r.sink.PushVersion(ctx, v) // fails only once the engine or ctx has stopped
}

func (r *Receiver) startFetch(sym string, st *symState) {
	if st.fetching {
		return
	}
	select {
	case r.fetch <- sym:
		st.fetching = true
		r.pending.Add(1)
		if st.reread == rereadWanted {
			st.reread = rereadStarted
		}
	default:
		st.retryAt = time.Now().Add(100 * time.Millisecond)
	}
}

func (r *Receiver) onFetched(ctx context.Context, res fetchResult) {
	r.pending.Add(-1)
	st := r.syms[res.symbol]
	if st == nil {
		return // nobody wants it any more
	}
	st.fetching = false
	switch {
	case st.reread == rereadStarted && res.err == nil:
		st.reread = rereadNone
		r.rereadN--
		defer r.rereadProgress()
	case st.reread == rereadWanted && res.err == nil:
		defer r.startFetch(res.symbol, st) // that read began before Reread
	}
	if res.err != nil {
		r.log.Warn("cluster: reading a quote from the bucket", "symbol", res.symbol, "err", res.err)
		st.retryAt = time.Now().Add(200 * time.Millisecond)
		return
	}
	if res.found && !r.inEpoch(ctx, res.epoch) {
		res.found = false // an older stream's value, not yet overwritten
	}
	if res.found && res.q.Seq > st.last {
		r.pass(ctx, fanout.Version{Quote: res.q, Full: true})
		st.last = res.q.Seq
		r.drain(ctx, st)
	}
	if len(st.buf) > 0 && st.retryAt.IsZero() {
		// still a gap: the bucket lags the stream by the writes in flight
		st.retryAt = time.Now().Add(50 * time.Millisecond)
	}
}

func (r *Receiver) unsubscribeAll() {
	for sym, sub := range r.subs {
		sub.Unsubscribe()
		delete(r.subs, sym)
	}
	if r.wsub != nil {
		r.wsub.Unsubscribe()
		r.wsub = nil
	}
}
