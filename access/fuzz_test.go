package access

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// tokenFileError is every error parseTokens may give: none quotes a line.
var tokenFileError = regexp.MustCompile(`^tokens\.txt(:\d+: pattern \d+ is not a symbol pattern \(a symbol, a symbol prefix followed by "\*", or "\*" alone\)|:\d+: the token of line \d+ again|: no tokens \(one a line, then its symbol patterns if any; # starts a comment\)|: bufio\.Scanner: token too long)$`)

// FuzzParseTokens: any token file is read into exactly its tokens, each
// with the grant its patterns describe (everything without one), or
// refused with an error that quotes none of it.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"alpha\nbeta\n", "# c\n\n  t1  \r\nt2", "a b\n", "", "#only\n", "x\x00y\n",
		"desk BTC-* ETH-USD\napp AAPL,MSFT # comment\nall *\n", "t b*d\n", "t a\nt b\n", "t ,,\n", "t EUR/USD,^GSPC\tES=F\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseTokens("tokens.txt", data)
		if err != nil {
			if !tokenFileError.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the known forms (it may quote a token)", err)
			}
			return
		}
		tok := &Tokens{}
		tok.entries.Store(&entries)
		lines := map[string][]string{} // token → its patterns
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			words := strings.Fields(line)
			for i, w := range words {
				if strings.HasPrefix(w, "#") {
					words = words[:i]
					break
				}
			}
			if len(words) == 0 {
				continue
			}
			n++
			var pats []string
			for _, w := range words[1:] {
				for _, p := range strings.Split(w, ",") {
					if p != "" {
						pats = append(pats, p)
					}
				}
			}
			lines[words[0]] = pats
		}
		if n != len(entries) {
			t.Fatalf("%d tokens in the file, %d entries", n, len(entries))
		}
		for token, pats := range lines {
			g, ok := tok.Lookup(token)
			if !ok {
				t.Fatalf("token %q from the file is not accepted", token)
			}
			if _, listed := lines[token+"x"]; !listed && tok.Valid(token+"x") {
				t.Fatalf("token %q with a byte more is accepted", token)
			}
			if g.Allows("~") != slices.Contains(pats, "*") && len(pats) > 0 {
				t.Fatalf("token %q with patterns %q sees a symbol none of them names", token, pats)
			}
			if len(pats) == 0 && !g.All() {
				t.Fatalf("token %q without patterns does not see everything", token)
			}
			for _, p := range pats {
				switch {
				case p == "*":
					if !g.All() {
						t.Fatalf("token %q with * does not see everything", token)
					}
				case strings.HasSuffix(p, "*"):
					if pre := strings.TrimSuffix(p, "*"); !g.Allows(pre) || !g.Allows(pre+"Z9") {
						t.Fatalf("token %q: pattern %q does not cover its prefix", token, p)
					}
				default:
					if !g.Allows(p) {
						t.Fatalf("token %q: pattern %q does not cover itself", token, p)
					}
				}
			}
		}
	})
}

// FuzzParseOrigins: a list is refused or every origin it names is allowed
// in the form browsers send, and Allowed never panics on any header.
func FuzzParseOrigins(f *testing.F) {
	for _, s := range []string{"https://app.example.com, http://localhost:8080", "ftp://x", "https://a/b", " , ", "http://[::1]:80"} {
		f.Add(s, "https://app.example.com")
	}
	f.Fuzz(func(t *testing.T, list, header string) {
		o, err := ParseOrigins(list)
		if err != nil {
			return
		}
		o.Allowed(header)
		for _, norm := range o.List() {
			if !o.Allowed(norm) {
				t.Fatalf("ParseOrigins(%q) lists %q but does not allow it", list, norm)
			}
		}
	})
}

// FuzzClientAddr: whatever X-Forwarded-For says, a connection is counted
// under its peer or an address the header names, and only a trusted peer's
// header is read.
func FuzzClientAddr(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, "203.0.113.7, 10.0.0.2")
	f.Add([]byte{192, 0, 2, 1}, "203.0.113.7")
	f.Add([]byte{10, 0, 0, 1}, "::ffff:1.2.3.4,junk, 10.0.0.9")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peerBytes []byte, xff string) {
		peer, ok := netip.AddrFromSlice(peerBytes)
		if !ok {
			return
		}
		got := ClientAddr(peer, xff, trusted)
		if got == peer.Unmap() {
			return
		}
		if !contains(trusted, peer.Unmap()) {
			t.Fatalf("untrusted peer %v counted as %v from its header %q", peer, got, xff)
		}
		for _, part := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(part)); err == nil && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("peer %v counted as %v, which %q does not name", peer, got, xff)
	})
}
