// Package testjwt makes throwaway JWT keys for tests: an HS256 secret
// (kid "hs"), an Ed25519 key pair (kid "ed") and, on request, an RSA 2048
// key pair (kid "rs"), written as a --jwt-keys file, and signs tokens with
// them.
package testjwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Keys is a set of signing keys and the key file that verifies them.
type Keys struct {
	Secret []byte
	Ed     ed25519.PrivateKey
	RSA    *rsa.PrivateKey // nil unless New was asked for it
	File   string          // the --jwt-keys file
}

// New makes the keys and writes their file into dir; withRSA adds an RSA
// key (slower to make).
func New(t testing.TB, dir string, withRSA bool) *Keys {
	t.Helper()
	k := &Keys{Secret: make([]byte, 32)}
	rand.Read(k.Secret)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.Ed = ed
	if withRSA {
		if k.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	k.File = filepath.Join(dir, "jwt-keys")
	if err := os.WriteFile(k.File, []byte(k.FileText()), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// FileText is the key file's contents.
func (k *Keys) FileText() string {
	var b strings.Builder
	b.WriteString("# test keys\nhs256 hs " + base64.StdEncoding.EncodeToString(k.Secret) + "\n\n")
	b.WriteString(PublicPEM(k.Ed.Public(), "ed"))
	if k.RSA != nil {
		b.WriteString(PublicPEM(&k.RSA.PublicKey, "rs"))
	}
	return b.String()
}

// PublicPEM encodes a public key as a PEM PUBLIC KEY block with a kid
// header ("" for none).
func PublicPEM(pub any, kid string) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	blk := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if kid != "" {
		blk.Headers = map[string]string{"kid": kid}
	}
	return string(pem.EncodeToMemory(blk))
}

// Sign signs claims with the key of alg ("HS256", "EdDSA" or "RS256"),
// naming its kid in the header unless kid is false.
func (k *Keys) Sign(t testing.TB, alg string, claims jwt.MapClaims, kid bool) string {
	t.Helper()
	var (
		method jwt.SigningMethod
		key    any
		name   string
	)
	switch alg {
	case "HS256":
		method, key, name = jwt.SigningMethodHS256, k.Secret, "hs"
	case "EdDSA":
		method, key, name = jwt.SigningMethodEdDSA, k.Ed, "ed"
	case "RS256":
		method, key, name = jwt.SigningMethodRS256, k.RSA, "rs"
	default:
		t.Fatalf("testjwt: no key for %s", alg)
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid {
		tok.Header["kid"] = name
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Claims returns claims with symbols and an exp d from now.
func Claims(d time.Duration, symbols ...string) jwt.MapClaims {
	return jwt.MapClaims{"exp": time.Now().Add(d).Unix(), "symbols": symbols}
}
