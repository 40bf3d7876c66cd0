package api

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/valyala/fastjson"

	"ticker/fanout"
)

// conn is one WebSocket connection.
type conn struct {
	s      *Server
	ws     *fws.Conn
	nc     net.Conn
	client *fanout.Client
	parser fastjson.Parser
	limit  *rateLimiter
	buf    []byte
}

func (s *Server) serveWS(ws *fws.Conn) {
	deflate, _ := ws.Locals("deflate").(bool)
	syms, _ := ws.Locals("symbols").([]string)
	c := &conn{s: s, ws: ws, nc: ws.NetConn(), client: s.engine.NewClient(deflate),
		limit: newRateLimiter(s.cfg.RateLimit, s.cfg.RateBurst)}

	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.nc.Write(fanout.CloseFrame(fanout.CloseGoingAway, "server shutting down"))
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
		c.nc.Write(fanout.CloseFrame(fanout.CloseGoingAway, "server shutting down"))
		return
	}
	writerDone := make(chan struct{})
	go c.writeLoop(writerDone)
	if len(syms) > 0 {
		s.engine.Subscribe(ctx, c.client, nil, syms)
	}
	if code := c.readLoop(ctx); code != 0 {
		c.client.Close(code, closeReason(code))
	} else {
		c.client.Abort()
	}
	s.engine.Unregister(context.Background(), c.client)
	// the writer sends the close frame (bounded by CloseGrace) and returns
	select {
	case <-writerDone:
	case <-time.After(s.cfg.WriteTimeout + s.cfg.CloseGrace):
	}
	c.nc.Close()
	<-writerDone
}

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
	}
	return ""
}

// writeLoop sends what the client's queue holds, pings every PingInterval,
// and returns after sending the close frame or when a write fails.
func (c *conn) writeLoop(done chan<- struct{}) {
	defer close(done)
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	var bufs [][]byte
	for {
		var closing bool
		bufs, closing = c.client.Take(bufs[:0])
		if len(bufs) > 0 {
			timeout := c.s.cfg.WriteTimeout
			if closing {
				timeout = min(timeout, c.s.cfg.CloseGrace)
				last := bufs[len(bufs)-1]
				if len(last) >= 4 && last[0] == 0x88 { // a close frame, not an abort's last ping
					c.s.countClose(int(last[2])<<8 | int(last[3]))
				}
			}
			c.nc.SetWriteDeadline(time.Now().Add(timeout))
			nb := net.Buffers(bufs)
			n, err := nb.WriteTo(c.nc)
			c.s.bytesSent.Add(uint64(n))
			if err != nil {
				// a write that cannot finish in WriteTimeout: the peer is stuck
				// or gone; cutting the socket also ends the reader
				c.client.Close(fanout.ClosePolicy, "slow consumer")
				c.nc.Close()
				return
			}
		}
		if closing {
			return
		}
		select {
		case <-c.client.Wake():
		case <-ping.C:
			c.client.OfferControl(fanout.PingFrame())
		}
	}
}

// readLoop reads client messages until the connection ends and returns the
// close code the server sends (or echoes), or 0 when no close frame should
// follow (the library already sent one, or the socket is gone).
func (c *conn) readLoop(ctx context.Context) int {
	cfg := c.s.cfg
	ws := c.ws
	extend := func() { c.nc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout)) }
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
				c.client.Close(fanout.ClosePolicy, "rate limit exceeded")
				c.drain()
				return fanout.ClosePolicy
			}
			c.reply(fanout.AppendError(nil, nil, fanout.CodeRateLimited, "too many messages; slow down", nil))
			continue
		}
		c.handle(ctx, msg)
	}
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
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.CloseGrace))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

func (c *conn) reply(payload []byte) {
	c.client.Offer(fanout.ReplyFrame(payload))
}

func (c *conn) handle(ctx context.Context, msg []byte) {
	req, perr := parseRequest(&c.parser, msg)
	if perr != nil {
		c.reply(fanout.AppendError(nil, perr.id, perr.code, perr.message, nil))
		return
	}
	switch req.op {
	case "ping":
		c.reply(fanout.AppendPong(nil, req.id, time.Now().UnixMicro()))
	case "subscribe":
		c.s.engine.Subscribe(ctx, c.client, req.id, req.symbols)
	case "unsubscribe":
		c.s.engine.Unsubscribe(ctx, c.client, req.id, req.symbols)
	}
}
