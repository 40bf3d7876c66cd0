package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/ws"
)

// conn is one WebSocket connection. Its handler's goroutine reads; writing
// is done by a flusher goroutine that exists only while there is something
// to write (see kick), so an idle connection costs one goroutine.
type conn struct {
	s      *Server
	sock   sockets
	br     *bufio.Reader // reads the hijacked connection (fasthttp may hold bytes read ahead)
	client *fanout.Client
	parser fastjson.Parser
	limit  *rateLimiter

	writing  atomic.Bool    // a flusher runs (or writing has ended for good)
	flushers sync.WaitGroup // the handler waits for them before returning
	bufs     [][]byte       // the running flusher's
	nb       net.Buffers    // the running flusher's: what write has left to write
	deadline time.Time      // the running flusher's: the write deadline it set last
	done     chan struct{}  // closed once the close frame is written or writing failed
	doneOnce sync.Once
	lastPing time.Time // owned by the server's ping sweeper, under Server.mu

	written      atomic.Uint64 // bytes handed to the kernel by the flushers
	writeSince   atomic.Int64  // when the running write began (Unix ns); 0 when none runs
	watch        watch         // the sweeper's
	slow         atomic.Bool   // closed as a slow consumer, or a write failed: cut the socket
	forceOnce    sync.Once
	closeCounted atomic.Bool // the close code went into ticker_closes_total
	answering    bool        // the reader's: the peer is talking, so its close reply is worth waiting for
	engineErr    bool        // the handler's: an engine command failed and was logged
	events       *events     // an event stream's encoder (sse.go); nil for a WebSocket
}

// readBufferBytes buffers a connection's reads: client messages are small.
const readBufferBytes = 512

// serveWS runs one upgraded connection until it has ended, on the
// goroutine handOff starts: nc is the connection, r what the client sends
// on it.
func (s *Server) serveWS(nc net.Conn, r io.Reader, deflate bool, syms []string, every time.Duration, ip netip.Addr, grant *access.Grant) {
	nc.SetDeadline(time.Time{}) // the HTTP server's deadlines end with the handshake
	c := &conn{s: s, sock: socketsOf(nc), br: bufio.NewReaderSize(r, readBufferBytes), client: s.engine.NewClient(deflate),
		limit: newRateLimiter(s.cfg.RateLimit, s.cfg.RateBurst), done: make(chan struct{}), lastPing: time.Now()}
	c.watch.progressAt = c.lastPing
	c.client.SetNotify(c.kick)
	c.client.Restrict(grant.Filter())

	// the limits were checked before the upgrade; taking the slot here
	// settles races between handshakes that arrived together
	if err := s.limiter.Acquire(ip); err != nil {
		s.refuse("limit_race")
		c.sock.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		c.sock.nc.Write(ws.CloseFrame(ws.CloseTryAgainLater, err.Error()))
		return
	}
	defer s.limiter.Release(ip)

	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.sock.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		c.sock.nc.Write(ws.CloseFrame(ws.CloseGoingAway, "server shutting down"))
		return
	}
	s.handlers.Add(1)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.connsTotal.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.handlers.Done()
	}()

	ctx := s.ctx
	if err := s.engine.Register(ctx, c.client); err != nil {
		c.sock.nc.Write(ws.CloseFrame(ws.CloseGoingAway, "server shutting down"))
		return
	}
	defer s.atExpiry(grant, c.tokenExpired)()
	if len(syms) > 0 {
		c.engineFailed("subscribe", s.engine.SubscribeEvery(ctx, c.client, nil, syms, every))
	}
	c.readLoop(ctx)
	c.engineFailed("unregister", s.engine.Unregister(context.Background(), c.client))
	// the flusher sends the close frame (bounded by CloseGrace) and stops
	select {
	case <-c.done:
	case <-time.After(s.cfg.WriteTimeout + s.cfg.CloseGrace):
	}
	c.linger()
	c.finish()
	c.countClose() // decided, though the socket may have been cut before it could go out
	// handOff closes the socket once this returns: no flusher may outlive it
	c.flushers.Wait()
}

// countClose counts the connection's close code once, if the server
// decided one.
func (c *conn) countClose() {
	if code := c.client.CloseCode(); code != 0 && c.closeCounted.CompareAndSwap(false, true) {
		c.s.countClose(code)
	}
}

// kick starts a flusher unless one runs. The client calls it, with its
// lock held, whenever it gains something to write, its close frame
// included: then it also bounds the time left to a write still blocked.
func (c *conn) kick() {
	if c.client.Closing() {
		c.forceOnce.Do(c.force)
	}
	if c.writing.CompareAndSwap(false, true) {
		c.flushers.Add(1)
		go c.flush()
	}
}

// flush writes what the client's queue holds until it is empty, then ends.
// After the close frame, or a write that fails (a peer stuck past
// WriteTimeout, or gone), writing stays marked as running, so that no
// flusher starts again.
func (c *conn) flush() {
	defer c.flushers.Done()
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.s.log.Error("panic writing to a connection; closing it", "panic", r, "stack", string(debug.Stack()))
			c.slow.Store(true)
			c.finish()
			c.doneOnce.Do(func() { close(c.done) })
		}
	}()
	for {
		var closing bool
		c.bufs, closing = c.client.Take(c.bufs[:0])
		if c.events != nil {
			c.bufs = c.events.encode(c.bufs)
		}
		if len(c.bufs) > 0 {
			if closing {
				// before the write: a peer that reads the close frame and
				// then scrapes /metrics finds it counted
				c.countClose()
			}
			err := c.write(closing)
			clear(c.bufs)
			if err != nil {
				c.writeFailed(err)
				return
			}
		}
		if closing {
			c.doneOnce.Do(func() { close(c.done) })
			return
		}
		if len(c.bufs) == 0 {
			// idle: stop, unless something arrived after Take (its kick
			// found writing still set, so it is ours to send)
			c.writing.Store(false)
			if !c.client.Pending() || !c.writing.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// write writes c.bufs. The write may go without progress for WriteTimeout
// (CloseGrace once closing) before it fails; it is done in stretches of a
// quarter of that, and a stretch in which the peer took some bytes is
// progress, reported to the engine: a reader that is slow but steady is
// never cut for being slow (it overflows into a resync instead).
//
// A deadline set by an earlier write that still leaves at least half a
// stretch, and not more than the limit, is kept: resetting it costs a
// timer update per message, and a write that times out early only loops.
// Once the client is closing, force may have set the socket's deadline
// behind c.deadline's back, so every stretch sets its own again.
func (c *conn) write(closing bool) error {
	c.nb = c.bufs // a field: a local would escape to the heap, once a message
	limit := c.s.cfg.WriteTimeout
	if closing {
		limit = min(limit, c.s.cfg.CloseGrace)
	}
	stretch := max(min(limit, c.s.stuck)/4, 10*time.Millisecond)
	progressAt := time.Now()
	now := progressAt
	for {
		// a closing client's socket may have a deadline force set (not
		// c.deadline): then one is always set, as before every write
		if end := progressAt.Add(limit); c.client.Closing() || c.deadline.Before(now.Add(stretch/2)) || c.deadline.After(end) {
			c.deadline = now.Add(stretch)
			if end.Before(c.deadline) {
				c.deadline = end
			}
			c.sock.nc.SetWriteDeadline(c.deadline)
		}
		if !closing && c.client.Closing() {
			c.deadline = now.Add(c.s.cfg.CloseGrace) // force ran before our deadline: keep its bound
			c.sock.nc.SetWriteDeadline(c.deadline)
		}
		c.writeSince.Store(progressAt.UnixNano())
		n, err := c.writeOut()
		c.writeSince.Store(0)
		c.written.Add(uint64(n))
		c.s.bytesSent.Add(uint64(n))
		if err == nil {
			return nil
		}
		if c.client.Closing() || !isTimeout(err) {
			return err
		}
		c.deadline = time.Time{} // it has passed: the next stretch sets one
		now = time.Now()
		if n > 0 {
			progressAt = now
			c.client.Progressed() // the engine counts it as the writer taking
		} else if now.Sub(progressAt) >= limit {
			return err
		}
	}
}

// writeOut writes what is left of c.nb, dropping what was written: one
// buffer (the usual case, a message a window) with write(2), more with
// writev(2), which costs the kernel more for one (BenchmarkConnWrite).
func (c *conn) writeOut() (int64, error) {
	if len(c.nb) != 1 {
		return c.nb.WriteTo(c.sock.nc)
	}
	n, err := c.sock.nc.Write(c.nb[0])
	if c.nb[0] = c.nb[0][n:]; len(c.nb[0]) == 0 {
		c.nb = c.nb[:0]
	}
	return int64(n), err
}

// isTimeout reports whether err is a net.Error that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeFailed ends a connection whose write failed: a peer that took
// nothing for a whole WriteTimeout is a slow consumer; any other error
// means the socket is gone. A frame may have been cut part-way, so the
// socket is cut too (finish), which also ends the reader.
func (c *conn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.client.Close(ws.ClosePolicy, "slow consumer") {
			c.s.engine.Stats().SlowClosed.Add(1)
			c.s.log.Info("closed slow consumer", "stuck", c.s.cfg.WriteTimeout, "peer", c.sock.nc.RemoteAddr().String())
		}
	} else {
		c.client.Abort()
	}
	c.slow.Store(true)
	c.finish()
	c.doneOnce.Do(func() { close(c.done) })
}

// readLoop reads client messages until the connection ends, and leaves the
// client closing: with the close frame the end calls for (readFailed), or
// aborted when the socket is gone.
func (c *conn) readLoop(ctx context.Context) {
	cfg := &c.s.cfg // not a copy: extend keeps it for the connection's life
	extend := func() {
		if !c.client.Closing() { // closing: force has set the last deadline
			c.sock.nc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
	}
	r := ws.NewReader(c.br, c.client.Deflate(), cfg.MaxMessageBytes)
	r.OnPing = func(p []byte) {
		extend()
		c.client.OfferControl(ws.PongFrame(p))
	}
	r.OnPong = func([]byte) { extend() }
	for {
		extend()
		op, msg, err := r.Next()
		if err != nil {
			c.readFailed(ctx, err)
			return
		}
		c.answering = true
		if op == ws.OpBinary {
			c.closeAfterReplies(ctx, ws.CloseUnsupported, "binary frames are not accepted")
			return
		}
		if !c.limit.allow(time.Now()) {
			if c.limit.strikes > cfg.FloodStrikes {
				// the replies owed go first, then the close frame
				c.closeAfterReplies(ctx, ws.ClosePolicy, "rate limit exceeded")
				return
			}
			c.reply(ctx, protocol.AppendError(nil, protocol.RequestID(&c.parser, msg), protocol.CodeRateLimited, "too many messages; slow down", nil))
			continue
		}
		if !c.safeHandle(ctx, msg) {
			c.closeAfterReplies(ctx, ws.CloseInternalError, "internal error")
			return
		}
	}
}

// closeAfterReplies closes the connection once the replies owed to the
// messages before this point have been queued: they go out first, in order,
// then the close frame.
func (c *conn) closeAfterReplies(ctx context.Context, code int, reason string) {
	c.s.engine.CloseAfterReplies(ctx, c.client, code, reason)
}

// readFailed closes the client as the error that ended reading calls for.
func (c *conn) readFailed(ctx context.Context, err error) {
	var violation *ws.CloseError
	var peer *ws.PeerClose
	var ne net.Error
	switch {
	case errors.As(err, &peer):
		c.answering = true
		c.closeAfterReplies(ctx, peer.EchoCode(), "") // the closing handshake: echo the peer's code
	case errors.As(err, &violation):
		c.answering = true
		c.closeAfterReplies(ctx, violation.Code, violation.Reason) // fail the connection (RFC 6455 §7.1.7)
	case c.client.Closing():
		// closed from elsewhere (shutdown, slow consumer): its frame is queued
	case errors.As(err, &ne) && ne.Timeout():
		c.answering = false // silent: presumed gone
		c.client.Close(ws.ClosePolicy, "idle timeout")
	default:
		c.answering = false
		c.client.Abort() // the socket is gone
	}
}

// safeHandle handles one message, turning a panic into a logged error that
// closes this connection only (1011). It reports false after a panic.
func (c *conn) safeHandle(ctx context.Context, msg []byte) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.s.log.Error("panic handling a client message; closing that connection", "panic", r, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	c.handle(ctx, msg)
	return true
}

// linger ends the closing handshake once the close frame is out: the
// server shuts its side (FIN) and reads and discards what the peer still
// sends, until the peer closes or CloseGrace passes. Closing a socket with
// unread input would make the kernel reset it, and a reset can destroy the
// close frame before the peer reads it.
func (c *conn) linger() {
	if c.slow.Load() || !c.answering {
		return // cut (finish), or a peer that is gone or silent
	}
	if c.sock.tcp != nil && c.sock.nc == net.Conn(c.sock.tcp) {
		c.sock.tcp.CloseWrite()
	}
	c.sock.nc.SetReadDeadline(time.Now().Add(c.s.cfg.CloseGrace))
	io.Copy(io.Discard, c.br)
}

// reply queues a pong or an error after the replies to the connection's
// earlier requests (fanout.Engine.Reply).
func (c *conn) reply(ctx context.Context, payload []byte) {
	c.engineFailed("reply", c.s.engine.Reply(ctx, c.client, payload))
}

// engineFailed logs, once per connection, an engine command that failed:
// the engine stopped under a connection (at Debug while the server cuts
// connections past its shutdown deadline, which cancels ctx).
func (c *conn) engineFailed(op string, err error) {
	if err == nil || c.engineErr {
		return
	}
	c.engineErr = true
	level := slog.LevelWarn
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		level = slog.LevelDebug
	}
	c.s.log.Log(context.Background(), level, "fanout engine command failed; the connection gets nothing more from it", "op", op, "err", err)
}

func (c *conn) handle(ctx context.Context, msg []byte) {
	if h := testHookHandle; h != nil {
		h(msg)
	}
	req, perr := protocol.ParseRequest(&c.parser, msg)
	if perr != nil {
		c.reply(ctx, protocol.AppendError(nil, perr.ID, perr.Code, perr.Message, nil))
		return
	}
	switch req.Op {
	case protocol.OpPing:
		c.reply(ctx, protocol.AppendPong(nil, req.ID, c.s.engine.Now().UnixMicro()))
	case protocol.OpSubscribe:
		c.engineFailed("subscribe", c.s.engine.SubscribeEvery(ctx, c.client, req.ID, req.Symbols, req.Every))
	case protocol.OpUnsubscribe:
		c.engineFailed("unsubscribe", c.s.engine.Unsubscribe(ctx, c.client, req.ID, req.Symbols))
	}
}
