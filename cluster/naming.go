package cluster

import (
	"fmt"
	"strings"
)

// SubjectPrefix starts every quote subject: SubjectPrefix + Token(symbol).
const SubjectPrefix = "ticker.q."

// SymbolsSubject announces a symbol the publisher has not published
// before (the payload is the symbol), so that edges can serve subscribes to
// it before their next listing of the bucket.
const SymbolsSubject = "ticker.symbols"

// Bucket is the JetStream key-value bucket of latest full quotes.
const Bucket = "ticker_quotes"

// Token escapes a symbol into one NATS subject token that is also a valid
// key-value key: letters, digits, '-' and '_' stay; every other byte
// becomes '=' and two upper-case hex digits. So "EUR/USD" is "EUR=2FUSD",
// "BRK.B" is "BRK=2EB", "^GSPC" is "=5EGSPC" and "=" itself is "=3D".
// The escaping is one-to-one, and a token never holds '.', '*', '>' or a
// space.
func Token(symbol string) string {
	if !needsEscape(symbol) {
		return symbol
	}
	var b strings.Builder
	for i := 0; i < len(symbol); i++ {
		c := symbol[i]
		if plain(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// Symbol reverses Token; a token Token would not write is an error.
func Symbol(token string) (string, error) {
	if !needsEscape(token) {
		return token, nil
	}
	var b strings.Builder
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '=' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(token) {
			return "", fmt.Errorf("token %q: '=' without two hex digits", token)
		}
		hi, ok1 := unhex(token[i+1])
		lo, ok2 := unhex(token[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("token %q: '=' without two hex digits", token)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	sym := b.String()
	if Token(sym) != token {
		return "", fmt.Errorf("token %q: not the escaping of %q", token, sym)
	}
	return sym, nil
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			return true
		}
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
