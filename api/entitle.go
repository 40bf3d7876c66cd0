package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// Entitlements (docs/entitlements.md). Every way in — the WebSocket
// handshake, the REST market data, and any other stream — takes its token
// through authenticate and keeps the grant it returns: requests with
// grantOf, a subscriber through fanout.Client.Restrict(grant.Filter()) and
// atExpiry. Nothing else in the package decides who may see what.

// grantKey is the fiber.Ctx Locals key of a request's *access.Grant.
const grantKey = "grant"

// authenticate returns what the request's token (Authorization: Bearer, or
// ?token=) may see. A refusal is logged at debug level by its reason only:
// never the token or a claim.
func (s *Server) authenticate(c *fiber.Ctx) (*access.Grant, error) {
	auth := access.Authenticator{Tokens: s.cfg.Tokens, JWT: s.cfg.JWTKeys}
	g, err := auth.Authenticate(access.FromRequest(c.Get(fiber.HeaderAuthorization), c.Query("token")), time.Now())
	if err != nil {
		s.log.Debug("refused a token", "reason", err.Error(), "path", c.Path())
	}
	return g, err
}

// unauthorized answers 401 for an authenticate error, and counts it.
func (s *Server) unauthorized(c *fiber.Ctx, err error) error {
	msg := "missing or invalid token"
	if err == access.ErrTokenExpired {
		s.refuse("token_expired")
		msg = "token expired"
	} else {
		s.refuse("token")
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticker"`)
	return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": msg})
}

// requireToken guards the REST market data with the same tokens as /ws,
// and keeps the request's grant for grantOf.
func (s *Server) requireToken(c *fiber.Ctx) error {
	g, err := s.authenticate(c)
	if err != nil {
		return s.unauthorized(c, err)
	}
	c.Locals(grantKey, g)
	return c.Next()
}

// grantOf returns the grant requireToken or upgradeCheck kept for c; one
// that was never authenticated sees nothing.
func grantOf(c *fiber.Ctx) *access.Grant {
	if g, ok := c.Locals(grantKey).(*access.Grant); ok {
		return g
	}
	return access.Nothing // never authenticated: fail closed
}

// forbidden answers 403 for a symbol outside the request's grant, whether
// or not the symbol exists (so a grant tells nothing of other symbols).
func forbidden(c *fiber.Ctx, symbol string) error {
	return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "not entitled to this symbol", "symbols": []string{symbol}})
}

// entitledSymbols returns the symbols of syms that g covers (syms itself
// when g covers everything).
func entitledSymbols(g *access.Grant, syms []string) []string {
	if g.All() {
		return syms
	}
	out := make([]string, 0, len(syms))
	for _, s := range syms {
		if g.Allows(s) {
			out = append(out, s)
		}
	}
	return out
}

// entitledQuotes returns the quotes of qs that g covers.
func entitledQuotes(g *access.Grant, qs []market.Quote) []market.Quote {
	if g.All() {
		return qs
	}
	out := qs[:0:0]
	for _, q := range qs {
		if g.Allows(q.Symbol) {
			out = append(out, q)
		}
	}
	return out
}

// atExpiry calls end when g expires (a JWT's exp), on a timer's goroutine;
// the caller must call stop once its connection has ended. A grant with no
// expiry never calls end.
func (s *Server) atExpiry(g *access.Grant, end func()) (stop func()) {
	exp := g.Expiry()
	if exp.IsZero() {
		return func() {}
	}
	t := time.AfterFunc(time.Until(exp), end)
	return func() { t.Stop() }
}

// tokenExpired closes a WebSocket whose token has expired, with
// protocol.CloseTokenExpired; the client may reconnect with a fresh token.
func (c *conn) tokenExpired() {
	if c.client.Close(protocol.CloseTokenExpired, "token expired") {
		c.s.log.Info("closed a connection: its token expired", "peer", c.sock.nc.RemoteAddr().String())
	}
}
