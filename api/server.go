package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/api/spec"
	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/field"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/static"
	"github.com/ticker-io/ticker/ws"
)

// Config tunes the server. The zero value of a field means its default.
type Config struct {
	PingInterval    time.Duration // server ping period; default 15s
	IdleTimeout     time.Duration // close a connection silent this long; default 45s
	WriteTimeout    time.Duration // one write may block this long; default 10s
	CloseGrace      time.Duration // wait for the peer's close reply; default 1s
	MaxMessageBytes int           // largest client message; default 4096
	RateLimit       float64       // client messages per second; default 20
	RateBurst       int           // bucket size; default 40
	FloodStrikes    int           // refused messages (net of accepted ones) before close 1008; default 50
	SendBufferBytes int           // kernel send buffer per connection (SO_SNDBUF); 0 leaves the OS's autotuning
	Pprof           bool          // serve /debug/pprof/ (profiling; keep it off where the port is exposed)

	TLS            *tls.Config     // serve HTTPS/WSS; nil: plain HTTP
	Origins        *access.Origins // Origins accepted on /ws; nil: any
	Tokens         *access.Tokens  // bearer tokens required on /ws and /api, with their symbols; nil: open
	JWTKeys        *access.JWTKeys // keys of the JWTs accepted as tokens (entitle.go); nil: none
	MaxConns       int             // WebSocket connections in total; 0: no limit
	MaxConnsPerIP  int             // WebSocket connections per client address; 0: no limit
	TrustedProxies []netip.Prefix  // peers whose X-Forwarded-For names the client
	RetryAfter     time.Duration   // Retry-After sent with 503/429 at the connection limits; default 5s

	Collectors []prometheus.Collector // more metrics for /metrics (a cluster node's)
	Quotes     QuoteSource            // answers /api/quotes when the engine does not hold every symbol (an edge); nil: the engine alone
	Bars       BarSource              // answers /api/bars: the node's bars.Aggregator, or an edge's requests to the ingest side; nil: 503
	Control    http.Handler           // serves /control/… (ticker --step-control, a test aid); nil: 404 there (control.go)
}

// BarSource answers GET /api/bars/{symbol}: a symbol's newest bars of an
// interval, oldest first. found is false for a symbol it has no bars of;
// an error means they could not be read (the request gets 503).
type BarSource interface {
	Bars(ctx context.Context, symbol string, iv bars.Interval, limit int) (bs []bars.Bar, found bool, err error)
}

// QuoteSource answers the REST quote endpoints on a node whose engine holds
// only some symbols (a cluster edge holds those its clients want). An error
// means the quotes could not be read; the request gets 503.
type QuoteSource interface {
	Quote(ctx context.Context, symbol string) (q market.Quote, found bool, err error)
	Quotes(ctx context.Context) ([]market.Quote, error)
}

// quoteTimeout bounds one REST request's reads from a QuoteSource.
const quoteTimeout = 3 * time.Second

// engineQuotes is the QuoteSource of a node whose engine holds every
// symbol: the engine itself, which cannot fail.
type engineQuotes struct{ engine *fanout.Engine }

func (e engineQuotes) Quote(_ context.Context, symbol string) (market.Quote, bool, error) {
	q, ok := e.engine.Quote(symbol)
	return q, ok, nil
}

func (e engineQuotes) Quotes(context.Context) ([]market.Quote, error) {
	return e.engine.Quotes(), nil
}

// DefaultConfig returns the defaults of every tunable field (ticker's
// flags take theirs from it). MaxConnsPerIP is the one default that differs
// from its field's zero value (no limit): a served process gets 2000.
func DefaultConfig() Config {
	return Config{
		PingInterval:    15 * time.Second,
		IdleTimeout:     45 * time.Second,
		WriteTimeout:    10 * time.Second,
		CloseGrace:      time.Second,
		MaxMessageBytes: 4096,
		RateLimit:       20,
		RateBurst:       40,
		FloodStrikes:    50,
		MaxConnsPerIP:   2000,
		RetryAfter:      5 * time.Second,
	}
}

// WithDefaults returns c with zero fields set to their defaults, where
// zero does not mean none (MaxConns, MaxConnsPerIP, SendBufferBytes).
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.PingInterval, d.PingInterval)
	def(&c.IdleTimeout, d.IdleTimeout)
	def(&c.WriteTimeout, d.WriteTimeout)
	def(&c.CloseGrace, d.CloseGrace)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.RateLimit == 0 {
		c.RateLimit = d.RateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = d.RateBurst
	}
	if c.FloodStrikes == 0 {
		c.FloodStrikes = d.FloodStrikes
	}
	def(&c.RetryAfter, d.RetryAfter)
	return c
}

// Validate returns a *field.Error naming the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.PingInterval < 10*time.Millisecond:
		return field.New("PingInterval", c.PingInterval, "at least 10ms")
	case c.IdleTimeout <= 10*time.Millisecond:
		return field.New("IdleTimeout", c.IdleTimeout, "more than 10ms, and more than the ping interval")
	case c.PingInterval >= c.IdleTimeout:
		return field.Pair("PingInterval", c.PingInterval, "IdleTimeout", c.IdleTimeout, "the ping interval less than the idle timeout")
	case c.WriteTimeout < 10*time.Millisecond:
		return field.New("WriteTimeout", c.WriteTimeout, "at least 10ms")
	case c.MaxMessageBytes < 64 || c.MaxMessageBytes > 1<<20:
		return field.New("MaxMessageBytes", c.MaxMessageBytes, "64 to 1048576")
	case c.RateLimit <= 0:
		return field.New("RateLimit", c.RateLimit, "more than 0")
	case c.RateBurst < 1:
		return field.New("RateBurst", c.RateBurst, "at least 1")
	case c.FloodStrikes < 1:
		return field.New("FloodStrikes", c.FloodStrikes, "at least 1")
	case c.SendBufferBytes < 0:
		return field.New("SendBufferBytes", c.SendBufferBytes, "0 (the OS's autotuned send buffer) or more")
	case c.MaxConns < 0:
		return field.New("MaxConns", c.MaxConns, "0 or more")
	case c.MaxConnsPerIP < 0:
		return field.New("MaxConnsPerIP", c.MaxConnsPerIP, "0 (no limit) or more")
	case c.RetryAfter < time.Second:
		return field.New("RetryAfter", c.RetryAfter, "at least 1s")
	}
	return nil
}

// FeedStatus is what the server needs from the feeds: readiness and counters.
type FeedStatus interface {
	Ready() bool
	Statuses() []feeds.Status
}

// Server is the HTTP and WebSocket server.
type Server struct {
	cfg    Config
	engine *fanout.Engine
	feeds  FeedStatus
	ring   *market.Ring
	log    *slog.Logger
	app    *fiber.App
	reg    *prometheus.Registry

	ctx    context.Context // ends at Shutdown: connection handlers stop
	cancel context.CancelFunc

	mu       sync.Mutex
	conns    map[*conn]struct{}
	handlers sync.WaitGroup
	closing  atomic.Bool
	bg       sync.WaitGroup // the ping sweeper
	pinging  bool           // the sweeper was started (by Serve), under mu

	limiter *access.Limiter

	connsTotal atomic.Uint64
	streams    atomic.Int64 // the connections that are event streams (sse.go)
	bytesSent  atomic.Uint64
	closes     sync.Map // close code → *atomic.Uint64
	refused    sync.Map // reason → *atomic.Uint64: handshakes refused before the upgrade
	panics     atomic.Uint64
	stuck      time.Duration // the engine's StuckTimeout, read once: the writers and the sweeper use it
}

// testHookHandle, when a test sets it, sees every client message before it
// is handled (to inject a fault), as net/http's testHook variables do: it
// stays nil outside tests and is no part of a Server.
var testHookHandle func(msg []byte)

// New builds the server. ring is read only for metrics.
func New(cfg Config, engine *fanout.Engine, fs FeedStatus, ring *market.Ring, log *slog.Logger) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Quotes == nil {
		cfg.Quotes = engineQuotes{engine}
	}
	s := &Server{cfg: cfg, engine: engine, feeds: fs, ring: ring, log: log, conns: map[*conn]struct{}{},
		limiter: access.NewLimiter(cfg.MaxConns, cfg.MaxConnsPerIP), stuck: engine.Config().StuckTimeout}
	for _, r := range refuseReasons {
		s.refused.Store(r, new(atomic.Uint64)) // each reason in /metrics from the start, at 0
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{s: s})
	s.reg.MustRegister(cfg.Collectors...)

	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		// A WebSocket handshake leaves nothing buffered behind the request, so
		// with this fasthttp hands the hijacked connection over without its
		// 4 KiB request reader, which it would otherwise keep for the
		// connection's whole life (bench/RESULTS.md, goal 2). Plain HTTP
		// keep-alive connections also give their buffers back between
		// requests.
		ReduceMemoryUsage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			if fe, ok := err.(*fiber.Error); ok {
				code = fe.Code
			}
			return c.Status(code).JSON(fiber.Map{"error": strings.ToLower(err.Error())})
		},
	})
	// hijacked connections are closed by handOff, not by fasthttp when the
	// hijack handler returns: that handler returns at once (hijack.go)
	s.app.Server().KeepHijackedConns = true
	s.routes()
	return s, nil
}

// startPinger starts the ping sweeper once, unless Shutdown has begun;
// Shutdown stops it and waits for it.
func (s *Server) startPinger() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pinging || s.closing.Load() {
		return
	}
	s.pinging = true
	s.bg.Add(1)
	go s.pingSweeper()
}

// pingSweeper pings every connection each PingInterval and closes those
// whose peer has stopped taking bytes (stall.go), from one goroutine for
// all of them (a ticker per connection would cost each a timer), until the
// server's context ends.
func (s *Server) pingSweeper() {
	defer s.bg.Done()
	stuck := s.stuck
	// pings keep their period to within a tick, a twentieth of it; the
	// kernel is asked about stalls every stallEvery. A tick walks every
	// connection, so it is no shorter than both need: with the defaults,
	// 750 ms (a walk every 100 ms was 1 % of the server's CPU at 10,000
	// connections under load, bench/RESULTS.md)
	stallEvery := min(max(stuck/4, 5*time.Millisecond), time.Second)
	tick := min(max(s.cfg.PingInterval/20, time.Millisecond), stallEvery)
	t := time.NewTicker(tick)
	defer t.Stop()
	ping := ws.PingFrame()
	var live []*conn
	var lastStall time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			checkStalls := now.Sub(lastStall) >= stallEvery
			if checkStalls {
				lastStall = now
			}
			s.mu.Lock()
			for c := range s.conns {
				if now.Sub(c.lastPing) >= s.cfg.PingInterval-tick/2 {
					c.lastPing = now
					c.client.OfferControl(ping)
				}
				if checkStalls {
					live = append(live, c)
				}
			}
			s.mu.Unlock()
			// the kernel is asked outside the lock: handlers register meanwhile
			for _, c := range live {
				if c.client.Closing() {
					continue
				}
				if idle, stuck := c.stalled(now, stuck); stuck {
					c.closeSlow(idle)
				}
			}
			clear(live)
			live = live[:0]
		}
	}
}

func (s *Server) routes() {
	app := s.app
	if s.cfg.Pprof {
		app.Use(pprof.New())
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if s.closing.Load() {
			return c.Status(fiber.StatusServiceUnavailable).SendString("shutting down\n")
		}
		if !s.feeds.Ready() {
			return c.Status(fiber.StatusServiceUnavailable).SendString("waiting for feeds\n")
		}
		return c.SendString("ready\n")
	})
	app.Get("/asyncapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(spec.AsyncAPI)
	})
	app.Get("/openapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(spec.OpenAPI)
	})
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	app.Use("/api", s.requireToken)
	app.Get("/api/symbols", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"symbols": entitledSymbols(grantOf(c), s.engine.Symbols())})
	})
	app.Get("/api/quotes", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), quoteTimeout)
		defer cancel()
		qs, err := s.cfg.Quotes.Quotes(ctx)
		if err != nil {
			return s.quotesUnavailable(c, err)
		}
		qs = entitledQuotes(grantOf(c), qs)
		buf := []byte(`{"quotes":[`)
		for i, q := range qs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = q.AppendJSON(buf)
		}
		buf = append(buf, ']', '}')
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(buf)
	})
	// "*" rather than ":symbol" so that symbols with "/" (EUR/USD) work, escaped or not
	app.Get("/api/quotes/*", func(c *fiber.Ctx) error {
		sym, err := url.PathUnescape(c.Params("*"))
		if err != nil {
			sym = c.Params("*")
		}
		if !grantOf(c).Allows(sym) {
			return forbidden(c, sym)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), quoteTimeout)
		defer cancel()
		q, ok, err := s.cfg.Quotes.Quote(ctx, sym)
		if err != nil {
			return s.quotesUnavailable(c, err)
		}
		if !ok {
			if _, known := slices.BinarySearch(s.engine.Symbols(), sym); known {
				// declared by a feed (it is in /api/symbols) but not quoted yet
				return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no quote yet"})
			}
			return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "unknown symbol"})
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(q.AppendJSON(nil))
	})
	app.Get("/api/bars/*", s.barsHandler)
	app.Use("/control", s.control())
	app.Get("/ws", s.upgradeCheck, s.upgrade)
	app.Get("/stream", s.stream)
	app.Get("/ticker.js", clientJS())
	app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(static.Files), Index: "index.html"}))
}

// barsHandler answers GET /api/bars/{symbol}?interval=1s|1m&limit=N.
func (s *Server) barsHandler(c *fiber.Ctx) error {
	sym, err := url.PathUnescape(c.Params("*"))
	if err != nil {
		sym = c.Params("*")
	}
	if !grantOf(c).Allows(sym) {
		return forbidden(c, sym)
	}
	iv, err := bars.ParseInterval(c.Query("interval", "1s"))
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
	}
	limit := iv.Keep()
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > iv.Keep() {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": fmt.Sprintf("limit %q: want 1 to %d", v, iv.Keep())})
		}
	}
	if s.cfg.Bars == nil {
		return s.barsUnavailable(c, errors.New("this node keeps no bars"))
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), quoteTimeout)
	defer cancel()
	bs, found, err := s.cfg.Bars.Bars(ctx, sym, iv, limit)
	if err != nil {
		return s.barsUnavailable(c, err)
	}
	if !found {
		if _, known := slices.BinarySearch(s.engine.Symbols(), sym); !known {
			return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "unknown symbol"})
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(bars.AppendJSON(nil, sym, iv, bs))
}

// barsUnavailable answers a bar request whose BarSource failed.
func (s *Server) barsUnavailable(c *fiber.Ctx, err error) error {
	s.log.Warn("rest: bars unavailable", "path", c.Path(), "err", err)
	c.Set(fiber.HeaderRetryAfter, "1")
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "bars unavailable"})
}

// quotesUnavailable answers a REST quote request whose QuoteSource failed.
func (s *Server) quotesUnavailable(c *fiber.Ctx, err error) error {
	s.log.Warn("rest: quotes unavailable", "path", c.Path(), "err", err)
	c.Set(fiber.HeaderRetryAfter, "1")
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "quotes unavailable"})
}

// upgradeCheck answers what the contract says before the upgrade: 426 for a
// plain HTTP request, 400 for a broken handshake, 503 while shutting down.
func (s *Server) upgradeCheck(c *fiber.Ctx) error {
	if !ws.HasToken(c.Get(fiber.HeaderConnection), "upgrade") || !ws.HasToken(c.Get(fiber.HeaderUpgrade), "websocket") {
		c.Set("Upgrade", "websocket")
		return c.Status(fiber.StatusUpgradeRequired).JSON(fiber.Map{"error": "this endpoint speaks WebSocket only (ticker.v1)"})
	}
	if s.closing.Load() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "shutting down"})
	}
	if c.Get("Sec-WebSocket-Version") != "13" {
		c.Set("Sec-WebSocket-Version", "13")
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "unsupported Sec-WebSocket-Version; want 13"})
	}
	if !ws.ValidKey(c.Get("Sec-WebSocket-Key")) {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "missing or malformed Sec-WebSocket-Key"})
	}
	if !s.cfg.Origins.Allowed(c.Get(fiber.HeaderOrigin)) {
		s.refuse("origin")
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "origin not allowed"})
	}
	g, err := s.authenticate(c)
	if err != nil {
		return s.unauthorized(c, err)
	}
	c.Locals(grantKey, g)
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
	c.Locals("ip", ip)
	var syms []string
	if raw := c.Query("symbols"); raw != "" {
		for _, sym := range strings.Split(raw, ",") {
			if sym = strings.TrimSpace(sym); sym != "" {
				syms = append(syms, sym)
			}
		}
	}
	c.Locals("symbols", cloneAll(syms)) // the connection outlives the request's buffers (hijack.go)
	every, given, err := s.queryEvery(c)
	switch {
	case err != nil:
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
	case given && len(syms) == 0:
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": `every is the cadence of the symbols of ?symbols=, and there are none: give both, or send "every" in a subscribe`})
	case given:
		c.Locals("every", every)
	}
	return c.Next()
}

// queryEvery reads ?every= of /ws and /stream: given is false when the URL
// has none; a value that is empty, malformed or not one the engine serves
// is an error, the request's 400.
func (s *Server) queryEvery(c *fiber.Ctx) (every time.Duration, given bool, err error) {
	if !c.Context().QueryArgs().Has("every") {
		return 0, false, nil
	}
	every, ok := protocol.ParseEvery([]byte(c.Query("every")))
	if !ok {
		return 0, true, errors.New(protocol.BadEvery)
	}
	if err := s.engine.CheckEvery(every); err != nil {
		return 0, true, err
	}
	return every, true, nil
}

// upgrade answers a checked handshake with 101 and hands the connection to
// serveWS (RFC 6455 §4.2.2): the subprotocol ticker.v1 when offered, and
// permessage-deflate as ws.NegotiateDeflate settles it.
func (s *Server) upgrade(c *fiber.Ctx) error {
	h := &c.Request().Header
	values := func(name string) []string {
		var out []string
		for _, v := range h.PeekAll(name) {
			out = append(out, string(v))
		}
		return out
	}
	ext, deflate := ws.NegotiateDeflate(values("Sec-WebSocket-Extensions"))
	proto := ws.SelectProtocol(values("Sec-WebSocket-Protocol"), "ticker.v1")
	syms, _ := c.Locals("symbols").([]string)
	every, _ := c.Locals("every").(time.Duration)
	ip, _ := c.Locals("ip").(netip.Addr)
	grant := grantOf(c)
	c.Status(fiber.StatusSwitchingProtocols)
	c.Set(fiber.HeaderUpgrade, "websocket")
	c.Set(fiber.HeaderConnection, "Upgrade")
	c.Set("Sec-WebSocket-Accept", ws.AcceptKey(c.Get("Sec-WebSocket-Key")))
	if proto != "" {
		c.Set("Sec-WebSocket-Protocol", proto)
	}
	if deflate {
		c.Set("Sec-WebSocket-Extensions", ext)
	}
	c.Context().Hijack(func(hc net.Conn) {
		s.handOff(hc, "websocket", func(nc net.Conn, r io.Reader) {
			s.serveWS(nc, r, deflate, syms, every, ip, grant)
		})
	})
	return nil
}

// clientAddr is the address a request counts under for the limits.
func (s *Server) clientAddr(c *fiber.Ctx) netip.Addr {
	var peer netip.Addr
	if ta, ok := c.Context().RemoteAddr().(*net.TCPAddr); ok {
		peer, _ = netip.AddrFromSlice(ta.IP)
	}
	return access.ClientAddr(peer, c.Get(fiber.HeaderXForwardedFor), s.cfg.TrustedProxies)
}

// refuseReasons are the reasons refuse is given: ticker_handshakes_refused_total's label values.
var refuseReasons = []string{"origin", "token", "token_expired", "limit_total", "limit_address", "limit_race"}

func (s *Server) refuse(reason string) {
	v, _ := s.refused.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// Serve starts the ping sweeper and accepts connections on ln until
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.startPinger()
	if s.cfg.SendBufferBytes > 0 {
		ln = &sndbufListener{Listener: ln, bytes: s.cfg.SendBufferBytes}
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	return s.app.Listener(ln)
}

// sndbufListener caps each accepted connection's kernel send buffer, so a
// client that stops reading pins at most that much kernel memory (plus its
// bounded queue) and overflows into resync promptly instead of after
// megabytes of autotuned buffer.
type sndbufListener struct {
	net.Listener
	bytes int
}

func (l *sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.bytes)
	}
	return c, err
}

// App returns the Fiber app (for tests that call app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Shutdown stops accepting, closes every WebSocket with 1001 "server shutting
// down", waits for their handlers (at most until ctx ends, then cuts the
// remaining sockets) and stops the HTTP server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true) // under mu: no handler registers after this
	for c := range s.conns {
		c.client.Close(ws.CloseGoingAway, "server shutting down")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.slow.Store(true) // past the deadline: cut
			c.finish()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	s.bg.Wait()
	return s.app.ShutdownWithContext(ctx)
}

// Connections returns how many WebSocket connections are open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// QueuedBytes returns the bytes waiting in every connection's outbound queue.
func (s *Server) QueuedBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		n += c.client.QueuedBytes()
	}
	return n
}

func (s *Server) countClose(code int) {
	v, _ := s.closes.LoadOrStore(code, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}
