package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/internal/testjwt"
	"github.com/ticker-io/ticker/internal/testnet"
)

// TestProcessEntitlements runs the built binary with a token file of
// patterns and a JWT key file: a subscribe outside a token's patterns gets
// forbidden and REST answers 403; SIGHUP rereads both files (a token's new
// patterns and a new key take effect, a removed key stops verifying, a
// broken file keeps what is in force); no token reaches the logs.
func TestProcessEntitlements(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	const deskTok = "desk-proc-7a1c55"
	if err := os.WriteFile(tokens, []byte(deskTok+" BTC-*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k1 := testjwt.New(t, dir, false)
	k2 := testjwt.New(t, t.TempDir(), false)

	// a key file that does not load stops the start with one line
	bad := filepath.Join(dir, "bad-keys")
	os.WriteFile(bad, []byte("hs256 c2hvcnQ=\n"), 0o600)
	out, err := exec.Command(bin, "--jwt-keys", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "ticker: --jwt-keys: ") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("a bad --jwt-keys file: %v %q", err, out)
	}

	addr := testnet.FreeAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--feed", "synthetic:?symbols=20&rate=200&seed=3",
		"--auth-tokens", tokens, "--jwt-keys", k1.File, "--log-level", "debug")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	proc := startProcess(t, cmd)
	get := func(path, tok string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(15 * time.Second); get("/api/quotes/BTC-USD", deskTok) != 200; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no BTC-USD quote within 15s; logs:\n%s", proc.logs.String())
		}
	}

	jwt1 := k1.Sign(t, "EdDSA", testjwt.Claims(time.Hour, "AAPL"), true)
	jwt2 := k2.Sign(t, "HS256", testjwt.Claims(time.Hour, "AAPL"), true)
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws://"+addr+"/ws", http.Header{"Authorization": {"Bearer " + deskTok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD"]}`))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := ws.ReadMessage()
	var e struct {
		Type, Code string
		Symbols    []string
	}
	json.Unmarshal(msg, &e)
	if err != nil || e.Code != "forbidden" || len(e.Symbols) != 1 || e.Symbols[0] != "AAPL" {
		t.Fatalf("subscribe outside the patterns: %s %v", msg, err)
	}

	for _, tt := range []struct {
		path, tok string
		want      int
	}{
		{"/api/quotes/AAPL", deskTok, 403},
		{"/api/quotes/AAPL", jwt1, 200},
		{"/api/quotes/BTC-USD", jwt1, 403},
		{"/api/quotes/AAPL", jwt2, 401},
	} {
		if got := get(tt.path, tt.tok); got != tt.want {
			t.Errorf("before SIGHUP: GET %s: %d, want %d", tt.path, got, tt.want)
		}
	}

	// new patterns for the desk token, k2 in place of k1
	os.WriteFile(tokens, []byte(deskTok+" AAPL\n"), 0o600)
	os.WriteFile(k1.File, []byte(k2.FileText()), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(proc.logs.String(), "JWT keys reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload 10s after SIGHUP; logs:\n%s", proc.logs.String())
		}
	}
	for _, tt := range []struct {
		path, tok string
		want      int
	}{
		{"/api/quotes/AAPL", deskTok, 200},
		{"/api/quotes/BTC-USD", deskTok, 403},
		{"/api/quotes/AAPL", jwt1, 401},
		{"/api/quotes/AAPL", jwt2, 200},
	} {
		if got := get(tt.path, tt.tok); got != tt.want {
			t.Errorf("after SIGHUP: GET %s: %d, want %d", tt.path, got, tt.want)
		}
	}

	// a broken key file keeps the keys in force
	os.WriteFile(k1.File, []byte("# nothing\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(proc.logs.String(), "JWT keys not reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload error logged; logs:\n%s", proc.logs.String())
		}
	}
	if got := get("/api/quotes/AAPL", jwt2); got != 200 {
		t.Errorf("after a failed reload the key in force is refused: %d", got)
	}
	if got := get("/api/quotes/AAPL", "wrong-token-0000"); got != 401 {
		t.Errorf("a wrong token: %d", got)
	}

	if err := proc.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
	logs := proc.logs.String()
	for _, tok := range []string{deskTok, jwt1, jwt2, "wrong-token-0000", strings.Split(jwt1, ".")[2], strings.Split(jwt2, ".")[1]} {
		if strings.Contains(logs, tok) {
			t.Errorf("a token is in the logs: %q", tok)
		}
	}
	if !strings.Contains(logs, "refused a token") || !strings.Contains(logs, `jwt_keys=2`) {
		t.Errorf("logs without the refusals or the key count:\n%s", logs)
	}
}
