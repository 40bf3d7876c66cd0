package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/testnet"
)

// pythonDir is the Python client's package, with its tests and example.
const pythonDir = "clients/python"

// python returns a Python 3 that has the client's packages (websockets,
// pytest), or skips t saying what is missing; under CI it fails instead.
// TICKER_PYTHON names one; otherwise Debian's /usr/bin/python3 comes first,
// since a python3 earlier on PATH (pyenv, a virtualenv) may lack them.
func python(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		format += " (Debian: apt-get install -y python3 python3-websockets python3-pytest; .ci/run installs them)"
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	py := os.Getenv("TICKER_PYTHON")
	if py == "" {
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			py = "/usr/bin/python3"
		} else if p, err := exec.LookPath("python3"); err == nil {
			py = p
		} else {
			missing("no python3 to run the Python client's tests")
		}
	}
	out, err := exec.Command(py, "-c", "import sys, websockets, pytest; assert sys.version_info >= (3, 11), sys.version; print(websockets.__version__, pytest.__version__)").CombinedOutput()
	if err != nil {
		missing("%s cannot run the Python client's tests: %v\n%s", py, err, out)
	}
	t.Logf("%s: websockets, pytest %s", py, strings.TrimSpace(string(out)))
	return py
}

// TestPythonClient runs the Python client's pytest suite against the real
// server binary: it builds ticker, starts it with the default synthetic
// feed and gives pytest its address (TICKER_ADDR), the binary (TICKER_BIN,
// for the tests that need a server of their own: a replay, tokens, a
// restart) and the repository (TICKER_REPO). When Debian's mypy is at hand
// it first type-checks the package and the example bot with --strict.
func TestPythonClient(t *testing.T) {
	py := python(t)
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, pythonDir)
	env := append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH="+dir)

	t.Run("mypy", func(t *testing.T) {
		if out, err := exec.Command(py, "-m", "mypy", "--version").CombinedOutput(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no mypy for %s (apt-get install -y python3-mypy): %v\n%s", py, err, out)
			}
			t.Skipf("no mypy for %s (apt-get install -y python3-mypy): %s", py, strings.TrimSpace(string(out)))
		}
		cmd := exec.Command(py, "-m", "mypy", "--strict", "--cache-dir", filepath.Join(t.TempDir(), "mypy"), "ticker_client", "examples")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mypy --strict: %v\n%s", err, out)
		}
		t.Logf("mypy --strict: %s", strings.TrimSpace(string(out)))
	})

	t.Run("pytest", func(t *testing.T) {
		bin := buildBinary(t)
		addr := testnet.FreeAddr(t)
		srv := startProcess(t, exec.Command(bin, "--addr", addr))
		waitReady(t, addr, srv)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests")
		cmd.Dir = dir
		cmd.Env = append(env, "TICKER_ADDR="+addr, "TICKER_BIN="+bin, "TICKER_REPO="+repo)
		out, err := cmd.CombinedOutput()
		t.Logf("pytest:\n%s", out)
		if err != nil {
			t.Fatalf("pytest: %v; server logs:\n%s", err, srv.logs.String())
		}
		if strings.Contains(string(out), " skipped") {
			t.Errorf("pytest skipped tests: every variable they need is set here")
		}
	})
}
