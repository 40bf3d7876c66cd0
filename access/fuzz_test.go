package access

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// tokenFileError is every error parseTokens may give: none quotes a line.
var tokenFileError = regexp.MustCompile(`^tokens\.txt(:\d+: a token may not contain spaces|: no tokens \(one per line; # starts a comment\)|: bufio\.Scanner: token too long)$`)

// FuzzParseTokens: any token file is read into digests of exactly its
// tokens, or refused with an error that quotes none of it.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"alpha\nbeta\n", "# c\n\n  t1  \r\nt2", "a b\n", "", "#only\n", "x\x00y\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		digests, err := parseTokens("tokens.txt", data)
		if err != nil {
			if !tokenFileError.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the known forms (it may quote a token)", err)
			}
			return
		}
		tok := &Tokens{}
		tok.digests.Store(&digests)
		inFile := map[string]bool{}
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			n++
			inFile[line] = true
		}
		for line := range inFile {
			if !tok.Valid(line) {
				t.Fatalf("token %q from the file is not accepted", line)
			}
			if more := line + "x"; !inFile[more] && tok.Valid(more) {
				t.Fatalf("token %q with a byte more is accepted", line)
			}
		}
		if n != len(digests) {
			t.Fatalf("%d tokens in the file, %d digests", n, len(digests))
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
