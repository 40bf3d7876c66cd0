package api

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/internal/syncbuf"
	"github.com/ticker-io/ticker/internal/testcert"
)

// dialRaw attempts a WebSocket handshake and returns the HTTP answer (and
// the connection, on 101).
func dialRaw(t *testing.T, d *websocket.Dialer, url string, header http.Header) (*websocket.Conn, *http.Response) {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	}
	ws, resp, err := d.Dial(url, header)
	if err != nil && resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

func TestTLS(t *testing.T) {
	tc := testcert.New(t)
	cert, pool := tc.TLS, tc.Pool
	ts := startServer(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
		fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=1")
	clientTLS := &tls.Config{RootCAs: pool}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + ts.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https /healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	d := &websocket.Dialer{TLSClientConfig: clientTLS, HandshakeTimeout: 5 * time.Second, EnableCompression: true}
	ws, resp := dialRaw(t, d, "wss://"+ts.addr+"/ws?symbols=*", nil)
	if resp.StatusCode != 101 {
		t.Fatalf("wss handshake: %d", resp.StatusCode)
	}
	c := &client{t: t, ws: ws, book: map[string]map[string]string{}}
	for i := 0; i < 5; i++ {
		c.expect("update", 5*time.Second) // compressed frames through TLS, seq checked
	}

	// plain HTTP to the TLS port gets no answer it could use
	plain := &http.Client{Timeout: 3 * time.Second}
	if resp, err := plain.Get("http://" + ts.addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP served on the TLS port")
	}
	// a client that does not trust the certificate fails the handshake
	if _, err := (&http.Client{Timeout: 3 * time.Second}).Get("https://" + ts.addr + "/healthz"); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
}

func TestAllowedOrigins(t *testing.T) {
	origins, _ := access.ParseOrigins("https://dashboard.example, http://localhost:8080")
	ts := startServer(t, Config{Origins: origins}, fanout.Config{}, "synthetic:?symbols=3&seed=1")
	// before any refusal, every reason is listed at 0, so that an alert on
	// it has a series to start from
	_, m := ts.get("/metrics")
	for _, r := range []string{"origin", "token", "token_expired", "limit_total", "limit_address", "limit_race"} {
		if got := metric(m, `ticker_handshakes_refused_total{reason="`+r+`"}`); got != 0 {
			t.Errorf("a new server's refused for %s: %v, want 0", r, got)
		}
	}
	for _, tt := range []struct {
		origin string
		want   int
	}{
		{"https://dashboard.example", 101},
		{"http://localhost:8080", 101},
		{"", 101}, // a bot, not a browser page
		{"https://evil.example", 403},
		{"http://dashboard.example", 403},
		{"null", 403},
	} {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		ws, resp := dialRaw(t, nil, ts.wsURL(""), h)
		if resp.StatusCode != tt.want {
			t.Errorf("Origin %q: %d, want %d", tt.origin, resp.StatusCode, tt.want)
		}
		if tt.want == 403 {
			if ws != nil || resp.Header.Get("Upgrade") != "" || !strings.Contains(body(resp), "origin not allowed") {
				t.Errorf("Origin %q: a 403 must not upgrade", tt.origin)
			}
		}
	}
	_, m = ts.get("/metrics")
	if got := metric(m, `ticker_handshakes_refused_total{reason="origin"}`); got != 3 {
		t.Errorf("refused for origin: %v, want 3", got)
	}
}

// TestAuthTokens: no or a wrong token gets 401 and no upgrade; a listed one
// works as a Bearer header or ?token=; a reload takes effect for new
// connections while open ones go on; no token reaches the logs or /metrics.
func TestAuthTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	os.WriteFile(path, []byte("# bots\ns3cr3t-alpha\ns3cr3t-beta\n"), 0o600)
	tokens, err := access.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startServerLog(t, Config{Tokens: tokens}, fanout.Config{Window: 10 * time.Millisecond}, true, log, "synthetic:?symbols=3&rate=300&seed=1")

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	for _, tt := range []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"no token", "", nil, 401},
		{"wrong bearer", "", bearer("s3cr3t-gamma"), 401},
		{"wrong query", "?token=s3cr3t-delta", nil, 401},
		{"prefix of a token", "", bearer("s3cr3t-alph"), 401},
		{"basic auth", "", http.Header{"Authorization": {"Basic czNjcjN0LWFscGhh"}}, 401},
		{"bearer", "", bearer("s3cr3t-alpha"), 101},
		{"query", "?token=s3cr3t-beta", nil, 101},
	} {
		ws, resp := dialRaw(t, nil, ts.wsURL(tt.query), tt.header)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want == 401 && (ws != nil || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body(resp), "missing or invalid token")) {
			t.Errorf("%s: a 401 must not upgrade and must say Bearer", tt.name)
		}
	}

	// an open connection survives a reload that removes its token
	ws, _ := dialRaw(t, nil, ts.wsURL("?symbols=*"), bearer("s3cr3t-alpha"))
	old := &client{t: t, ws: ws, book: map[string]map[string]string{}}
	old.expect("update", 5*time.Second)
	os.WriteFile(path, []byte("s3cr3t-epsilon\n"), 0o600)
	if err := tokens.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, resp := dialRaw(t, nil, ts.wsURL(""), bearer("s3cr3t-alpha")); resp.StatusCode != 401 {
		t.Errorf("a removed token: %d", resp.StatusCode)
	}
	if _, resp := dialRaw(t, nil, ts.wsURL("?token=s3cr3t-epsilon"), nil); resp.StatusCode != 101 {
		t.Errorf("a new token: %d", resp.StatusCode)
	}
	for i := 0; i < 3; i++ {
		old.expect("update", 5*time.Second)
	}

	// REST market data takes the same tokens; health, metrics and the
	// dashboard's files (which hold no data) stay open.
	rest := func(path string, h http.Header) int {
		req, _ := http.NewRequest("GET", ts.url(path), nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/api/quotes", nil, 401},
		{"/api/quotes?token=s3cr3t-epsilon", nil, 200},
		{"/api/symbols", bearer("s3cr3t-epsilon"), 200},
		{"/healthz", nil, 200},
		{"/readyz", nil, 200},
		{"/", nil, 200},
	} {
		if got := rest(tt.path, tt.header); got != tt.want {
			t.Errorf("GET %s: %d, want %d", tt.path, got, tt.want)
		}
	}

	_, m := ts.get("/metrics")
	ts.stop()
	for _, secret := range []string{"s3cr3t", "czNjcjN0"} {
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("a token reached the log:\n%s", logBuf.String())
		}
		if strings.Contains(m, secret) {
			t.Errorf("a token reached /metrics")
		}
	}
	if got := metric(m, `ticker_handshakes_refused_total{reason="token"}`); got != 7 {
		t.Errorf("refused for token: %v, want 7", got)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		ts := startServer(t, Config{MaxConns: 2}, fanout.Config{}, "synthetic:?symbols=3&seed=1")
		a, _ := dialRaw(t, nil, ts.wsURL(""), nil)
		dialRaw(t, nil, ts.wsURL(""), nil)
		waitConns(t, ts, 2)
		_, resp := dialRaw(t, nil, ts.wsURL(""), nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("third connection: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		a.Close()
		waitConns(t, ts, 1)
		if _, resp := dialRaw(t, nil, ts.wsURL(""), nil); resp.StatusCode != 101 {
			t.Fatalf("after one left: %d", resp.StatusCode)
		}
	})
	t.Run("per address behind a trusted proxy", func(t *testing.T) {
		ts := startServer(t, Config{MaxConnsPerIP: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, fanout.Config{}, "synthetic:?symbols=3&seed=1")
		from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {"6.6.6.6, " + ip}} }
		dialRaw(t, nil, ts.wsURL(""), from("198.51.100.1"))
		dialRaw(t, nil, ts.wsURL(""), from("198.51.100.1"))
		waitConns(t, ts, 2)
		_, resp := dialRaw(t, nil, ts.wsURL(""), from("198.51.100.1"))
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third from one address: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if _, resp := dialRaw(t, nil, ts.wsURL(""), from("198.51.100.2")); resp.StatusCode != 101 {
			t.Fatalf("another address: %d", resp.StatusCode)
		}
	})
	t.Run("per address, forwarded-for ignored from others", func(t *testing.T) {
		ts := startServer(t, Config{MaxConnsPerIP: 1}, fanout.Config{}, "synthetic:?symbols=3&seed=1")
		dialRaw(t, nil, ts.wsURL(""), http.Header{"X-Forwarded-For": {"198.51.100.1"}})
		waitConns(t, ts, 1)
		_, resp := dialRaw(t, nil, ts.wsURL(""), http.Header{"X-Forwarded-For": {"198.51.100.2"}})
		if resp.StatusCode != 429 {
			t.Fatalf("a forged X-Forwarded-For got past the limit: %d", resp.StatusCode)
		}
	})
}

func waitConns(t *testing.T, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", ts.srv.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPanicClosesOnlyThatConnection: a panic while handling one client's
// message is recovered and logged; that connection is closed 1011 and the
// others, and the server, go on.
func TestPanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=3&rate=300&seed=1")
	testHookHandle = func(msg []byte) {
		if bytes.Contains(msg, []byte("boom")) {
			panic("injected fault")
		}
	}
	t.Cleanup(func() { testHookHandle = nil })
	victim := dial(t, ts.wsURL(""), false, nil)
	bystander := dial(t, ts.wsURL("?symbols=*"), true, nil)
	bystander.expect("update", 5*time.Second)
	victim.send(`{"op":"ping","id":"boom"}`)
	if code, reason := victim.closeCode(5 * time.Second); code != 1011 {
		t.Fatalf("victim: close %d %q, want 1011", code, reason)
	}
	bystander.send(`{"op":"ping","id":7}`)
	bystander.expect("pong", 5*time.Second)
	bystander.expect("update", 5*time.Second)
	_, m := ts.get("/metrics")
	if got := metric(m, "ticker_connection_panics_total"); got != 1 {
		t.Errorf("panics metric %v", got)
	}
	if again := dial(t, ts.wsURL(""), false, nil); again == nil {
		t.Fatal("no new connection after a panic")
	}
}
