// Package client is a Go client of ticker's WebSocket API (ticker.v1) for
// trading bots.
//
// It keeps a local book of the latest quote of every subscribed symbol.
// It reconnects with exponential backoff and jitter, subscribes again
// after every reconnect, and checks every symbol's seq. When a seq
// skips, it resubscribes that symbol, which brings a fresh snapshot. When
// a subscribed ack or a snapshot carries a new epoch (the stream started again, its seqs from
// 1: every node lost its state, or a single server restarted), it drops
// the whole book, reports NewEpoch, and takes the snapshot and the updates
// that follow as the new stream's. The bot sees decimals as
// shopspring/decimal values, never floats.
//
//	c := client.New(client.Options{URL: "ws://localhost:8080/ws", Symbols: []string{"BTC-USD"},
//		OnUpdate: func(u client.Update) { fmt.Println(u.Quote.Symbol, u.Quote.Bid.Decimal) }})
//	err := c.Run(ctx) // until ctx ends
//
// Goroutines: Run owns one reading loop per connection and returns when
// ctx ends; callbacks run on that loop, one at a time.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/shopspring/decimal"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
	"github.com/valyala/fastjson"
)

// Options configure a Client. URL is required.
type Options struct {
	URL     string   // the server's WebSocket endpoint, ws://host:port/ws or wss://…
	Token   string   // sent as "Authorization: Bearer" when set
	Symbols []string // subscribed on every connection; "*" for every symbol
	// NoDeflate turns permessage-deflate off (it is on by default).
	NoDeflate bool
	// MinBackoff and MaxBackoff bound the wait before a reconnect: it
	// doubles from MinBackoff (default 250ms) up to MaxBackoff (default
	// 30s), with full jitter, and starts over once a connection has
	// delivered data.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout closes a connection that received nothing (data or
	// ping) this long; the server pings every 15 s. Default 45s.
	IdleTimeout time.Duration
	// TokenFunc, when set, is called before every connection (and Bars
	// request) for the token to send, in place of Token: for short-lived
	// JWTs, whose connection the server closes with 4001 "token expired"
	// at their exp. An error fails that attempt, which is retried.
	TokenFunc func(ctx context.Context) (string, error)
	// Every asks for conflated updates: at most one per symbol per Every,
	// each carrying the net change since the last (Update.From is then
	// the first seq it covers). Whole milliseconds, a multiple of the
	// server's coalescing window, at most 60s; zero: every window. The
	// server refuses another value (OnError, bad_request; on connect, a
	// 400 that ends Run).
	Every time.Duration

	OnUpdate func(Update)      // a symbol's quote changed (snapshot or update)
	OnStatus func(Status)      // connected, disconnected, resyncing
	OnError  func(ServerError) // the server refused a request (unknown_symbol, …)
	Log      *slog.Logger
}

// Quote is a symbol's state at a version. A field the feed never gave is
// not Valid. In a delta, only the fields that changed are Valid.
type Quote struct {
	Symbol string
	Seq    uint64
	Time   time.Time // the event time of the latest change (ts)
	// Stale: the feed of the symbol is down, and the values are the last
	// it gave (Time still says when they changed). A later quote from the
	// feed clears it. In a Delta it is the staleness after the change,
	// whether or not the change was to it.
	Stale    bool
	Bid      decimal.NullDecimal
	BidSize  decimal.NullDecimal
	Ask      decimal.NullDecimal
	AskSize  decimal.NullDecimal
	Last     decimal.NullDecimal
	LastSize decimal.NullDecimal
	Volume   decimal.NullDecimal
}

// Update is one change of one symbol.
type Update struct {
	Quote Quote // the full quote after the change
	Delta Quote // what changed (for a snapshot, the whole quote)
	// From is the first seq the change covers, Delta.Seq the last: the
	// same but for a conflated update (Options.Every), which covers every
	// version since the one before. The client checks that From follows
	// the seq it had.
	From     uint64
	Snapshot bool // the quote was replaced by a snapshot (subscribe or resync)
	Reason   string
}

// StatusKind says what happened to the connection.
type StatusKind int

// The connection's states.
const (
	Connected    StatusKind = iota // a connection is up and subscribed
	Disconnected                   // the connection ended; a reconnect follows after Wait
	Resyncing                      // a seq gap: Symbols are being resubscribed
	NewEpoch                       // the stream started again (Epoch): the book was dropped, the new stream's quotes follow
)

// Status reports a change of the connection.
type Status struct {
	Kind    StatusKind
	Err     error         // why it disconnected
	Wait    time.Duration // until the next attempt
	Symbols []string      // resyncing these
	Epoch   uint64        // the new epoch (NewEpoch)
}

// ServerError is an error message from the server.
type ServerError struct {
	Code    string
	Message string
	Symbols []string
}

// Error formats the code, message and symbols.
func (e ServerError) Error() string {
	return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Symbols)
}

// Client is a reconnecting ticker.v1 client. Create it with New and call
// Run once.
type Client struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	book    map[string]Quote
	symbols []string
	ws      *websocket.Conn
	wmu     sync.Mutex // serializes writes
	nextID  int
	gaps    int
	epoch   uint64 // of the stream the book holds (0: none announced)
}

// New returns a client; nothing happens until Run.
func New(opts Options) *Client {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 45 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, log: log, book: map[string]Quote{}, symbols: slices.Clone(opts.Symbols)}
}

// Book returns a copy of the latest quote of every symbol.
func (c *Client) Book() map[string]Quote {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Quote, len(c.book))
	for k, v := range c.book {
		out[k] = v
	}
	return out
}

// Quote returns the latest quote of symbol.
func (c *Client) Quote(symbol string) (Quote, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.book[symbol]
	return q, ok
}

// Epoch returns the epoch of the stream the book holds (0: the server
// announced none).
func (c *Client) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// Gaps returns how many seq gaps the client has seen (and repaired).
func (c *Client) Gaps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gaps
}

// Subscribe adds symbols, now if connected and on every reconnect.
func (c *Client) Subscribe(symbols ...string) error {
	c.mu.Lock()
	for _, s := range symbols {
		if !slices.Contains(c.symbols, s) {
			c.symbols = append(c.symbols, s)
		}
	}
	c.mu.Unlock()
	return c.send(protocol.OpSubscribe, symbols)
}

// Unsubscribe removes symbols and drops them from the book.
func (c *Client) Unsubscribe(symbols ...string) error {
	c.mu.Lock()
	c.symbols = slices.DeleteFunc(c.symbols, func(s string) bool { return slices.Contains(symbols, s) })
	for _, s := range symbols {
		delete(c.book, s)
	}
	c.mu.Unlock()
	return c.send(protocol.OpUnsubscribe, symbols)
}

// ErrNotConnected is returned by Subscribe and Unsubscribe between
// connections; the change still applies from the next connection on.
var ErrNotConnected = errors.New("ticker client: not connected")

func (c *Client) send(op string, symbols []string) error {
	c.mu.Lock()
	ws := c.ws
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	if ws == nil {
		return ErrNotConnected
	}
	every := ""
	if op == protocol.OpSubscribe && c.opts.Every > 0 {
		every = everyText(c.opts.Every)
	}
	msg := protocol.AppendRequest(nil, op, uint64(id), every, symbols)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteMessage(websocket.TextMessage, msg)
}

// Run connects, and reconnects, until ctx ends; it returns ctx's error.
// A refused handshake (400, 401, 403, 404) ends it at once with that error,
// since retrying would not help.
func (c *Client) Run(ctx context.Context) error {
	attempt := 0
	for {
		delivered, err := c.connection(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var hs *HandshakeError
		if errors.As(err, &hs) && (hs.Status == 400 || hs.Status == 401 || hs.Status == 403 || hs.Status == 404) {
			return err
		}
		if delivered {
			attempt = 0
		}
		wait := backoff(c.opts.MinBackoff, c.opts.MaxBackoff, attempt)
		attempt++
		c.log.Info("ticker client: disconnected", "err", err, "retry_in", wait)
		if c.opts.OnStatus != nil {
			c.opts.OnStatus(Status{Kind: Disconnected, Err: err, Wait: wait})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// backoff is a random wait in [0, min(hi, lo·2ⁿ)] (full jitter).
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// token returns the token to send: TokenFunc's, else Token.
func (c *Client) token(ctx context.Context) (string, error) {
	if c.opts.TokenFunc == nil {
		return c.opts.Token, nil
	}
	tok, err := c.opts.TokenFunc(ctx)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

// HandshakeError is a refused WebSocket handshake.
type HandshakeError struct {
	Status int
	Body   string
}

// Error says the status and the server's reason.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: %d %s", e.Status, strings.TrimSpace(e.Body))
}

// connection runs one connection; delivered reports whether it got data.
func (c *Client) connection(ctx context.Context) (delivered bool, err error) {
	c.mu.Lock()
	syms := slices.Clone(c.symbols)
	c.mu.Unlock()
	u := c.opts.URL
	if len(syms) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "symbols=" + url.QueryEscape(strings.Join(syms, ","))
		if c.opts.Every > 0 {
			u += "&every=" + everyText(c.opts.Every)
		}
	}
	h := http.Header{}
	tok, err := c.token(ctx)
	if err != nil {
		return false, err
	}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	d := websocket.Dialer{EnableCompression: !c.opts.NoDeflate, Subprotocols: []string{"ticker.v1"}, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			var body [512]byte
			n, _ := resp.Body.Read(body[:])
			return false, &HandshakeError{Status: resp.StatusCode, Body: string(body[:n])}
		}
		return false, err
	}
	ws.SetReadLimit(64 << 20)
	c.mu.Lock()
	c.ws = ws
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer func() {
		stop()
		c.mu.Lock()
		c.ws = nil
		c.mu.Unlock()
		ws.Close()
	}()
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	if c.opts.OnStatus != nil {
		c.opts.OnStatus(Status{Kind: Connected})
	}
	c.log.Info("ticker client: connected", "url", c.opts.URL, "symbols", len(syms))
	r := reader{c: c, resyncing: map[string]bool{}, fresh: map[string]bool{}}
	for {
		ws.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		_, data, err := ws.ReadMessage()
		if err != nil {
			return delivered, err
		}
		got, err := r.handle(data)
		if err != nil {
			return delivered, err
		}
		delivered = delivered || got
	}
}

// reader applies one connection's messages to the book.
type reader struct {
	c         *Client
	p         fastjson.Parser
	resyncing map[string]bool // symbols resubscribed after a gap, until their snapshot
	fresh     map[string]bool // symbols snapshotted on this connection
}

func (r *reader) handle(data []byte) (delivered bool, err error) {
	v, err := r.p.ParseBytes(data)
	if err != nil {
		return false, fmt.Errorf("server sent bad JSON: %v", err)
	}
	switch typ := string(v.GetStringBytes("type")); typ {
	case protocol.TypeSubscribed:
		r.epoch(v.GetUint64("epoch"))
		return false, nil
	case protocol.TypeSnapshot:
		reason := string(v.GetStringBytes("reason"))
		r.epoch(v.GetUint64("epoch"))
		for _, qv := range v.GetArray("quotes") {
			q, err := decodeQuote(qv)
			if err != nil {
				return false, err
			}
			delete(r.resyncing, q.Symbol)
			r.fresh[q.Symbol] = true
			r.c.mu.Lock()
			r.c.book[q.Symbol] = q
			r.c.mu.Unlock()
			if r.c.opts.OnUpdate != nil {
				r.c.opts.OnUpdate(Update{Quote: q, Delta: q, From: q.Seq, Snapshot: true, Reason: reason})
			}
		}
		return true, nil
	case protocol.TypeUpdate:
		var gapped []string
		for _, dv := range v.GetArray("quotes") {
			d, err := decodeQuote(dv)
			if err != nil {
				return false, err
			}
			staleGiven := dv.Get("stale") != nil
			from := d.Seq
			if dv.Exists("from") {
				if from = dv.GetUint64("from"); from == 0 || from > d.Seq {
					return false, fmt.Errorf("server sent an update from seq %d to %d: %s", from, d.Seq, dv)
				}
			}
			if r.resyncing[d.Symbol] {
				continue // its snapshot is on the way
			}
			r.c.mu.Lock()
			q, ok := r.c.book[d.Symbol]
			switch {
			case (!ok || !r.fresh[d.Symbol]) && from == 1:
				q = Quote{Symbol: d.Symbol}
				r.fresh[d.Symbol] = true
			case !ok || !r.fresh[d.Symbol] || from != q.Seq+1:
				r.c.gaps++
				r.c.mu.Unlock()
				gapped = append(gapped, d.Symbol)
				r.resyncing[d.Symbol] = true
				continue
			}
			q = apply(q, d, staleGiven)
			d.Stale = q.Stale
			r.c.book[d.Symbol] = q
			r.c.mu.Unlock()
			if r.c.opts.OnUpdate != nil {
				r.c.opts.OnUpdate(Update{Quote: q, Delta: d, From: from})
			}
		}
		if len(gapped) > 0 {
			// unsubscribing and subscribing again brings a fresh snapshot
			if r.c.opts.OnStatus != nil {
				r.c.opts.OnStatus(Status{Kind: Resyncing, Symbols: gapped})
			}
			again := r.resubscription(gapped)
			if err := r.c.send(protocol.OpUnsubscribe, again); err != nil {
				return true, err
			}
			if err := r.c.send(protocol.OpSubscribe, again); err != nil {
				return true, err
			}
		}
		return true, nil
	case protocol.TypeError:
		if r.c.opts.OnError != nil {
			e := ServerError{Code: string(v.GetStringBytes("code")), Message: string(v.GetStringBytes("message"))}
			for _, s := range v.GetArray("symbols") {
				e.Symbols = append(e.Symbols, string(s.GetStringBytes()))
			}
			r.c.opts.OnError(e)
		}
	}
	return false, nil
}

// resubscription is what to unsubscribe and subscribe again to get gapped
// symbols a fresh snapshot: the symbols themselves, or, on a client
// subscribed to "*", "*" (under which a symbol's own subscribe brings no
// snapshot) with those of them also subscribed by name.
func (r *reader) resubscription(gapped []string) []string {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if !slices.Contains(r.c.symbols, "*") {
		return gapped
	}
	again := []string{"*"}
	for _, s := range gapped {
		if slices.Contains(r.c.symbols, s) {
			again = append(again, s)
		}
	}
	return again
}

// fields are q's decimals in market's wire order (market.Bid … market.Volume).
func (q *Quote) fields() [market.NumFields]*decimal.NullDecimal {
	return [market.NumFields]*decimal.NullDecimal{&q.Bid, &q.BidSize, &q.Ask, &q.AskSize, &q.Last, &q.LastSize, &q.Volume}
}

func decodeQuote(v *fastjson.Value) (Quote, error) {
	q := Quote{Symbol: string(v.GetStringBytes("s")), Seq: v.GetUint64("seq")}
	if q.Symbol == "" || q.Seq == 0 {
		return q, fmt.Errorf("server sent a quote without s or seq: %s", v)
	}
	if ts := v.GetInt64("ts"); ts > 0 {
		q.Time = time.UnixMicro(ts)
	}
	q.Stale = v.GetBool("stale")
	for i, f := range q.fields() {
		b := v.GetStringBytes(market.Field(i).Name())
		if b == nil {
			continue
		}
		d, err := decimal.NewFromString(string(b))
		if err != nil {
			return q, fmt.Errorf("%s %s: %v", q.Symbol, market.Field(i).Name(), err)
		}
		*f = decimal.NullDecimal{Decimal: d, Valid: true}
	}
	return q, nil
}

// everyText writes an interval as the server reads "every": whole
// seconds as "1s", else milliseconds.
func everyText(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// apply folds delta d into q; staleGiven says whether d said "stale" (a
// delta says it only when it changes).
func apply(q, d Quote, staleGiven bool) Quote {
	q.Seq, q.Time = d.Seq, d.Time
	if staleGiven {
		q.Stale = d.Stale
	}
	qf, df := q.fields(), d.fields()
	for i := range qf {
		if df[i].Valid {
			*qf[i] = *df[i]
		}
	}
	return q
}

// Spread returns ask − bid, and whether both are known.
func (q Quote) Spread() (decimal.Decimal, bool) {
	if !q.Bid.Valid || !q.Ask.Valid {
		return decimal.Decimal{}, false
	}
	return q.Ask.Decimal.Sub(q.Bid.Decimal), true
}

// epoch takes the stream's epoch from a subscribed ack or a snapshot (0:
// none announced). Another epoch than the book's is a new stream: its seqs
// start again and nothing held is comparable, so the book is dropped and
// NewEpoch reported before what the message carries is applied.
func (r *reader) epoch(epoch uint64) {
	if epoch == 0 {
		return
	}
	r.c.mu.Lock()
	renewed := r.c.epoch != 0 && epoch != r.c.epoch
	r.c.epoch = epoch
	if renewed {
		clear(r.c.book)
	}
	r.c.mu.Unlock()
	if !renewed {
		return
	}
	clear(r.fresh)
	clear(r.resyncing)
	r.c.log.Info("ticker client: the stream began a new epoch; book dropped", "epoch", epoch)
	if r.c.opts.OnStatus != nil {
		r.c.opts.OnStatus(Status{Kind: NewEpoch, Epoch: epoch})
	}
}
