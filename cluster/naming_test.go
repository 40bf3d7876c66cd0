package cluster

import (
	"strings"
	"testing"

	"github.com/ticker-io/ticker/market"
)

func TestToken(t *testing.T) {
	for _, tt := range []struct{ symbol, token string }{
		{"BTC-USD", "BTC-USD"},
		{"EUR/USD", "EUR=2FUSD"},
		{"BRK.B", "BRK=2EB"},
		{"^GSPC", "=5EGSPC"},
		{"ES:H6", "ES=3AH6"},
		{"=", "=3D"},
		{"a_b", "a_b"},
	} {
		if got := Token(tt.symbol); got != tt.token {
			t.Errorf("Token(%q) = %q, want %q", tt.symbol, got, tt.token)
		}
		if got, err := Symbol(tt.token); err != nil || got != tt.symbol {
			t.Errorf("Symbol(%q) = %q, %v", tt.token, got, err)
		}
	}
	for _, bad := range []string{"=", "=4", "=zz", "=41", "A=2e"} { // "=41" is "A", which Token writes plain
		if s, err := Symbol(bad); err == nil {
			t.Errorf("Symbol(%q) = %q, want an error", bad, s)
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"BTC-USD", "EUR/USD", "^GSPC", "=3D", "=", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if market.ValidateSymbol(s) == nil {
			tok := Token(s)
			if strings.ContainsAny(tok, ".*> \t") {
				t.Fatalf("Token(%q) = %q holds a subject separator or wildcard", s, tok)
			}
			if back, err := Symbol(tok); err != nil || back != s {
				t.Fatalf("Symbol(Token(%q)) = %q, %v", s, back, err)
			}
		}
		if sym, err := Symbol(s); err == nil && Token(sym) != s {
			t.Fatalf("Symbol(%q) = %q, whose token is %q", s, sym, Token(sym))
		}
	})
}
