package api

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
)

// TestClientJS: /ticker.js is static/ticker.js, byte for byte, as a
// JavaScript module any origin may import (CORS), revalidated on every load
// by its ETag, and public even behind --auth-tokens, like the dashboard's
// other files.
func TestClientJS(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "static", "ticker.js"))
	if err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokPath, []byte("js-token\n"), 0o600)
	tokens, err := access.LoadTokens(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Tokens: tokens}, fanout.Config{}, "synthetic:?symbols=4&rate=10&seed=1")
	get := func(method string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ts.addr+"/ticker.js", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := get("GET", "Origin", "https://elsewhere.example")
	for _, tt := range []struct{ header, want string }{
		{"Content-Type", "text/javascript; charset=utf-8"},
		{"Access-Control-Allow-Origin", "*"},
		{"Cache-Control", "no-cache"},
	} {
		if got := resp.Header.Get(tt.header); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.header, got, tt.want)
		}
	}
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET /ticker.js: %d, %d bytes; want 200 and static/ticker.js (%d bytes)", resp.StatusCode, len(body), len(want))
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' {
		t.Fatalf("ETag %q: want a strong ETag", etag)
	}
	if resp, body := get("GET", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match its ETag: %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	if resp, body := get("GET", "If-None-Match", `"stale"`); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Errorf("If-None-Match another ETag: %d, want 200 and the file", resp.StatusCode)
	}
	if resp, body := get("HEAD"); resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
}
