package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/ws"
)

// GET /stream?symbols=A,B serves the WebSocket's snapshot and updates as
// Server-Sent Events, for clients and proxies that cannot do WebSockets.
// A stream is a conn like a WebSocket connection: the same engine client
// (a non-deflate one: it is queued the plain form of the shared frames),
// the same bounded queue and resync, the same flusher, ping sweeper, stall
// watch and shutdown; only its bytes (events) and its reading differ.

// streamRequest is what a checked /stream request hands to its stream.
type streamRequest struct {
	symbols []string
	every   time.Duration // ?every=; 0: every window
	ip      netip.Addr
	grant   *access.Grant // what its token may see, and until when
	resume  bool          // a Last-Event-ID this server could have written
	origin  string        // an allowed Origin, answered with CORS headers; "" for none
	http10  bool          // an HTTP/1.0 request: the body ends with the connection, not a last chunk
}

// maxStreamQuery bounds the symbols parameter before it is parsed (the
// request line is bounded anyway, by the server's read buffer).
const maxStreamQuery = 4096

// stream answers GET /stream: the checks a WebSocket handshake gets (503
// while shutting down, Origin, token, the connection limits), the symbols
// validated, then the connection is hijacked and served by serveSSE.
func (s *Server) stream(c *fiber.Ctx) error {
	if s.closing.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "shutting down"})
	}
	origin := c.Get(fiber.HeaderOrigin)
	if !s.cfg.Origins.Allowed(origin) {
		s.refuse("origin")
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "origin not allowed"})
	}
	if origin != "" {
		// an allowed page may read every answer from here on, refusals
		// (401, 400, 429, 503) included, not only the stream
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Vary(fiber.HeaderOrigin)
	}
	// the token's grant (entitle.go) is what the stream keeps (req): its
	// subscribe is held to it, and the stream ends when it expires
	grant, err := s.authenticate(c)
	if err != nil {
		return s.unauthorized(c, err)
	}
	syms, err := streamSymbols(c.Query("symbols"))
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
	}
	every, _, err := s.queryEvery(c) // conflated updates, as on /ws (a stream always has symbols)
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
	}
	ip := s.clientAddr(c)
	if err := s.limiter.Check(ip); err != nil {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
		if err == access.ErrServerFull {
			s.refuse("limit_total")
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "too many connections"})
		}
		s.refuse("limit_address")
		return c.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"error": "too many connections from your address"})
	}
	// the stream outlives the request's buffers, which fiber's strings point into (hijack.go)
	req := streamRequest{symbols: cloneAll(syms), every: every, ip: ip, grant: grant, resume: validEventID(c.Get("Last-Event-ID")),
		origin: strings.Clone(origin), http10: !c.Request().Header.IsHTTP11()}
	if c.Method() == fiber.MethodHead {
		c.Set(fiber.HeaderContentType, "text/event-stream")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Status(fiber.StatusOK)
		return nil
	}
	// the response head is the stream's to write: fasthttp would give it a
	// Content-Length
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(hc net.Conn) {
		s.handOff(hc, "event stream", func(nc net.Conn, r io.Reader) { s.serveSSE(nc, r, req) })
	})
	return nil
}

// streamSymbols parses the symbols parameter: a comma-separated list of
// symbols (as market.ValidateSymbol has them) or "*", at least one.
// Spaces around a symbol and empty items are ignored, as on /ws; how many
// may be subscribed is the engine's to say, as for a subscribe.
func streamSymbols(raw string) ([]string, error) {
	if len(raw) > maxStreamQuery {
		return nil, fmt.Errorf("symbols: longer than %d bytes", maxStreamQuery)
	}
	var syms []string
	for _, sym := range strings.Split(raw, ",") {
		if sym = strings.TrimSpace(sym); sym == "" {
			continue
		}
		if sym != "*" {
			if err := market.ValidateSymbol(sym); err != nil {
				return nil, fmt.Errorf("symbols: %v", err)
			}
		}
		syms = append(syms, sym)
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf(`symbols: want a comma-separated list of symbols, or "*"`)
	}
	return syms, nil
}

// validEventID reports whether id is one a stream's events carry:
// "epoch:time", two unsigned decimal integers.
func validEventID(id string) bool {
	ep, tm, ok := strings.Cut(id, ":")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ep, 10, 64)
	_, err2 := strconv.ParseUint(tm, 10, 64)
	return err1 == nil && err2 == nil
}

// serveSSE runs one event stream on the hijacked connection nc (r reads
// it) until it has ended, as serveWS runs a WebSocket connection.
func (s *Server) serveSSE(nc net.Conn, r io.Reader, req streamRequest) {
	nc.SetDeadline(time.Time{}) // the HTTP server's deadlines end with the request
	c := &conn{s: s, sock: socketsOf(nc), br: bufio.NewReaderSize(r, readBufferBytes), client: s.engine.NewClient(false),
		done: make(chan struct{}), lastPing: time.Now(), events: s.newEvents(req)}
	c.watch.progressAt = c.lastPing
	c.client.SetNotify(c.kick)
	c.client.Restrict(req.grant.Filter())

	// nothing is written to the stream before it is admitted: a refusal is
	// still a whole HTTP response
	if err := s.limiter.Acquire(req.ip); err != nil {
		s.refuse("limit_race")
		c.refuseStream(fiber.StatusServiceUnavailable, err.Error())
		return
	}
	defer s.limiter.Release(req.ip)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.refuseStream(fiber.StatusServiceUnavailable, "shutting down")
		return
	}
	s.handlers.Add(1)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.connsTotal.Add(1)
	s.streams.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.streams.Add(-1)
		s.handlers.Done()
	}()

	ctx := s.ctx
	if err := s.engine.Register(ctx, c.client); err != nil {
		c.client.Close(ws.CloseGoingAway, "server shutting down") // the head and this, then the end
	} else {
		defer s.atExpiry(req.grant, c.tokenExpired)()
		c.engineFailed("subscribe", s.engine.SubscribeEvery(ctx, c.client, nil, req.symbols, req.every))
		c.discardInput()
		c.engineFailed("unregister", s.engine.Unregister(context.Background(), c.client))
	}
	select {
	case <-c.done:
	case <-time.After(s.cfg.WriteTimeout + s.cfg.CloseGrace):
	}
	c.finish()
	c.countClose()
	c.flushers.Wait() // handOff closes the socket once this returns
}

// newEvents returns the encoder of a stream answering req.
func (s *Server) newEvents(req streamRequest) *events {
	h := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	if req.http10 {
		h = "HTTP/1.0 200 OK\r\n"
	}
	h += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
	if req.origin != "" {
		h += "Access-Control-Allow-Origin: " + req.origin + "\r\nVary: Origin\r\n"
	}
	h += "\r\n"
	return &events{head: []byte(h), chunked: !req.http10, resume: req.resume,
		preamble: "retry: " + strconv.FormatInt(s.cfg.RetryAfter.Milliseconds(), 10) + "\n\n"}
}

// discardInput reads until the client closes its side or the stream ends:
// a stream's client sends nothing after its request, and whatever it does
// send is dropped. Its end ends the stream: a client that has gone is not
// written to any more (Abort), one that is closing is left to the close.
func (c *conn) discardInput() {
	for {
		if _, err := c.br.Discard(1); err != nil {
			if !c.client.Closing() {
				c.client.Abort()
			}
			return
		}
		c.br.Discard(c.br.Buffered())
	}
}

// refuseStream answers a stream that lost its place after the checks
// with a whole HTTP error response (nothing else was written to it).
func (c *conn) refuseStream(status int, reason string) {
	body := `{"error":` + strconv.Quote(reason) + "}\n"
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nRetry-After: %d\r\nConnection: close\r\n\r\n",
		status, utils.StatusMessage(status), len(body), int(c.s.cfg.RetryAfter/time.Second))
	c.sock.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	c.sock.nc.Write([]byte(head + body))
	c.sock.nc.Close()
}
