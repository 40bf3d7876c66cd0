package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/testnet"
)

// jsTests is the JavaScript client's node test suite; the client itself is
// static/ticker.js.
const jsTests = "clients/javascript/test/client.test.mjs"

// node returns a node (18 or later: node:test, fetch) and the flags that
// give it a WebSocket, or skips t saying what is missing; under CI it fails
// instead. TICKER_NODE names one; otherwise /usr/bin/node, then PATH. Node
// 22 has a WebSocket of its own, 20.10 behind --experimental-websocket;
// on an older node the tests bring a small one (TestWebSocket).
func node(t *testing.T) (exe string, flags []string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		format += " (Debian: apt-get install -y nodejs; .ci/run installs it)"
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	exe = os.Getenv("TICKER_NODE")
	if exe == "" {
		if _, err := os.Stat("/usr/bin/node"); err == nil {
			exe = "/usr/bin/node"
		} else if p, err := exec.LookPath("node"); err == nil {
			exe = p
		} else {
			missing("no node to run the JavaScript client's tests")
		}
	}
	out, err := exec.Command(exe, "--version").Output()
	if err != nil {
		missing("%s --version: %v", exe, err)
	}
	v := strings.TrimSpace(string(out))
	major := 0
	if m := regexp.MustCompile(`^v(\d+)\.`).FindStringSubmatch(v); m != nil {
		major, _ = strconv.Atoi(m[1])
	}
	if major < 18 {
		missing("%s is node %s; the tests need 18 or later", exe, v)
	}
	has := func(flags ...string) bool {
		args := append(flags, "-e", `process.exit(typeof WebSocket === "function" ? 0 : 1)`)
		return exec.Command(exe, args...).Run() == nil
	}
	switch {
	case has():
	case has("--experimental-websocket"):
		flags = []string{"--experimental-websocket"}
	default:
		t.Logf("node %s has no WebSocket: the tests use their own TestWebSocket", v)
	}
	t.Logf("%s: node %s %s", exe, v, strings.Join(flags, " "))
	return exe, flags
}

// TestJSClient runs the JavaScript client's node tests against the real
// server binary: it builds ticker, starts it with the default synthetic
// feed and gives the tests its address (TICKER_ADDR), the binary
// (TICKER_BIN, for the tests that need a server of their own: a replay,
// tokens, a restart, a server that goes silent) and the repository
// (TICKER_REPO).
func TestJSClient(t *testing.T) {
	exe, flags := node(t)
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// read here, so that go test's cache knows them: node's reads are not seen
	err = filepath.WalkDir(filepath.Join(repo, "clients", "javascript"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(repo, "static", "ticker.js")); err != nil { // the client itself, which node imports
		t.Fatal(err)
	}
	bin := buildBinary(t)
	addr := testnet.FreeAddr(t)
	srv := startProcess(t, exec.Command(bin, "--addr", addr))
	waitReady(t, addr, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(flags, "--no-warnings", "--test", filepath.Join(repo, jsTests))
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "TICKER_ADDR="+addr, "TICKER_BIN="+bin, "TICKER_REPO="+repo)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v; server logs:\n%s", err, srv.logs.String())
	}
	if m := regexp.MustCompile(`(?m)^# (skipped|todo|cancelled) ([1-9]\d*)`).FindSubmatch(out); m != nil {
		t.Errorf("node --test: %s %s: every variable the tests need is set here", m[2], m[1])
	}
	if !regexp.MustCompile(`(?m)^# pass [1-9]`).Match(out) {
		t.Errorf("node --test ran no test")
	}
}
