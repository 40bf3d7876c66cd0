package access

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticker-io/ticker/internal/testjwt"
)

// TestJWTVerify: tokens signed by a listed key with exp and symbols pass
// with their patterns and expiry; anything else is ErrInvalidToken, or
// ErrTokenExpired past exp (with a good signature only).
func TestJWTVerify(t *testing.T) {
	dir := t.TempDir()
	k := testjwt.New(t, dir, true)
	keys, err := LoadJWTKeys(k.File)
	if err != nil {
		t.Fatal(err)
	}
	if keys.Count() != 3 {
		t.Fatalf("Count() = %d, want 3", keys.Count())
	}
	now := time.Now()
	good := testjwt.Claims(time.Hour, "BTC-*", "AAPL")
	for _, alg := range []string{"HS256", "EdDSA", "RS256"} {
		for _, kid := range []bool{true, false} {
			g, err := keys.Verify(k.Sign(t, alg, good, kid), now)
			if err != nil {
				t.Fatalf("%s kid=%v: %v", alg, kid, err)
			}
			if !g.Allows("BTC-USD") || !g.Allows("AAPL") || g.Allows("ETH-USD") || g.All() {
				t.Errorf("%s: the grant does not follow the symbols claim", alg)
			}
			if want := time.Unix(good["exp"].(int64), 0); !g.Expiry().Equal(want) {
				t.Errorf("%s: expiry %v, want %v", alg, g.Expiry(), want)
			}
		}
	}
	if g, err := keys.Verify(k.Sign(t, "EdDSA", testjwt.Claims(time.Hour, "*"), true), now); err != nil || !g.All() || g.Expiry().IsZero() {
		t.Errorf(`symbols ["*"]: %v %v`, g, err)
	}

	other := testjwt.New(t, t.TempDir(), false) // keys nobody listed
	exp := time.Now().Add(time.Hour).Unix()
	hs := func(claims jwt.MapClaims) string { return k.Sign(t, "HS256", claims, true) }
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	edTok := k.Sign(t, "EdDSA", good, true)
	parts := strings.Split(edTok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":4102444800,"symbols":["*"]}`)) + "." + parts[2]
	// HS256 signed with the Ed25519 public key's PEM: the algorithm confusion attack
	pubPEM := testjwt.PublicPEM(k.Ed.Public(), "ed")
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good).SignedString([]byte(pubPEM))
	wrongKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
	wrongKid.Header["kid"] = "hs"
	wrongKidTok, _ := wrongKid.SignedString(k.Ed)
	for name, tok := range map[string]string{
		"alg none":             noneTok,
		"HS256 by another key": other.Sign(t, "HS256", good, true),
		"EdDSA by another key": other.Sign(t, "EdDSA", good, false),
		"claims changed":       forged,
		"algorithm confusion":  confused,
		"kid of another key":   wrongKidTok,
		"no exp":               hs(jwt.MapClaims{"symbols": []string{"*"}}),
		"no symbols":           hs(jwt.MapClaims{"exp": exp}),
		"empty symbols":        hs(jwt.MapClaims{"exp": exp, "symbols": []string{}}),
		"symbols not an array": hs(jwt.MapClaims{"exp": exp, "symbols": "BTC-*"}),
		"a bad pattern":        hs(jwt.MapClaims{"exp": exp, "symbols": []string{"B*C"}}),
		"not yet valid":        hs(jwt.MapClaims{"exp": exp, "nbf": time.Now().Add(time.Minute).Unix(), "symbols": []string{"*"}}),
		"expired, forged":      other.Sign(t, "HS256", testjwt.Claims(-time.Minute, "*"), true),
		"garbage":              "a.b.c",
		"two parts":            parts[0] + "." + parts[1],
		"signature cut":        edTok[:len(edTok)-4],
	} {
		if _, err := keys.Verify(tok, now); err != ErrInvalidToken {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := keys.Verify(hs(testjwt.Claims(-time.Second, "*")), now); err != ErrTokenExpired {
		t.Errorf("expired: %v, want ErrTokenExpired", err)
	}
	later := k.Sign(t, "EdDSA", testjwt.Claims(time.Minute, "*"), true)
	if _, err := keys.Verify(later, now.Add(2*time.Minute)); err != ErrTokenExpired {
		t.Errorf("verified after its exp: %v, want ErrTokenExpired", err)
	}

	// the Authenticator tries the token file first, then JWTs
	a := Authenticator{JWT: keys}
	if g, err := a.Authenticate(k.Sign(t, "HS256", good, true), now); err != nil || g.Allows("ETH-USD") {
		t.Errorf("Authenticate: %v %v", g, err)
	}
	if _, err := a.Authenticate("not-a-jwt", now); err != ErrInvalidToken {
		t.Errorf("Authenticate(not a JWT): %v", err)
	}

	// reload: a key removed from the file stops verifying; a broken file keeps the keys
	os.WriteFile(k.File, []byte("hs256 "+base64.StdEncoding.EncodeToString(other.Secret)+"\n"), 0o600)
	if err := keys.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(k.Sign(t, "HS256", good, false), now); err != ErrInvalidToken {
		t.Errorf("a removed key still verifies: %v", err)
	}
	if _, err := keys.Verify(other.Sign(t, "HS256", good, false), now); err != nil {
		t.Errorf("the new key does not verify: %v", err)
	}
	os.WriteFile(k.File, []byte("hs256 short\n"), 0o600)
	if err := keys.Reload(); err == nil {
		t.Error("a broken key file reloaded")
	}
	if _, err := keys.Verify(other.Sign(t, "HS256", good, false), now); err != nil {
		t.Errorf("a failed reload dropped the keys: %v", err)
	}
}

// TestJWTKeyFile: what a key file may hold, and errors that name the line
// and never the secret.
func TestJWTKeyFile(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPEM := testjwt.PublicPEM(pub, "")
	for _, tt := range []struct {
		file string
		n    int
		err  string // "" for none
	}{
		{"hs256 " + secret + "\n", 1, ""},
		{"# c\n\nHS256 k1 " + secret + "\nhs256 " + strings.TrimRight(base64.URLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), "=") + "\n", 2, ""},
		{edPEM, 1, ""},
		{"hs256 " + secret + "\n" + edPEM + "# after\n" + edPEM, 3, ""},
		{"", 0, "no keys"},
		{"# only\n", 0, "no keys"},
		{"hs256 c2hvcnQ=\n", 0, "keys:1: an HS256 secret of 5 bytes; at least 32"},
		{"# x\nhs256 !!notbase64!!\n", 0, "keys:2: the secret is not base64"},
		{"hs384 " + secret + "\n", 0, "keys:1: want"},
		{"hs256 a b " + secret + "\n", 0, "keys:1: want"},
		{"hs256 " + secret + "\n\n" + edPEM + "junk\n", 0, "keys:" + itoa(3+strings.Count(edPEM, "\n")) + ": want"},
		{testjwt.PublicPEM(&small.PublicKey, ""), 0, "an RSA key of 1024 bits"},
		{"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", 0, "keys:1: public key"},
		{"-----BEGIN PUBLIC KEY-----\nMCow\n", 0, "keys:1: a PEM block that does not decode"},
		{strings.Replace(edPEM, "PUBLIC KEY", "PRIVATE KEY", 2), 0, `keys:1: a PEM "PRIVATE KEY" block`},
	} {
		keys, err := parseJWTKeys("keys", []byte(tt.file))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.file, err)
		case tt.err == "" && len(keys) != tt.n:
			t.Errorf("%q: %d keys, want %d", tt.file, len(keys), tt.n)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %v, want %q", tt.file, err, tt.err)
		case err != nil && strings.Contains(err.Error(), secret[:10]):
			t.Errorf("%q: the error quotes the secret: %v", tt.file, err)
		}
	}
	if _, err := LoadJWTKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing key file loaded")
	}
	var none *JWTKeys
	if none.Count() != 0 {
		t.Error("nil Count")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
