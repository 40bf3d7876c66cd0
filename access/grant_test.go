package access

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGrant(t *testing.T) {
	for _, tt := range []struct {
		patterns []string
		allow    []string
		deny     []string
		all      bool
	}{
		{[]string{"*"}, []string{"AAPL", "BTC-USD", "x"}, nil, true},
		{[]string{"BTC-*"}, []string{"BTC-USD", "BTC-EUR", "BTC-"}, []string{"BTC", "ETH-USD", "btc-usd", "XBTC-USD"}, false},
		{[]string{"AAPL", "MSFT"}, []string{"AAPL", "MSFT"}, []string{"AAP", "AAPLX", "aapl", "NVDA"}, false},
		{[]string{"EUR/*", "^GSPC", "ES=F"}, []string{"EUR/USD", "^GSPC", "ES=F"}, []string{"USD/EUR", "^GSPCX"}, false},
		{[]string{"AAPL", "*"}, []string{"NVDA"}, nil, true},
		{[]string{"A*", "AAPL"}, []string{"AAPL", "AMZN", "A"}, []string{"NVDA"}, false},
	} {
		g, err := ParseGrant(tt.patterns)
		if err != nil {
			t.Fatalf("%q: %v", tt.patterns, err)
		}
		if g.All() != tt.all {
			t.Errorf("%q: All() = %v", tt.patterns, g.All())
		}
		if (g.Filter() == nil) != tt.all {
			t.Errorf("%q: Filter() nil = %v, want %v", tt.patterns, g.Filter() == nil, tt.all)
		}
		for _, s := range tt.allow {
			if !g.Allows(s) {
				t.Errorf("%q does not allow %q", tt.patterns, s)
			}
		}
		for _, s := range tt.deny {
			if g.Allows(s) {
				t.Errorf("%q allows %q", tt.patterns, s)
			}
		}
		if !g.Expiry().IsZero() || g.Expired(time.Now()) {
			t.Errorf("%q: an expiry %v", tt.patterns, g.Expiry())
		}
	}
	for _, bad := range [][]string{nil, {}, {""}, {"**"}, {"B*C"}, {"*BTC"}, {"BTC USD"}, {"AAPL", "bad pattern"}, {"ÄPL"}, {strings.Repeat("A", 100)}} {
		if _, err := ParseGrant(bad); err == nil {
			t.Errorf("ParseGrant(%q) accepted", bad)
		}
	}
}

// TestGrantKey: grants of the same patterns, in any order and with
// repeats, share a key; any other set of patterns has another.
func TestGrantKey(t *testing.T) {
	key := func(ps ...string) string {
		g, err := ParseGrant(ps)
		if err != nil {
			t.Fatal(err)
		}
		return g.Key()
	}
	if a, b := key("BTC-*", "AAPL", "ETH-USD"), key("ETH-USD", "AAPL", "BTC-*", "AAPL"); a != b || a != "AAPL,BTC-*,ETH-USD" {
		t.Errorf("same patterns: %q, %q", a, b)
	}
	for _, other := range [][]string{{"BTC-*", "AAPL"}, {"BTC", "AAPL", "ETH-USD"}, {"BTC-*", "AAPL", "ETH-USD*"}} {
		if key(other...) == key("BTC-*", "AAPL", "ETH-USD") {
			t.Errorf("%q shares the key of another set", other)
		}
	}
	if key("*") != "*" || key("AAPL", "*") != "*" || Everything.Key() != "*" || Nothing.Key() == "*" {
		t.Error("the key of everything")
	}
	exp := time.Now()
	if g, _ := ParseGrant([]string{"AAPL"}); g.WithExpiry(exp).Key() != g.Key() {
		t.Error("an expiry changed the key")
	}
	if Everything.Filter() != nil {
		t.Error("Everything is filtered")
	}
}

func TestGrantSplit(t *testing.T) {
	g, _ := ParseGrant([]string{"BTC-*", "AAPL"})
	allowed, forbidden := g.Split([]string{"AAPL", "NVDA", "*", "BTC-USD", "ETH-USD"})
	if !slices.Equal(allowed, []string{"AAPL", "*", "BTC-USD"}) || !slices.Equal(forbidden, []string{"NVDA", "ETH-USD"}) {
		t.Errorf("Split = %q, %q", allowed, forbidden)
	}
	allowed, forbidden = Everything.Split([]string{"NVDA", "*"})
	if !slices.Equal(allowed, []string{"NVDA", "*"}) || forbidden != nil {
		t.Errorf("Everything.Split = %q, %q", allowed, forbidden)
	}
	var none *Grant
	if !none.Allows("X") || !none.All() {
		t.Error("a nil grant must be Everything")
	}
	if Nothing.Allows("AAPL") || Nothing.All() {
		t.Error("Nothing allows")
	}
	exp := time.Now().Add(time.Minute)
	e := g.WithExpiry(exp)
	if !e.Expiry().Equal(exp) || !g.Expiry().IsZero() || e.Expired(time.Now()) || !e.Expired(exp) {
		t.Error("WithExpiry")
	}
	if !e.Allows("BTC-EUR") || e.Allows("NVDA") {
		t.Error("WithExpiry changed the patterns")
	}
}

// TestTokenFilePatterns: each line's token gets its line's patterns; a line
// without any sees everything, as before patterns existed.
func TestTokenFilePatterns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte(`# desk tokens
plain-0001
desk-0002   BTC-* ETH-USD   # crypto
app-0003	AAPL,MSFT, NVDA
star-0004 *
`), 0o600)
	tk, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Count() != 4 {
		t.Errorf("Count() = %d", tk.Count())
	}
	for _, tt := range []struct {
		token       string
		allow, deny []string
	}{
		{"plain-0001", []string{"AAPL", "BTC-USD"}, nil},
		{"desk-0002", []string{"BTC-USD", "ETH-USD"}, []string{"ETH-EUR", "AAPL", "crypto"}},
		{"app-0003", []string{"AAPL", "MSFT", "NVDA"}, []string{"BTC-USD"}},
		{"star-0004", []string{"AAPL", "ZZZ"}, nil},
	} {
		g, ok := tk.Lookup(tt.token)
		if !ok {
			t.Fatalf("%s refused", tt.token)
		}
		for _, s := range tt.allow {
			if !g.Allows(s) {
				t.Errorf("%s does not allow %s", tt.token, s)
			}
		}
		for _, s := range tt.deny {
			if g.Allows(s) {
				t.Errorf("%s allows %s", tt.token, s)
			}
		}
	}
	for _, tok := range []string{"", "desk-0002 BTC-*", "BTC-*", "#", "crypto"} {
		if _, ok := tk.Lookup(tok); ok {
			t.Errorf("Lookup(%q) accepted", tok)
		}
	}
	for _, tt := range []struct{ file, want string }{
		{"ok\nt1 B*D\n", "tokens:2: pattern 1 is not a symbol pattern"},
		{"t1 AAPL ÄPL\n", "tokens:1: pattern 2 is not a symbol pattern"},
		{"t1\n\nt1 AAPL\n", "tokens:3: the token of line 1 again"},
		{"# none\n  # at all\n", "no tokens"},
	} {
		os.WriteFile(path, []byte(tt.file), 0o600)
		err := tk.Reload()
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "t1") {
			t.Errorf("%q: %v, want %q and no token", tt.file, err, tt.want)
		}
	}
	if g, ok := tk.Lookup("desk-0002"); !ok || g.Allows("AAPL") {
		t.Error("a failed reload changed the tokens in force")
	}
}

func TestAuthenticator(t *testing.T) {
	if g, err := (Authenticator{}).Authenticate("", time.Now()); err != nil || !g.All() {
		t.Errorf("open: %v %v", g, err)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte("desk-0002 BTC-*\n"), 0o600)
	tk, _ := LoadTokens(path)
	a := Authenticator{Tokens: tk}
	if _, err := a.Authenticate("", time.Now()); err != ErrNoToken {
		t.Errorf("no token: %v", err)
	}
	if _, err := a.Authenticate("nope", time.Now()); err != ErrInvalidToken {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := a.Authenticate("a.b.c", time.Now()); err != ErrInvalidToken {
		t.Errorf("a JWT with no keys: %v", err)
	}
	if g, err := a.Authenticate("desk-0002", time.Now()); err != nil || !g.Allows("BTC-USD") || g.Allows("AAPL") {
		t.Errorf("listed token: %v %v", g, err)
	}
}
