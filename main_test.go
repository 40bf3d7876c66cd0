package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"ticker/feeds/venuetest"
)

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := parseConfig(nil, env(), io.Discard)
	if err != nil || c.Addr != ":8080" || fmt.Sprint(c.Feeds) != "[synthetic]" || c.Coalesce != 50*time.Millisecond || c.Fanout.Window != c.Coalesce {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = parseConfig(nil, env("TICKER_ADDR", ":9000", "TICKER_FEED", "synthetic:?seed=1 replay:fixtures/crypto.ndjson", "TICKER_COALESCE", "20ms", "TICKER_MAX_SYMBOLS", "7"), io.Discard)
	if err != nil || c.Addr != ":9000" || len(c.Feeds) != 2 || c.Coalesce != 20*time.Millisecond || c.Fanout.MaxSymbolsPerClient != 7 {
		t.Fatalf("env: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--addr", "127.0.0.1:1", "--feed", "synthetic:?seed=2"}, env("TICKER_ADDR", ":9000", "TICKER_FEED", "replay:x"), io.Discard)
	if err != nil || c.Addr != "127.0.0.1:1" || fmt.Sprint(c.Feeds) != "[synthetic:?seed=2]" {
		t.Fatalf("flags over env: %+v %v", c, err)
	}
	bad := []struct {
		args    []string
		env     []string
		mention string
	}{
		{[]string{"--coalesce", "0s"}, nil, "--coalesce"},
		{[]string{"--coalesce", "11s"}, nil, "--coalesce"},
		{[]string{"--coalesce", "fast"}, nil, "coalesce"},
		{nil, []string{"TICKER_COALESCE", "fast"}, "TICKER_COALESCE"},
		{[]string{"--nope"}, nil, "nope"},
		{[]string{"stray"}, nil, `unexpected argument "stray"`},
		{[]string{"--tls-cert", "c.pem"}, nil, "--tls-cert and --tls-key"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil, "--tls-cert: not supported"},
		{[]string{"--allowed-origins", "https://a"}, nil, "--allowed-origins"},
		{[]string{"--auth-tokens", "f"}, nil, "--auth-tokens"},
		{[]string{"--queue-bytes", "10"}, nil, "--queue-bytes"},
		{[]string{"--deflate-level", "10"}, nil, "--deflate-level"},
		{[]string{"--ping-interval", "1m"}, nil, "idle timeout"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--ring-size", "1"}, nil, "--ring-size"},
		{[]string{"--send-buffer-bytes", "-1"}, nil, "send buffer"},
	}
	for _, tt := range bad {
		_, err := parseConfig(tt.args, env(tt.env...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%v %v: error %v, want it to mention %q", tt.args, tt.env, err, tt.mention)
		}
	}
	var help bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, env(), &help); err != errHelp || !strings.Contains(help.String(), "TICKER_") || !strings.Contains(help.String(), "-coalesce duration") {
		t.Fatalf("help: %v\n%s", err, help.String())
	}
}

// buildBinary builds ticker once for the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ticker")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProcess runs the real binary: bad configuration exits 2 with one line
// naming the problem; the default feed serves moving quotes; SIGTERM closes
// every client with 1001 and exits 0.
func TestProcess(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{
		{"--coalesce", "5h"},
		{"--feed", "bogus:x"},
		{"--feed", "replay:/does/not/exist.ndjson"},
		{"--feed", "synthetic", "--feed", "synthetic:?seed=1"}, // both deliver AAPL
		{"--addr", "256.0.0.1:99999"},
		{"--feed", "binance:btcusdt", "--feed", "coinbase:BTC-USDT"}, // both deliver BTC-USDT
		{"--feed", "binance:btcusdt?channels=depth"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "ticker: ") {
			t.Errorf("%v: stderr %q, want one line", args, stderr.String())
		}
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "--addr", addr) // the default feed, as `go run .` has
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr, _ := cmd.StderrPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case logs <- sc.Text():
			default:
			}
		}
		close(logs)
	}()

	// quotes move: some symbol's seq rises between two reads
	var first map[string]float64
	moved := time.Duration(0)
	for deadline := time.Now().Add(15 * time.Second); moved == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no moving quotes within 15s")
		}
		resp, err := http.Get("http://" + addr + "/api/quotes")
		if err != nil {
			continue
		}
		var body struct{ Quotes []map[string]any }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		seqs := map[string]float64{}
		for _, q := range body.Quotes {
			seqs[q["s"].(string)] = q["seq"].(float64)
		}
		if first == nil && len(seqs) > 0 {
			first = seqs
			continue
		}
		for s, n := range seqs {
			if first != nil && n > first[s] {
				moved = time.Since(start)
			}
		}
	}
	t.Logf("default feed: quotes moving %v after the process started", moved.Round(time.Millisecond))
	if code, _ := httpGet(t, "http://"+addr+"/"); code != 200 {
		t.Fatalf("dashboard: %d", code)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	var closeErr *websocket.CloseError
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*websocket.CloseError)
		if !ok {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		closeErr = ce
		break
	}
	if closeErr.Code != 1001 {
		t.Fatalf("close %d %q, want 1001", closeErr.Code, closeErr.Text)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit within 15s of SIGTERM")
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	joined := strings.Join(all, "\n")
	if !strings.Contains(joined, "ticker serving") || !strings.Contains(joined, "stopped") {
		t.Fatalf("logs lack start/stop lines:\n%s", joined)
	}
}

// TestProcessVenueFeed runs the built binary as `ticker --feed binance:…`
// would run against Binance, with the feed's url pointed at a fake venue on
// loopback: its quotes reach /api/quotes and /readyz turns 200.
func TestProcessVenueFeed(t *testing.T) {
	bin := buildBinary(t)
	venue := venuetest.Start(t, 1)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--feed", "binance:btcusdt,ethusdt?url="+venue.URL("/stream"))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	c := venue.Next(t, 15*time.Second)
	if !strings.Contains(string(c.Subscribes[0]), `"btcusdt@bookTicker"`) {
		t.Fatalf("subscribe %s", c.Subscribes[0])
	}
	c.Send([]byte(`{"result":null,"id":1}`))
	c.Send([]byte(`{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"97250.01000000","B":"1.5","a":"97250.02","A":"0.004"}}`))
	c.Send([]byte(`{"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":1764000000123,"s":"ETHUSDT","a":1,"p":"3120.55","q":"0.25","f":1,"l":1,"T":1764000000120,"m":true,"M":true}}`))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no ETH-USDT quote within 15s")
		}
		code, body := httpGet(t, "http://"+addr+"/api/quotes/ETH-USDT")
		if code != 200 {
			continue
		}
		if !strings.Contains(body, `"last":"3120.55"`) || !strings.Contains(body, `"ts":1764000000120000`) {
			t.Fatalf("ETH-USDT: %s", body)
		}
		break
	}
	if code, body := httpGet(t, "http://"+addr+"/api/quotes/BTC-USDT"); code != 200 || !strings.Contains(body, `"bid":"97250.01"`) {
		t.Fatalf("BTC-USDT: %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
