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

// Binance is a feed of Binance spot market data: the public WebSocket
// streams (no API key), best bid and offer from <symbol>@bookTicker, the
// last trade from <symbol>@aggTrade or <symbol>@trade, and the 24-hour
// volume from <symbol>@ticker, on one combined-stream connection subscribed
// with the SUBSCRIBE method.
//
// Venue rules it follows: it answers the venue's pings (every 20 s) with
// pongs carrying their payload; it reconnects on its own before the venue's
// 24-hour cut (option maxage, default 23h50m) and at once when the venue
// sends serverShutdown; a connection that brings no data message for
// silence (default 60s) is dropped and replaced.
type Binance struct {
	upstream
	name     string
	symbols  []string          // ours, sorted
	streams  []string          // stream names to subscribe
	bySymbol map[string]string // venue symbol, upper case → ours
	// tickerBook, tickerTrade: the 24-hour ticker gives the book (the last
	// trade) too, since no bookTicker (no trade stream) gives it fresher.
	tickerBook, tickerTrade bool

	p     fastjson.Parser
	q     market.Quote
	lastU map[string]uint64 // bookTicker update id per symbol, this connection
}

// binanceQuoteAssets are the quote assets a Binance symbol is split on to
// name it BASE-QUOTE, longest match first.
var binanceQuoteAssets = []string{
	"FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "EURI", "DAI",
	"BTC", "ETH", "BNB", "EUR", "GBP", "TRY", "BRL", "JPY", "AUD", "ARS", "MXN", "PLN", "RON", "UAH", "ZAR", "COP", "IDR", "CZK",
	"XRP", "TRX", "DOGE", "SOL",
}

// BinanceName is the naming rule: the venue's symbol in upper case, split
// before its quote asset (the longest of binanceQuoteAssets it ends with),
// e.g. btcusdt → BTC-USDT, so the same instrument reads the same on every
// venue. A symbol with no known quote asset must be named explicitly.
func BinanceName(venueSymbol string) (string, error) {
	up := strings.ToUpper(venueSymbol)
	best := ""
	for _, qa := range binanceQuoteAssets {
		if len(qa) > len(best) && len(up) > len(qa) && strings.HasSuffix(up, qa) {
			best = qa
		}
	}
	if best == "" {
		return "", fmt.Errorf("no known quote asset at the end of %q: name it explicitly (%s=BASE-QUOTE)", venueSymbol, venueSymbol)
	}
	return up[:len(up)-len(best)] + "-" + best, nil
}

var binanceChannels = []string{"bookTicker", "aggTrade", "trade", "ticker"}

func newBinanceFromOptions(spec, target string, o *options) (*Binance, error) {
	b := &Binance{name: "binance:" + target, bySymbol: map[string]string{}, lastU: map[string]uint64{}}
	b.feedName = b.name
	if err := b.upstream.options(o, "wss://stream.binance.com:9443/stream", 60*time.Second, 23*time.Hour+50*time.Minute); err != nil {
		return nil, err
	}
	chs := []string{"bookTicker", "aggTrade", "ticker"}
	if raw, ok := o.raw("channels"); ok {
		chs = strings.Split(raw, ",")
		for _, ch := range chs {
			if !slices.Contains(binanceChannels, ch) {
				return nil, fmt.Errorf("feed %q: option channels: unknown channel %q (want some of %s)", spec, ch, strings.Join(binanceChannels, ","))
			}
		}
		if slices.Contains(chs, "aggTrade") && slices.Contains(chs, "trade") {
			return nil, fmt.Errorf("feed %q: option channels: aggTrade and trade both carry the last trade; pick one", spec)
		}
	}
	if slices.Contains(chs, "ticker") {
		b.tickerBook = !slices.Contains(chs, "bookTicker")
		b.tickerTrade = !slices.Contains(chs, "aggTrade") && !slices.Contains(chs, "trade")
	}
	suffix, _ := o.raw("suffix")
	entries, err := venueEntries(spec, target)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		for _, c := range e.venue {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, fmt.Errorf("feed %q: symbol %q: Binance symbols are letters and digits", spec, e.venue)
			}
		}
		ours := e.ours
		if ours == "" {
			if ours, err = BinanceName(e.venue); err != nil {
				return nil, fmt.Errorf("feed %q: %w", spec, err)
			}
			ours += suffix
		}
		if err := market.ValidateSymbol(ours); err != nil {
			return nil, fmt.Errorf("feed %q: %w", spec, err)
		}
		key := strings.ToUpper(e.venue)
		if _, dup := b.bySymbol[key]; dup {
			return nil, fmt.Errorf("feed %q: symbol %s given twice", spec, e.venue)
		}
		if slices.Contains(b.symbols, ours) {
			return nil, fmt.Errorf("feed %q: two symbols named %s", spec, ours)
		}
		b.bySymbol[key] = ours
		b.symbols = append(b.symbols, ours)
		for _, ch := range chs {
			b.streams = append(b.streams, strings.ToLower(e.venue)+"@"+ch)
		}
	}
	if len(b.streams) > 1024 {
		return nil, fmt.Errorf("feed %q: %d streams; Binance allows 1024 per connection (split the symbols over several feeds)", spec, len(b.streams))
	}
	slices.Sort(b.symbols)
	return b, nil
}

// Name implements Feed.
func (b *Binance) Name() string { return b.name }

// Symbols implements Feed.
func (b *Binance) Symbols() []string { return slices.Clone(b.symbols) }

// Run implements Feed: it connects, and reconnects, until ctx ends.
func (b *Binance) Run(ctx context.Context, sink Sink) error { return b.run(ctx, sink, b) }

func (b *Binance) reset() { clear(b.lastU) }

func (b *Binance) subscribe(ws *websocket.Conn) error {
	return ws.WriteJSON(map[string]any{"method": "SUBSCRIBE", "params": b.streams, "id": 1})
}

func (b *Binance) handle(ctx context.Context, msg []byte, now time.Time, sink Sink) (int, error) {
	ok, err := b.parse(msg, now)
	if err != nil || !ok {
		return 0, err
	}
	if err := pushQuote(ctx, sink, &b.q); err != nil {
		return 0, err
	}
	return 1, nil
}

// parse reads one Binance message. It reports true when b.q holds a quote
// to push; false with no error for acks and stale book updates.
func (b *Binance) parse(msg []byte, now time.Time) (bool, error) {
	v, err := b.p.ParseBytes(msg)
	if err != nil {
		return false, fmt.Errorf("not JSON: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return false, errors.New("not a JSON object")
	}
	if v.Exists("id") && !v.Exists("stream") {
		if e := v.Get("error"); e != nil {
			return false, fmt.Errorf("venue refused a request: code %d: %s", e.GetInt("code"), e.GetStringBytes("msg"))
		}
		return false, nil // {"result":null,"id":1}: subscribed
	}
	data := v
	if d := v.Get("data"); d != nil {
		data = d
	}
	if data.Type() != fastjson.TypeObject {
		return false, errors.New(`"data" is not an object`)
	}
	event := data.GetStringBytes("e")
	switch {
	case string(event) == "serverShutdown":
		return false, fmt.Errorf("serverShutdown: %w", errReconnect)
	case string(event) == "bookTicker", event == nil && data.Exists("u") && data.Exists("b"):
		return b.parseBook(data, now)
	case string(event) == "aggTrade", string(event) == "trade":
		if err := b.parseTrade(data, now); err != nil {
			return false, err
		}
		return true, nil
	case string(event) == "24hrTicker":
		if err := b.parse24hr(data, now); err != nil {
			return false, err
		}
		return true, nil
	case event == nil:
		return false, errors.New("message with no event type")
	}
	return false, fmt.Errorf("unexpected event type %q", event)
}

func (b *Binance) symbolOf(data *fastjson.Value) (string, error) {
	s := data.GetStringBytes("s")
	if s == nil {
		return "", errors.New(`missing "s"`)
	}
	ours, ok := b.bySymbol[string(s)]
	if !ok {
		return "", fmt.Errorf("symbol %q was not subscribed", s)
	}
	return ours, nil
}

// eventMicros reads a Binance time (milliseconds, or microseconds with
// timeUnit=MICROSECOND in the URL) as Unix microseconds.
func eventMicros(v *fastjson.Value, key string) (int64, bool, error) {
	f := v.Get(key)
	if f == nil {
		return 0, false, nil
	}
	n, err := f.Int64()
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%q is not a positive integer time", key)
	}
	if n < 100_000_000_000_000 { // milliseconds (until the year 5138)
		n *= 1000
	}
	return n, true, nil
}

func (b *Binance) parseBook(data *fastjson.Value, now time.Time) (bool, error) {
	sym, err := b.symbolOf(data)
	if err != nil {
		return false, err
	}
	uv := data.Get("u")
	if uv == nil {
		return false, errors.New(`missing "u"`)
	}
	u, err := uv.Uint64()
	if err != nil {
		return false, errors.New(`"u" is not an update id`)
	}
	b.q = market.Quote{Symbol: sym}
	for _, f := range binanceBook {
		if err := b.setDecimal(&b.q, data, f.key, f.field, true); err != nil {
			return false, err
		}
	}
	ts, has, err := eventMicros(data, "E")
	if err != nil {
		return false, err
	}
	if has {
		b.observeLag(ts, now)
	} else {
		ts = now.UnixMicro() // spot bookTicker carries no time: stamped on arrival
	}
	b.q.TsMicros = ts
	if last, seen := b.lastU[sym]; seen && u <= last {
		return false, nil // older than what we have: a book update that arrived late
	}
	b.lastU[sym] = u
	return true, nil
}

func (b *Binance) parseTrade(data *fastjson.Value, now time.Time) error {
	sym, err := b.symbolOf(data)
	if err != nil {
		return err
	}
	b.q = market.Quote{Symbol: sym}
	if err := b.setDecimal(&b.q, data, "p", market.Last, true); err != nil {
		return err
	}
	if err := b.setDecimal(&b.q, data, "q", market.LastSize, true); err != nil {
		return err
	}
	ts, has, err := eventMicros(data, "T")
	if err != nil {
		return err
	}
	e, hasE, err := eventMicros(data, "E")
	if err != nil {
		return err
	}
	switch {
	case hasE:
		b.observeLag(e, now)
		if !has {
			ts = e
		}
	case !has:
		return errors.New(`trade with neither "T" nor "E"`)
	}
	b.q.TsMicros = ts
	return nil
}

// keyedField is a quote field and the key a venue message gives it under.
type keyedField struct {
	key   string
	field market.Field
}

var (
	// binanceBook: the book's keys, in bookTicker and the 24-hour ticker alike.
	binanceBook = [...]keyedField{{"b", market.Bid}, {"B", market.BidSize}, {"a", market.Ask}, {"A", market.AskSize}}
	// binance24hrTrade: the 24-hour ticker's last trade.
	binance24hrTrade = [...]keyedField{{"c", market.Last}, {"Q", market.LastSize}}
)

// parse24hr reads a 24-hour ticker (<symbol>@ticker, pushed once a second):
// the base asset's traded volume v, stamped with the event time E; and the
// book (b B a A) and last trade (c Q) when no other stream gives them.
func (b *Binance) parse24hr(data *fastjson.Value, now time.Time) error {
	sym, err := b.symbolOf(data)
	if err != nil {
		return err
	}
	b.q = market.Quote{Symbol: sym}
	if err := b.setDecimal(&b.q, data, "v", market.Volume, true); err != nil {
		return err
	}
	if b.tickerBook {
		for _, f := range binanceBook {
			if err := b.setDecimal(&b.q, data, f.key, f.field, true); err != nil {
				return err
			}
		}
	}
	if b.tickerTrade {
		for _, f := range binance24hrTrade {
			if err := b.setDecimal(&b.q, data, f.key, f.field, true); err != nil {
				return err
			}
		}
	}
	ts, has, err := eventMicros(data, "E")
	if err != nil {
		return err
	}
	if !has {
		return errors.New(`24-hour ticker without "E"`)
	}
	b.observeLag(ts, now)
	b.q.TsMicros = ts
	return nil
}

// setDecimal sets field from the decimal string at key. A missing key is an
// error when required; an empty string counts as missing. A negative size
// is an error, and so is a negative price unless the venue's instruments
// can trade below zero (u.negativePrices).
func (u *upstream) setDecimal(q *market.Quote, v *fastjson.Value, key string, field market.Field, required bool) error {
	f := v.Get(key)
	if f == nil {
		if required {
			return fmt.Errorf("missing %q", key)
		}
		return nil
	}
	s, err := f.StringBytes()
	if err != nil {
		return fmt.Errorf("%q must be a decimal string, not %s", key, f.Type())
	}
	if len(s) == 0 {
		if required {
			return fmt.Errorf("empty %q", key)
		}
		return nil
	}
	d, err := market.ParseDecimal(s)
	if err != nil {
		return fmt.Errorf("%q: %w", key, err)
	}
	if d.Sign() < 0 && (field.IsSize() || !u.negativePrices) {
		return fmt.Errorf("%q is negative", key)
	}
	q.Set(field, d)
	return nil
}

// venueEntry is one symbol of a venue feed's target: the venue's name and,
// if given as venue=NAME, ours.
type venueEntry struct{ venue, ours string }

func venueEntries(spec, target string) ([]venueEntry, error) {
	if target == "" {
		return nil, fmt.Errorf("feed %q: no symbols (e.g. binance:btcusdt,ethusdt)", spec)
	}
	var out []venueEntry
	for _, item := range strings.Split(target, ",") {
		venue, ours, _ := strings.Cut(item, "=")
		if venue == "" {
			return nil, fmt.Errorf("feed %q: empty symbol in the list", spec)
		}
		out = append(out, venueEntry{venue: venue, ours: ours})
	}
	return out, nil
}
