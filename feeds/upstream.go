package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/stats"
)

// venue is what an upstream session needs from one exchange's adapter: how
// to subscribe on a fresh connection and how to read its messages.
type venue interface {
	// subscribe sends the subscribe requests on a new connection.
	subscribe(ws *websocket.Conn) error
	// reset forgets per-connection state (sequence numbers) before a new
	// connection's first message.
	reset()
	// handle parses one message and pushes its quotes into sink, reporting
	// how many it pushed (acks and heartbeats push none). A returned error
	// wrapping errReconnect ends the session at once; any other error means
	// the message was malformed or unexpected and is skipped.
	handle(ctx context.Context, msg []byte, now time.Time, sink Sink) (quotes int, err error)
}

// errReconnect marks a message that asks for a new connection (a venue
// announcing its shutdown).
var errReconnect = errors.New("venue asked to reconnect")

// errPush wraps a failure to push into the sink (ring closed, ctx ended):
// the feed must stop, not skip.
type errPush struct{ err error }

func (e errPush) Error() string { return e.err.Error() }
func (e errPush) Unwrap() error { return e.err }

// lagBounds are the buckets of the venue-to-ingest lag, in seconds.
var lagBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

// upstream owns the connection to one venue: it dials, subscribes, reads
// until the connection fails, goes silent or reaches its maximum age, then
// reconnects with exponential backoff and jitter, forever, until its
// context ends. Its counters are safe to read from any goroutine.
type upstream struct {
	feedName   string
	url        string
	silence    time.Duration // no data message for this long: reconnect
	maxAge     time.Duration // reconnect before the venue cuts a connection this old; 0: never
	backoffMin time.Duration
	backoffMax time.Duration
	// negativePrices is set by a venue whose instruments can trade below
	// zero (some futures). For a spot venue it stays false, and a negative
	// price is bad input: counted and skipped.
	negativePrices bool
	log            *slog.Logger

	messages   atomic.Uint64
	reconnects atomic.Uint64
	seqGaps    atomic.Uint64
	connected  atomic.Bool
	lastMsg    atomic.Int64 // unix nanoseconds of the last message
	lag        stats.Histogram

	stale staleness // marks the feed's symbols stale while it is down (stale.go)
}

// upstreamOptions reads the options every venue feed shares.
func (u *upstream) options(o *options, defaultURL string, defaultSilence, defaultMaxAge time.Duration) error {
	raw, ok := o.raw("url")
	if !ok {
		raw = defaultURL
	}
	pu, err := url.Parse(raw)
	if err != nil || (pu.Scheme != "ws" && pu.Scheme != "wss") || pu.Host == "" {
		return fmt.Errorf("feed %q: option url=%q: want a ws:// or wss:// URL", o.spec, raw)
	}
	u.url = raw
	if u.silence, err = o.duration("silence", defaultSilence, 100*time.Millisecond, time.Hour); err != nil {
		return err
	}
	if u.maxAge, err = o.duration("maxage", defaultMaxAge, 0, 7*24*time.Hour); err != nil {
		return err
	}
	if u.backoffMin, err = o.duration("backoff", 500*time.Millisecond, 10*time.Millisecond, time.Minute); err != nil {
		return err
	}
	if u.backoffMax, err = o.duration("maxbackoff", 30*time.Second, u.backoffMin, 10*time.Minute); err != nil {
		return err
	}
	u.lag.Bounds = lagBounds
	u.log = slog.Default()
	return nil
}

// SetLogger sets the logger for connection events.
func (u *upstream) SetLogger(l *slog.Logger) { u.log = l }

// markStale makes the feed mark symbols stale once it has been down for
// after (0: at once). The Set calls it; a feed run without one marks none.
func (u *upstream) markStale(after time.Duration, symbols []string) {
	u.stale.after, u.stale.symbols = after, symbols
}

// Upstream reports the connection's health and counters.
func (u *upstream) Upstream() UpstreamStatus {
	st := UpstreamStatus{
		Connected:  u.connected.Load(),
		Messages:   u.messages.Load(),
		Reconnects: u.reconnects.Load(),
		SeqGaps:    u.seqGaps.Load(),
		Lag:        &u.lag,
	}
	if ns := u.lastMsg.Load(); ns != 0 {
		st.LastMessage = time.Unix(0, ns)
	}
	return st
}

// observeLag records the delay from a venue's event time to now.
func (u *upstream) observeLag(eventMicros int64, now time.Time) {
	u.lag.Observe(now.Sub(time.UnixMicro(eventMicros)))
}

// gap counts and logs a sequence gap.
func (u *upstream) gap(what string, want, got uint64) {
	u.seqGaps.Add(1)
	u.log.Warn("upstream sequence gap", "feed", u.feedName, "sequence", what, "want", want, "got", got)
}

// run keeps sessions going until ctx ends. It returns nil then, or the
// sink's error if pushing failed. A connection's end starts the wait before
// the feed's symbols are marked stale; its next quote ends it.
func (u *upstream) run(ctx context.Context, sink Sink, v venue) error {
	u.stale.name, u.stale.log = u.feedName, u.log
	defer u.stale.close()
	ss := staleSink{Sink: sink, st: &u.stale}
	failures := 0
	for {
		delivered, err := u.session(ctx, ss, v)
		u.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		var pe errPush
		if errors.As(err, &pe) {
			return pe.err
		}
		if err := u.stale.lost(ctx, sink); err != nil {
			return err
		}
		if delivered {
			failures = 0
		}
		delay := time.Duration(0)
		switch {
		case errors.Is(err, errMaxAge), errors.Is(err, errReconnect):
			u.log.Info("upstream reconnecting", "feed", u.feedName, "reason", err)
		default:
			delay = backoff(u.backoffMin, u.backoffMax, failures)
			failures++
			u.log.Warn("upstream connection lost", "feed", u.feedName, "err", err, "retry_in", delay.Round(time.Millisecond))
		}
		u.reconnects.Add(1)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

var errMaxAge = errors.New("connection reached its maximum age")

// maxUpstreamMessage bounds one message from a venue.
const maxUpstreamMessage = 1 << 20

// session runs one connection. delivered reports whether it brought at
// least one quote, which resets the backoff: a venue that acknowledges the
// subscription and then closes is a failed connection, so its redials
// slow down (Binance limits connection attempts per IP).
func (u *upstream) session(ctx context.Context, sink Sink, v venue) (delivered bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, EnableCompression: false}
	ws, resp, err := d.DialContext(dctx, u.url, nil)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("dial %s: %w (HTTP %d)", u.url, err, resp.StatusCode)
		}
		return false, fmt.Errorf("dial %s: %w", u.url, err)
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	ws.SetReadLimit(maxUpstreamMessage)
	v.reset()
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := v.subscribe(ws); err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	start := time.Now()
	for {
		deadline := time.Now().Add(u.silence)
		aged := false
		if u.maxAge > 0 && deadline.After(start.Add(u.maxAge)) {
			deadline, aged = start.Add(u.maxAge), true
		}
		ws.SetReadDeadline(deadline)
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case ctx.Err() != nil:
				return delivered, ctx.Err()
			case errors.As(err, &ne) && ne.Timeout() && aged:
				return delivered, errMaxAge
			case errors.As(err, &ne) && ne.Timeout():
				return delivered, fmt.Errorf("upstream silent for %v", u.silence)
			}
			return delivered, err
		}
		now := time.Now()
		u.messages.Add(1)
		u.lastMsg.Store(now.UnixNano())
		u.connected.Store(true)
		if kind != websocket.TextMessage {
			sink.Malformed(fmt.Errorf("binary message of %d bytes", len(msg)))
			continue
		}
		n, err := v.handle(ctx, msg, now, sink)
		delivered = delivered || n > 0
		if err != nil {
			var pe errPush
			if errors.As(err, &pe) || errors.Is(err, errReconnect) {
				return delivered, err
			}
			sink.Malformed(err)
		}
	}
}

// backoff returns the wait before reconnect attempt n (0-based): doubling
// from min up to max, with full jitter over its upper half.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// pushQuote pushes q, wrapping a failure so the session stops.
func pushQuote(ctx context.Context, sink Sink, q *market.Quote) error {
	if err := sink.Push(ctx, q); err != nil {
		return errPush{err}
	}
	return nil
}
