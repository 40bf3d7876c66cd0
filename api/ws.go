package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/valyala/fastjson"

	"ticker/fanout"
)

// conn is one WebSocket connection. Its handler's goroutine reads; writing
// is done by a flusher goroutine that exists only while there is something
// to write (see kick), so an idle connection costs one goroutine.
type conn struct {
	s      *Server
	ws     *fws.Conn
	sock   sockets
	client *fanout.Client
	parser fastjson.Parser
	limit  *rateLimiter
	buf    []byte

	writing  atomic.Bool    // a flusher runs (or writing has ended for good)
	flushers sync.WaitGroup // the handler waits for them before returning
	bufs     [][]byte       // the running flusher's
	done     chan struct{}  // closed once the close frame is written or writing failed
	doneOnce sync.Once
	lastPing time.Time // owned by the server's ping sweeper, under Server.mu

	written    atomic.Uint64 // bytes handed to the kernel by the flushers
	writeSince atomic.Int64  // when the running write began (Unix ns); 0 when none runs
	watch      watch         // the sweeper's
	slow       atomic.Bool   // closed as a slow consumer, or a write failed: cut the socket
	forceOnce  sync.Once
}

func (s *Server) serveWS(ws *fws.Conn) {
	deflate, _ := ws.Locals("deflate").(bool)
	syms, _ := ws.Locals("symbols").([]string)
	c := &conn{s: s, ws: ws, sock: socketsOf(ws.NetConn()), client: s.engine.NewClient(deflate),
		limit: newRateLimiter(s.cfg.RateLimit, s.cfg.RateBurst), done: make(chan struct{}), lastPing: time.Now()}
	c.watch.progressAt = c.lastPing
	c.client.SetNotify(c.kick)

	// the limits were checked before the upgrade; taking the slot here
	// settles races between handshakes that arrived together
	ip, _ := ws.Locals("ip").(netip.Addr)
	if err := s.limiter.Acquire(ip); err != nil {
		s.refuse("limit_race")
		c.sock.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		c.sock.nc.Write(fanout.CloseFrame(CloseTryAgainLater, err.Error()))
		return
	}
	defer s.limiter.Release(ip)

	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.sock.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		c.sock.nc.Write(fanout.CloseFrame(fanout.CloseGoingAway, "server shutting down"))
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
		c.sock.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		c.sock.nc.Write(fanout.CloseFrame(fanout.CloseGoingAway, "server shutting down"))
		return
	}
	if len(syms) > 0 {
		s.engine.Subscribe(ctx, c.client, nil, syms)
	}
	if code := c.readLoop(ctx); code != 0 {
		c.client.Close(code, closeReason(code))
	} else {
		c.client.Abort()
	}
	s.engine.Unregister(context.Background(), c.client)
	// the flusher sends the close frame (bounded by CloseGrace) and stops
	select {
	case <-c.done:
	case <-time.After(s.cfg.WriteTimeout + s.cfg.CloseGrace):
	}
	c.finish()
	// fasthttp reuses the connection object once this handler returns:
	// no flusher may outlive it
	c.flushers.Wait()
}

// CloseTryAgainLater (1013) closes a connection that got past the handshake
// while the connection limit filled up.
const CloseTryAgainLater = 1013

// CloseInternalError (1011) closes a connection whose handling failed.
const CloseInternalError = 1011

func closeReason(code int) string {
	switch code {
	case fanout.CloseGoingAway:
		return "server shutting down"
	case fanout.CloseUnsupported:
		return "binary frames are not accepted"
	case fanout.CloseInvalidData:
		return "invalid UTF-8"
	case fanout.CloseTooBig:
		return "message too big"
	case CloseInternalError:
		return "internal error"
	}
	return ""
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
		if len(c.bufs) > 0 {
			timeout := c.s.cfg.WriteTimeout
			if closing {
				timeout = min(timeout, c.s.cfg.CloseGrace)
				last := c.bufs[len(c.bufs)-1]
				if len(last) >= 4 && last[0] == 0x88 { // a close frame, not an abort's last ping
					c.s.countClose(int(last[2])<<8 | int(last[3]))
				}
			}
			now := time.Now()
			c.sock.nc.SetWriteDeadline(now.Add(timeout))
			if !closing && c.client.Closing() {
				c.sock.nc.SetWriteDeadline(now.Add(c.s.cfg.CloseGrace)) // force ran before our deadline: keep its bound
			}
			c.writeSince.Store(now.UnixNano())
			nb := net.Buffers(c.bufs)
			n, err := nb.WriteTo(c.sock.nc)
			c.writeSince.Store(0)
			c.written.Add(uint64(n))
			c.s.bytesSent.Add(uint64(n))
			clear(c.bufs)
			if err != nil {
				c.writeFailed(err, time.Since(now))
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

// writeFailed ends a connection whose write failed: a peer that took
// nothing until the deadline is a slow consumer; any other error means the
// socket is gone. A frame may have been cut part-way, so the socket is cut
// too (finish), which also ends the reader.
func (c *conn) writeFailed(err error, blocked time.Duration) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.client.Close(fanout.ClosePolicy, "slow consumer") {
			c.s.engine.Stats().SlowClosed.Add(1)
			c.s.log.Info("closed slow consumer", "stuck", blocked.Round(time.Millisecond), "peer", c.sock.nc.RemoteAddr().String())
		}
	} else {
		c.client.Abort()
	}
	c.slow.Store(true)
	c.finish()
	c.doneOnce.Do(func() { close(c.done) })
}

// readLoop reads client messages until the connection ends and returns the
// close code the server sends (or echoes), or 0 when no close frame should
// follow (the library already sent one, or the socket is gone).
func (c *conn) readLoop(ctx context.Context) int {
	cfg := c.s.cfg
	ws := c.ws
	extend := func() {
		if !c.client.Closing() { // closing: force has set the last deadline
			c.sock.nc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
	}
	peerCode := 0
	ws.SetPingHandler(func(data string) error {
		extend()
		c.client.OfferControl(fanout.PongFrame([]byte(data)))
		return nil
	})
	ws.SetPongHandler(func(string) error { extend(); return nil })
	ws.SetCloseHandler(func(code int, _ string) error {
		peerCode = code
		if code == websocket.CloseNoStatusReceived {
			peerCode = fanout.CloseNormal
		}
		return nil
	})
	c.buf = make([]byte, 0, 512)
	for {
		extend()
		mt, r, err := ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ce):
				return peerCode // echo the peer's code
			case c.client.Closing():
				return fanout.CloseGoingAway // shutdown: our close frame is already out
			case errors.As(err, &ne) && ne.Timeout():
				c.client.Close(fanout.ClosePolicy, "idle timeout")
				return fanout.ClosePolicy
			}
			// a protocol error (the library has sent 1002) or a dead socket
			return 0
		}
		if mt == websocket.BinaryMessage {
			return c.refuse(fanout.CloseUnsupported)
		}
		msg, tooBig, err := c.read(r)
		if err != nil {
			return 0 // as above: the library answered, or the socket is gone
		}
		if tooBig {
			return c.refuse(fanout.CloseTooBig)
		}
		if !utf8.Valid(msg) {
			return c.refuse(fanout.CloseInvalidData)
		}
		if !c.limit.allow(time.Now()) {
			if c.limit.strikes > cfg.FloodStrikes {
				// the replies owed go first, then the close frame
				c.s.engine.CloseAfterReplies(ctx, c.client, fanout.ClosePolicy, "rate limit exceeded")
				c.drain()
				return fanout.ClosePolicy
			}
			c.reply(ctx, fanout.AppendError(nil, requestID(&c.parser, msg), fanout.CodeRateLimited, "too many messages; slow down", nil))
			continue
		}
		if !c.safeHandle(ctx, msg) {
			return c.refuse(CloseInternalError)
		}
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

// read reads one message up to MaxMessageBytes (after decompression).
func (c *conn) read(r io.Reader) (msg []byte, tooBig bool, err error) {
	limit := c.s.cfg.MaxMessageBytes
	buf := c.buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, true, nil
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, true, nil
		}
		if err == io.EOF {
			if cap(buf) <= 4096 {
				c.buf = buf
			}
			return buf, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// refuse closes the connection for a bad frame, then waits briefly for the
// peer's close reply.
func (c *conn) refuse(code int) int {
	c.client.Close(code, closeReason(code))
	c.drain()
	return code
}

// drain reads and discards until the peer's close frame or CloseGrace.
func (c *conn) drain() {
	c.sock.nc.SetReadDeadline(time.Now().Add(c.s.cfg.CloseGrace))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

// reply queues a pong or an error after the replies to the connection's
// earlier requests (fanout.Engine.Reply).
func (c *conn) reply(ctx context.Context, payload []byte) {
	c.s.engine.Reply(ctx, c.client, payload)
}

func (c *conn) handle(ctx context.Context, msg []byte) {
	if h := c.s.testHook; h != nil {
		h(msg)
	}
	req, perr := parseRequest(&c.parser, msg)
	if perr != nil {
		c.reply(ctx, fanout.AppendError(nil, perr.id, perr.code, perr.message, nil))
		return
	}
	switch req.op {
	case "ping":
		c.reply(ctx, fanout.AppendPong(nil, req.id, time.Now().UnixMicro()))
	case "subscribe":
		c.s.engine.Subscribe(ctx, c.client, req.id, req.symbols)
	case "unsubscribe":
		c.s.engine.Unsubscribe(ctx, c.client, req.id, req.symbols)
	}
}
