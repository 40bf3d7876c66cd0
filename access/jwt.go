package access

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTKeys verifies JSON Web Tokens (RFC 7519) with keys read from a file,
// reloadable while connections stay up. A token must be signed with HS256,
// EdDSA (Ed25519) or RS256 by one of the file's keys, carry "exp", and list
// the symbol patterns its holder may see in the claim "symbols" (an array
// of strings, see Grant). "nbf" and "iat", when present, are checked too;
// every other claim is ignored.
type JWTKeys struct {
	path string
	keys atomic.Pointer[[]jwtKey]
}

// jwtKey is one verification key: its algorithm, its kid ("" for none) and
// the key in the form golang-jwt takes for that algorithm.
type jwtKey struct {
	alg string // "HS256", "EdDSA" or "RS256"
	kid string
	key any // []byte, ed25519.PublicKey or *rsa.PublicKey
}

// SymbolsClaim is the claim that lists a JWT's symbol patterns.
const SymbolsClaim = "symbols"

// maxKeyFile bounds the key file; minSecret is the shortest HS256 secret
// (RFC 7518 §3.2: at least the hash's 256 bits); minRSABits the smallest
// RSA modulus taken.
const (
	maxKeyFile = 1 << 20
	minSecret  = 32
	minRSABits = 2048
)

// LoadJWTKeys reads path, which holds any number of keys:
//
//	# HS256: "hs256", an optional key id, the secret in base64 (>= 32 bytes)
//	hs256 desk-2026 3q2+7wAAAAB0aWNrZXItand0LXNlY3JldC0wMDAwMDAwMDE=
//	# EdDSA (Ed25519) or RS256 (RSA, >= 2048 bits): a PEM "PUBLIC KEY"
//	# (PKIX), with an optional "kid" header
//	-----BEGIN PUBLIC KEY-----
//	kid: partner-a
//
//	MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
//	-----END PUBLIC KEY-----
//
// A token whose header names a kid is checked against the keys with that
// kid only; one without a kid against every key of its algorithm.
func LoadJWTKeys(path string) (*JWTKeys, error) {
	k := &JWTKeys{path: path}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the file again. On error the keys in force stay; the error
// names the file and line, never a secret.
func (k *JWTKeys) Reload() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return err
	}
	if st.Size() > maxKeyFile {
		return fmt.Errorf("%s: %d bytes, more than %d", k.path, st.Size(), maxKeyFile)
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	keys, err := parseJWTKeys(k.path, data)
	if err != nil {
		return err
	}
	k.keys.Store(&keys)
	return nil
}

// Count returns how many keys are in force.
func (k *JWTKeys) Count() int {
	if k == nil {
		return 0
	}
	return len(*k.keys.Load())
}

// parseJWTKeys reads a key file's contents (the format of LoadJWTKeys).
func parseJWTKeys(path string, data []byte) ([]jwtKey, error) {
	var keys []jwtKey
	line := 1
	rest := data
	for len(rest) > 0 {
		// the lines before the next PEM block are hs256 lines and comments
		text := rest
		at := bytes.Index(rest, []byte("-----BEGIN "))
		if at >= 0 {
			text = rest[:at]
		}
		for _, l := range strings.Split(string(text), "\n") {
			k, err := parseSecretLine(l)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			if k != nil {
				keys = append(keys, *k)
			}
			line++
		}
		line-- // the last piece is the start of the PEM block's line, or the end
		if at < 0 {
			break
		}
		block, after := pem.Decode(rest[at:])
		if block == nil {
			return nil, fmt.Errorf("%s:%d: a PEM block that does not decode", path, line)
		}
		k, err := parsePublicKey(block)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		keys = append(keys, k)
		line += bytes.Count(rest[at:len(rest)-len(after)], []byte("\n"))
		rest = after
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys (hs256 lines or PEM public keys)", path)
	}
	return keys, nil
}

// parseSecretLine reads one line outside the PEM blocks: blank, a comment,
// or "hs256 [kid] SECRET". It returns nil for no key.
func parseSecretLine(l string) (*jwtKey, error) {
	f := strings.Fields(l)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return nil, nil
	}
	if !strings.EqualFold(f[0], "hs256") || len(f) < 2 || len(f) > 3 {
		return nil, errors.New(`want "hs256 [kid] SECRET", a comment, or a PEM public key`)
	}
	kid, enc := "", f[len(f)-1]
	if len(f) == 3 {
		kid = f[1]
	}
	secret, err := decodeSecret(enc)
	if err != nil {
		return nil, errors.New("the secret is not base64")
	}
	if len(secret) < minSecret {
		return nil, fmt.Errorf("an HS256 secret of %d bytes; at least %d", len(secret), minSecret)
	}
	return &jwtKey{alg: "HS256", kid: kid, key: secret}, nil
}

// decodeSecret reads base64, standard or URL alphabet, padded or not.
func decodeSecret(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// parsePublicKey reads a PEM "PUBLIC KEY" block: Ed25519 or RSA.
func parsePublicKey(block *pem.Block) (jwtKey, error) {
	if block.Type != "PUBLIC KEY" {
		return jwtKey{}, fmt.Errorf("a PEM %q block; want PUBLIC KEY (PKIX)", block.Type)
	}
	kid := block.Headers["kid"]
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return jwtKey{}, fmt.Errorf("public key: %v", err)
	}
	switch pk := pub.(type) {
	case ed25519.PublicKey:
		return jwtKey{alg: "EdDSA", kid: kid, key: pk}, nil
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSABits {
			return jwtKey{}, fmt.Errorf("an RSA key of %d bits; at least %d", pk.N.BitLen(), minRSABits)
		}
		return jwtKey{alg: "RS256", kid: kid, key: pk}, nil
	default:
		return jwtKey{}, fmt.Errorf("a %T public key; want Ed25519 or RSA", pub)
	}
}

// Errors of Verify and Authenticator.Authenticate. Their text is all a
// client or a log is told: never the token or one of its claims.
var (
	ErrNoToken      = errors.New("missing token")
	ErrInvalidToken = errors.New("invalid token")
	ErrTokenExpired = errors.New("token expired")
)

// jwtClaims is what ticker reads of a token's claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Symbols []string `json:"symbols"`
}

// Verify checks token at now and returns its grant, which expires at the
// token's exp. The error is ErrTokenExpired or ErrInvalidToken.
func (k *JWTKeys) Verify(token string, now time.Time) (*Grant, error) {
	keys := *k.keys.Load()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256", "EdDSA", "RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims jwtClaims
	_, err := p.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		kid, hasKid := t.Header["kid"].(string)
		var set jwt.VerificationKeySet
		for _, key := range keys {
			if key.alg == alg && (!hasKid || key.kid == kid) {
				set.Keys = append(set.Keys, key.key)
			}
		}
		if len(set.Keys) == 0 {
			return nil, errors.New("no key")
		}
		return set, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, ErrInvalidToken
	}
	if claims.ExpiresAt == nil { // WithExpirationRequired's job; checked here too, as everything rests on it
		return nil, ErrInvalidToken
	}
	g, err := ParseGrant(claims.Symbols)
	if err != nil {
		return nil, ErrInvalidToken
	}
	return g.WithExpiry(claims.ExpiresAt.Time), nil
}
