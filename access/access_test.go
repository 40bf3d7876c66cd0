package access

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOrigins(t *testing.T) {
	o, err := ParseOrigins("https://app.example.com, http://localhost:8080,https://Trade.Example.com:443/")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // not a browser
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://app.example.com:443", true},
		{"https://trade.example.com", true},
		{"http://localhost:8080", true},
		{"http://localhost:8081", false},
		{"http://app.example.com", false}, // another scheme is another origin
		{"https://evil.example.com", false},
		{"https://app.example.com.evil.com", false},
		{"null", false},
		{"not a url", false},
	} {
		if got := o.Allowed(tt.origin); got != tt.ok {
			t.Errorf("Allowed(%q) = %v, want %v", tt.origin, got, tt.ok)
		}
	}
	if got := strings.Join(o.List(), " "); got != "https://app.example.com http://localhost:8080 https://trade.example.com" {
		t.Errorf("List() = %q", got)
	}
	if o, err := ParseOrigins(" , "); o != nil || err != nil {
		t.Errorf("empty list: %v, %v", o, err)
	}
	var none *Origins
	if !none.Allowed("https://anything.example") {
		t.Error("no list must allow everything")
	}
	for _, bad := range []string{"ftp://x.example", "https://x.example/path", "x.example", "https://", "https://u:p@x.example"} {
		if _, err := ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted", bad)
		}
	}
}

func TestTokens(t *testing.T) {
	tk, err := LoadTokens("testdata/tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Count() != 2 {
		t.Errorf("Count() = %d, want 2", tk.Count())
	}
	for _, tt := range []struct {
		tok string
		ok  bool
	}{{"alpha-123", true}, {"beta-456", true}, {"gamma-789", false}, {"alpha-12", false}, {"alpha-1234", false}, {"", false}, {" alpha-123", false}} {
		if got := tk.Valid(tt.tok); got != tt.ok {
			t.Errorf("Valid(%q) = %v, want %v", tt.tok, got, tt.ok)
		}
	}
	if _, err := LoadTokens("testdata/empty.txt"); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := LoadTokens("testdata/missing.txt"); err == nil {
		t.Error("missing file accepted")
	}

	// reload: new tokens take effect; a broken file keeps the old ones, and the error shows no token
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte("first\n"), 0o600)
	tk, err = LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("second\nthird\n"), 0o600)
	if err := tk.Reload(); err != nil {
		t.Fatal(err)
	}
	if tk.Valid("first") || !tk.Valid("second") || !tk.Valid("third") {
		t.Error("reload did not replace the tokens")
	}
	os.WriteFile(path, []byte("secret with sp*aces\n"), 0o600)
	err = tk.Reload()
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sp*aces") {
		t.Errorf("bad reload: %v", err)
	}
	if !tk.Valid("second") {
		t.Error("a failed reload dropped the tokens in force")
	}
	var none *Tokens
	if !none.Valid("") {
		t.Error("no token file must let everyone in")
	}
}

func TestFromRequest(t *testing.T) {
	for _, tt := range []struct{ auth, query, want string }{
		{"Bearer abc", "", "abc"},
		{"bearer  abc ", "zzz", "abc"},
		{"Basic abc", "q", "q"},
		{"", "q", "q"},
		{"", "", ""},
	} {
		if got := FromRequest(tt.auth, tt.query); got != tt.want {
			t.Errorf("FromRequest(%q, %q) = %q, want %q", tt.auth, tt.query, got, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	l := NewLimiter(3, 2)
	for i, tt := range []struct {
		ip   netip.Addr
		want error
	}{{a, nil}, {a, nil}, {a, ErrClientFull}, {b, nil}, {b, ErrServerFull}} {
		if err := l.Check(tt.ip); err != tt.want {
			t.Errorf("step %d: Check = %v, want %v", i, err, tt.want)
		}
		if err := l.Acquire(tt.ip); err != tt.want {
			t.Errorf("step %d: Acquire = %v, want %v", i, err, tt.want)
		}
	}
	if total, addrs := l.Open(); total != 3 || addrs != 2 {
		t.Errorf("Open() = %d, %d", total, addrs)
	}
	l.Release(a)                         // a=1, total 2
	if err := l.Acquire(b); err != nil { // b=2, total 3
		t.Errorf("after a release: %v", err)
	}
	l.Release(a) // a=0, total 2
	if err := l.Acquire(b); err != ErrClientFull {
		t.Errorf("b at its own limit: %v", err)
	}
	if err := l.Acquire(a); err != nil {
		t.Errorf("a after its releases: %v", err)
	}
	if total, addrs := l.Open(); total != 3 || addrs != 2 {
		t.Errorf("Open() = %d, %d, want 3, 2", total, addrs)
	}
	if err := NewLimiter(0, 0).Acquire(a); err != nil {
		t.Errorf("no limits: %v", err)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.168.1.7,::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ peer, xff, want string }{
		{"203.0.113.9", "1.2.3.4", "203.0.113.9"},                       // an untrusted peer's header is ignored
		{"10.1.2.3", "", "10.1.2.3"},                                    // a proxy without the header
		{"10.1.2.3", "198.51.100.4", "198.51.100.4"},                    // one proxy
		{"10.1.2.3", "6.6.6.6, 198.51.100.4, 10.9.9.9", "198.51.100.4"}, // the client forged the leftmost entry
		{"::1", "2001:db8::5", "2001:db8::5"},
		{"192.168.1.7", "10.0.0.1, 10.0.0.2", "10.0.0.1"}, // every hop trusted: the leftmost
		{"10.1.2.3", "junk, 198.51.100.4", "198.51.100.4"},
		{"10.1.2.3", "198.51.100.4, junk", "10.1.2.3"},
		{"::ffff:10.1.2.3", "198.51.100.4", "198.51.100.4"},
	} {
		got := ClientAddr(netip.MustParseAddr(tt.peer), tt.xff, trusted)
		if got.String() != tt.want {
			t.Errorf("ClientAddr(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/8,nonsense"); err == nil {
		t.Error("bad prefix accepted")
	}
}
