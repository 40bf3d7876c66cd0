package feeds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
)

// Coinbase is a feed of Coinbase Advanced Trade market data: the public
// WebSocket (no API key), channel ticker (or ticker_batch) for best bid and
// offer, last price and 24-hour volume, plus the heartbeats channel, which
// keeps the subscription open when a product is quiet and gives a message
// every second to judge the connection by.
//
// Every message on a connection carries sequence_num, counting up by one;
// a jump is logged and counted as a gap (the quotes that follow are full
// tickers, so the state repairs itself), an older number is skipped. A
// connection with no message for silence (default 10s, ten missed
// heartbeats) is dropped and replaced.
type Coinbase struct {
	upstream
	name      string
	channel   string
	products  []string          // venue product ids
	symbols   []string          // ours, sorted
	byProduct map[string]string // product id → ours

	p       fastjson.Parser
	quotes  []market.Quote
	haveSeq bool
	lastSeq uint64
}

func newCoinbaseFromOptions(spec, target string, o *options) (*Coinbase, error) {
	c := &Coinbase{name: "coinbase:" + target, byProduct: map[string]string{}}
	c.feedName = c.name
	if err := c.upstream.options(o, "wss://advanced-trade-ws.coinbase.com", 10*time.Second, 0); err != nil {
		return nil, err
	}
	c.channel = "ticker"
	if ch, ok := o.raw("channel"); ok {
		if ch != "ticker" && ch != "ticker_batch" {
			return nil, fmt.Errorf("feed %q: option channel=%q: want ticker or ticker_batch", spec, ch)
		}
		c.channel = ch
	}
	suffix, _ := o.raw("suffix")
	entries, err := venueEntries(spec, target)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		product := strings.ToUpper(e.venue)
		base, quote, ok := strings.Cut(product, "-")
		if !ok || !alnum(base) || !alnum(quote) {
			return nil, fmt.Errorf("feed %q: product %q: want BASE-QUOTE, e.g. BTC-USD", spec, e.venue)
		}
		ours := e.ours
		if ours == "" {
			ours = product + suffix
		}
		if err := market.ValidateSymbol(ours); err != nil {
			return nil, fmt.Errorf("feed %q: %w", spec, err)
		}
		if _, dup := c.byProduct[product]; dup {
			return nil, fmt.Errorf("feed %q: product %s given twice", spec, product)
		}
		if slices.Contains(c.symbols, ours) {
			return nil, fmt.Errorf("feed %q: two products named %s", spec, ours)
		}
		c.byProduct[product] = ours
		c.products = append(c.products, product)
		c.symbols = append(c.symbols, ours)
	}
	slices.Sort(c.symbols)
	return c, nil
}

func alnum(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Name implements Feed.
func (c *Coinbase) Name() string { return c.name }

// Symbols implements Feed.
func (c *Coinbase) Symbols() []string { return slices.Clone(c.symbols) }

// Run implements Feed: it connects, and reconnects, until ctx ends.
func (c *Coinbase) Run(ctx context.Context, sink Sink) error { return c.run(ctx, sink, c) }

func (c *Coinbase) reset() { c.haveSeq, c.lastSeq = false, 0 }

func (c *Coinbase) subscribe(ws *websocket.Conn) error {
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "channel": c.channel, "product_ids": c.products}); err != nil {
		return err
	}
	// heartbeats with the same products, as Coinbase's documentation shows
	// its subscribe request
	return ws.WriteJSON(map[string]any{"type": "subscribe", "channel": "heartbeats", "product_ids": c.products})
}

func (c *Coinbase) handle(ctx context.Context, msg []byte, now time.Time, sink Sink) (int, error) {
	if err := c.parse(msg, now); err != nil {
		return 0, err
	}
	for i := range c.quotes {
		if err := pushQuote(ctx, sink, &c.quotes[i]); err != nil {
			return i, err
		}
	}
	return len(c.quotes), nil
}

// parse reads one Coinbase message into c.quotes (empty for heartbeats,
// subscription confirmations and skipped messages).
func (c *Coinbase) parse(msg []byte, now time.Time) error {
	c.quotes = c.quotes[:0]
	v, err := c.p.ParseBytes(msg)
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return errors.New("not a JSON object")
	}
	if string(v.GetStringBytes("type")) == "error" {
		return fmt.Errorf("venue error: %s", v.GetStringBytes("message"))
	}
	channel := v.GetStringBytes("channel")
	if channel == nil {
		return errors.New(`message with no "channel"`)
	}
	if sv := v.Get("sequence_num"); sv != nil {
		seq, err := sv.Uint64()
		if err != nil {
			return errors.New(`"sequence_num" is not a sequence number`)
		}
		switch {
		case !c.haveSeq:
		case seq <= c.lastSeq:
			return fmt.Errorf("sequence_num %d after %d: old message skipped", seq, c.lastSeq)
		case seq != c.lastSeq+1:
			c.gap("sequence_num", c.lastSeq+1, seq)
		}
		c.haveSeq, c.lastSeq = true, seq
	}
	switch string(channel) {
	case "heartbeats", "subscriptions":
		return nil
	case "ticker", "ticker_batch":
	default:
		return fmt.Errorf("unexpected channel %q", channel)
	}
	ts, err := rfc3339Micros(v.GetStringBytes("timestamp"))
	if err != nil {
		return err
	}
	c.observeLag(ts, now)
	events, err := array(v, "events")
	if err != nil {
		return err
	}
	for _, ev := range events {
		tickers, err := array(ev, "tickers")
		if err != nil {
			return err
		}
		for _, t := range tickers {
			if err := c.ticker(t, ts); err != nil {
				c.quotes = c.quotes[:0]
				return err
			}
		}
	}
	return nil
}

// array returns v[key] as an array; fastjson's Get returns nil for a
// missing key, which its Array would dereference.
func array(v *fastjson.Value, key string) ([]*fastjson.Value, error) {
	a := v.Get(key)
	if a == nil {
		return nil, fmt.Errorf("missing %q", key)
	}
	out, err := a.Array()
	if err != nil {
		return nil, fmt.Errorf("%q is not an array", key)
	}
	return out, nil
}

var coinbaseFields = [...]keyedField{
	{"best_bid", market.Bid}, {"best_bid_quantity", market.BidSize},
	{"best_ask", market.Ask}, {"best_ask_quantity", market.AskSize},
	{"price", market.Last}, {"volume_24_h", market.Volume},
}

func (c *Coinbase) ticker(t *fastjson.Value, ts int64) error {
	pid := t.GetStringBytes("product_id")
	if pid == nil {
		return errors.New(`ticker without "product_id"`)
	}
	sym, ok := c.byProduct[string(pid)]
	if !ok {
		return fmt.Errorf("product %q was not subscribed", pid)
	}
	c.quotes = append(c.quotes, market.Quote{Symbol: sym, TsMicros: ts})
	q := &c.quotes[len(c.quotes)-1]
	for _, f := range coinbaseFields {
		if err := c.setDecimal(q, t, f.key, f.field, false); err != nil {
			return fmt.Errorf("%s: %w", pid, err)
		}
	}
	if q.Fields == 0 {
		return fmt.Errorf("ticker for %s with no price or size", pid)
	}
	return nil
}

// rfc3339Micros parses a venue timestamp such as 2023-02-09T20:30:37.167359596Z
// as Unix microseconds.
func rfc3339Micros(b []byte) (int64, error) {
	if b == nil {
		return 0, errors.New(`missing "timestamp"`)
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, fmt.Errorf(`"timestamp" %q is not an RFC 3339 time`, b)
	}
	us := t.UnixMicro()
	if us <= 0 {
		return 0, fmt.Errorf(`"timestamp" %q is before 1970`, b)
	}
	return us, nil
}
