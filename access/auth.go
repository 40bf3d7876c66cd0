package access

import (
	"strings"
	"time"
)

// Authenticator turns the token a request presents into what it may see:
// a token listed in the token file (Tokens) gets that line's grant; else,
// with JWT keys, a verified JWT gets the grant of its "symbols" claim,
// ending at its "exp". With neither configured the server is open and
// every request gets Everything. It is a value: build one per request from
// the configured sets, which reload underneath it.
type Authenticator struct {
	Tokens *Tokens  // nil: no token file
	JWT    *JWTKeys // nil: no JWTs
}

// Open reports whether no token is required.
func (a Authenticator) Open() bool { return a.Tokens == nil && a.JWT == nil }

// Authenticate returns the grant of token at now. The error is
// ErrNoToken, ErrInvalidToken or ErrTokenExpired, and says nothing of
// the token.
func (a Authenticator) Authenticate(token string, now time.Time) (*Grant, error) {
	if a.Open() {
		return Everything, nil
	}
	if token == "" {
		return nil, ErrNoToken
	}
	if a.Tokens != nil {
		if g, ok := a.Tokens.Lookup(token); ok {
			return g, nil
		}
	}
	if a.JWT != nil && strings.Count(token, ".") == 2 {
		return a.JWT.Verify(token, now)
	}
	return nil, ErrInvalidToken
}
