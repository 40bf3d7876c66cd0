package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/cluster"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/feeds/venuetest"
	"github.com/ticker-io/ticker/internal/natstest"
	"github.com/ticker-io/ticker/internal/syncbuf"
	"github.com/ticker-io/ticker/internal/testcert"
	"github.com/ticker-io/ticker/internal/testnet"
	"github.com/ticker-io/ticker/market"
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
	c, err = parseConfig([]string{"--role", "edge", "--nats", "nats://bot:s3cret@a:4222,nats://tok3n@b:4222"}, env(), io.Discard)
	eff := fmt.Sprintln(c.Effective...)
	if err != nil || strings.Contains(eff, "s3cret") || strings.Contains(eff, "tok3n") || !strings.Contains(eff, "nats://bot:REDACTED@a:4222,nats://REDACTED@b:4222") || !strings.Contains(eff, " coalesce 50ms ") {
		t.Fatalf("effective config %s: %v", eff, err)
	}
	if err != nil || c.Role != "edge" || len(c.Feeds) != 0 || c.LeaseTime != 3*time.Second {
		t.Fatalf("edge: %+v %v", c, err)
	}
	// a TLS pair in the environment is switched off by the flags: each
	// variable is a valid value, and the pair is not refused for being
	// checked one side at a time; nor is a valid TICKER_ROLE that would
	// need --nats, overridden by --role all
	c, err = parseConfig([]string{"--tls-cert", "", "--tls-key", ""}, env("TICKER_TLS_CERT", "c.pem", "TICKER_TLS_KEY", "k.pem"), io.Discard)
	if err != nil || c.TLSCert != "" || c.TLSKey != "" {
		t.Fatalf("TLS switched off by the flags: %+v %v", c, err)
	}
	if c, err = parseConfig([]string{"--role", "all"}, env("TICKER_ROLE", "edge"), io.Discard); err != nil || c.Role != "all" {
		t.Fatalf("TICKER_ROLE=edge under --role all: %v", err)
	}
	if c, err = parseConfig([]string{"--role", "edge", "--nats", "nats://bot:s3cret@a:4222,nats://tok3n@b:4222"}, env(), io.Discard); err != nil {
		t.Fatal(err)
	}
	// the default node id is set here, so that the startup log shows it
	host, _ := os.Hostname()
	if want := fmt.Sprintf("%s-%d", host, os.Getpid()); c.NodeID != want || !strings.Contains(fmt.Sprint(c.Effective), "node-id "+want) {
		t.Fatalf("edge: node id %q (effective %v), want %q", c.NodeID, c.Effective, want)
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
		{[]string{"--allowed-origins", "https://a.example/path"}, nil, "--allowed-origins"},
		{[]string{"--allowed-origins", "a.example"}, nil, "--allowed-origins"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,proxy"}, nil, "--trusted-proxies"},
		{[]string{"--max-conns", "-1"}, nil, "--max-conns"},
		{[]string{"--max-conns-per-ip", "-5"}, nil, "--max-conns-per-ip"},
		{[]string{"--queue-bytes", "10"}, nil, "--queue-bytes"},
		{[]string{"--deflate-level", "10"}, nil, "--deflate-level"},
		{[]string{"--ping-interval", "1m"}, nil, "--ping-interval 1m0s and --idle-timeout 45s: want the ping interval less than the idle timeout"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--ring-size", "1"}, nil, "--ring-size"},
		{[]string{"--send-buffer-bytes", "-1"}, nil, "send buffer"},
		{[]string{"--role", "proxy"}, nil, "--role"},
		{[]string{"--role", "edge"}, nil, "--role edge needs --nats"},
		{[]string{"--role", "ingest"}, nil, "--role ingest needs --nats"},
		{[]string{"--nats", "nats://127.0.0.1:4222"}, nil, "--nats: only with --role"},
		{[]string{"--role", "edge", "--nats", "nats://x:4222", "--feed", "synthetic"}, nil, "an edge runs no feeds"},
		{[]string{"--role", "ingest", "--nats", "nats://x:4222", "--lease-time", "10ms"}, nil, "--lease-time"},
		{[]string{"--role", "edge", "--nats", "nats://x:4222", "--nats-storage", "disk"}, nil, "--nats-storage"},
		{nil, []string{"TICKER_NATS_STORAGE", "tape"}, "TICKER_NATS_STORAGE"},
		{[]string{"--coalesce", "abc"}, nil, `--coalesce "abc": want a duration`},
		{nil, []string{"TICKER_COALESCE", "abc"}, `TICKER_COALESCE="abc": want a duration`},
		{[]string{"--max-symbols", "many"}, nil, `--max-symbols "many": want a whole number`},
		{[]string{"--rate-limit", "-1"}, nil, "--rate-limit -1: want more than 0"},
		{[]string{"--stuck-timeout", "1ms"}, nil, "--stuck-timeout 1ms: want at least the coalescing window"},
		{[]string{"--stale-after", "-1s"}, nil, "--stale-after -1s: want 0 to 10m0s"},
		{nil, []string{"TICKER_STALE_AFTER", "11m"}, "TICKER_STALE_AFTER=11m0s: want 0 to 10m0s"},
		{[]string{"--stale-after", "11m"}, []string{"TICKER_STALE_AFTER", "1m"}, "--stale-after 11m0s: want 0 to 10m0s"},
		// a 0 is the user's (the flags start at the defaults): refused where it means nothing
		{[]string{"--max-message-bytes", "0"}, nil, "--max-message-bytes 0: want 64 to 1048576"},
		{[]string{"--rate-burst", "0"}, nil, "--rate-burst 0: want at least 1"},
		{[]string{"--rate-limit", "0"}, nil, "--rate-limit 0: want more than 0"},
		{[]string{"--ping-interval", "0"}, nil, "--ping-interval 0s: want at least 10ms"},
		{[]string{"--idle-timeout", "0"}, nil, "--idle-timeout 0s: want more than 10ms"},
		{[]string{"--idle-timeout", "-3s"}, nil, "--idle-timeout -3s: want more than 10ms"},
		{nil, []string{"TICKER_IDLE_TIMEOUT", "-1s"}, "TICKER_IDLE_TIMEOUT=-1s: want more than 10ms"},
		{[]string{"--idle-timeout", "10s"}, nil, "--ping-interval 15s and --idle-timeout 10s: want the ping interval less than the idle timeout"},
		{nil, []string{"TICKER_IDLE_TIMEOUT", "10s"}, "--ping-interval 15s and TICKER_IDLE_TIMEOUT=10s: want the ping interval less than the idle timeout"},
		{nil, []string{"TICKER_PING_INTERVAL", "1m"}, "TICKER_PING_INTERVAL=1m0s and --idle-timeout 45s: want"},
		{[]string{"--role", "edge", "--nats", "notaurl::"}, nil, `--nats notaurl::: address "notaurl::": want host:port`},
		{[]string{"--role", "edge", "--nats", "http://a:4222"}, nil, `--nats http://a:4222: scheme "http": want nats, tls, ws or wss`},
		{[]string{"--role", "ingest", "--nats", "nats://a:4222,nats://b:70000"}, nil, `nats://b:70000: port "70000": want 1 to 65535`},
		{[]string{"--role", "edge", "--nats", "nats://:4222"}, nil, "no host"},
		{nil, []string{"TICKER_TLS_CERT", "c.pem"}, "TICKER_TLS_CERT and --tls-key go together"},
		// a variable that is not a valid value stops it though a flag overrides it
		{[]string{"--role", "all"}, []string{"TICKER_ROLE", "bogus"}, `TICKER_ROLE="bogus": want all, ingest or edge`},
		{[]string{"--coalesce", "50ms"}, []string{"TICKER_COALESCE", "0s"}, "TICKER_COALESCE=0s: want 1ms to 10s"},
		{[]string{"--role", "edge", "--nats", "nats://x:4222", "--nats-storage", "file"}, []string{"TICKER_NATS_STORAGE", "bogus"}, "TICKER_NATS_STORAGE"},
		{[]string{"--role", "edge", "--nats", "nats://x:4222", "--lease-time", "3s"}, []string{"TICKER_LEASE_TIME", "1ms"}, "TICKER_LEASE_TIME=1ms: want 300ms to 1m"},
	}
	for _, tt := range bad {
		var out bytes.Buffer
		_, err := parseConfig(tt.args, env(tt.env...), &out)
		if err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%v %v: error %v, want it to mention %q", tt.args, tt.env, err, tt.mention)
			continue // a nil error has no line to check, and the other cases still run
		}
		if out.Len() > 0 || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: the error is not one line: %q, printed %q", tt.args, tt.env, err, out.String())
		}
	}
	var help bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, env(), &help); err != errHelp || !strings.Contains(help.String(), "TICKER_") || !strings.Contains(help.String(), "-coalesce duration") {
		t.Fatalf("help: %v\n%s", err, help.String())
	}
}

// TestFlagDefaults: every flag that sets a field of fanout.Config,
// api.Config or feeds.Config defaults to that package's DefaultConfig, and names a field
// there.
func TestFlagDefaults(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	check := func(pkg string, got, def any, flags map[string]string) {
		g, d := reflect.ValueOf(got), reflect.ValueOf(def)
		for fieldName, flagName := range flags {
			gf, df := g.FieldByName(fieldName), d.FieldByName(fieldName)
			if !df.IsValid() {
				t.Errorf("--%s: %s.Config has no field %s", flagName, pkg, fieldName)
				continue
			}
			if !reflect.DeepEqual(gf.Interface(), df.Interface()) {
				t.Errorf("--%s defaults to %v, %s.DefaultConfig().%s is %v", flagName, gf, pkg, fieldName, df)
			}
			var printed string
			for i := 0; i+1 < len(c.Effective); i += 2 {
				if c.Effective[i] == flagName {
					printed = fmt.Sprint(c.Effective[i+1])
				}
			}
			if want := fmt.Sprint(df); printed != want && !(df.Kind() == reflect.Float64 && printed == fmt.Sprint(df.Float())) {
				t.Errorf("--%s: the flag's default prints %q, want %q", flagName, printed, want)
			}
		}
	}
	check("fanout", c.Fanout, fanout.DefaultConfig(), fanoutFlags)
	check("api", c.API, api.DefaultConfig(), apiFlags)
	if c.RingSize != market.DefaultRingCapacity {
		t.Errorf("--ring-size defaults to %d, market.DefaultRingCapacity is %d", c.RingSize, market.DefaultRingCapacity)
	}
	if c.LeaseTime != cluster.DefaultLeaseTime {
		t.Errorf("--lease-time defaults to %v, cluster.DefaultLeaseTime is %v", c.LeaseTime, cluster.DefaultLeaseTime)
	}
	if err := market.CheckRingCapacity(c.RingSize); err != nil {
		t.Errorf("the default ring size is refused: %v", err)
	}
	if err := cluster.CheckLeaseTime(c.LeaseTime); err != nil {
		t.Errorf("the default lease time is refused: %v", err)
	}
	check("feeds", c.FeedSet, feeds.DefaultConfig(), feedFlags)
	if c.Coalesce != fanout.DefaultConfig().Window {
		t.Errorf("coalesce %v, want fanout's window %v", c.Coalesce, fanout.DefaultConfig().Window)
	}
}

// TestStartupLog: the startup log prints the connection limit in force
// (not the 0 that asked for it) and, in JSON, durations as text.
func TestStartupLog(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "json"}, `"max-conns":"19744"`},
		{[]string{"--log-format", "json", "--max-conns", "5"}, `"max-conns":"5"`},
	} {
		c, err := parseConfig(tt.args, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c.autoMaxConns(func() int { return 19744 })
		var buf bytes.Buffer
		log := newLogger(c, &buf)
		log.Info("config", c.Effective...)
		log.Info("ticker serving", "coalesce", c.Coalesce, "max_conns", c.API.MaxConns)
		out := buf.String()
		if !strings.Contains(out, tt.want) || !strings.Contains(out, `"coalesce":"50ms"`) || !strings.Contains(out, `"max_conns":`+strings.Trim(tt.want[len(`"max-conns":`):], `"`)) {
			t.Errorf("%v: log\n%s\nwant %s, the same max_conns and \"coalesce\":\"50ms\"", tt.args, out, tt.want)
		}
	}
	c, _ := parseConfig(nil, noEnv, io.Discard)
	var buf bytes.Buffer
	newLogger(c, &buf).Info("x", "coalesce", c.Coalesce)
	if !strings.Contains(buf.String(), "coalesce=50ms") {
		t.Errorf("text log: %s", buf.String())
	}
}

// buildBinary builds ticker once for the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ticker")
	out, err := exec.Command(goTool(), "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// goTool is the go command that runs these tests.
func goTool() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go"); p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return "go"
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
		{"--tls-cert", "/does/not/exist.pem", "--tls-key", "/does/not/exist.key"},
		{"--auth-tokens", "/does/not/exist"},
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

	addr := testnet.FreeAddr(t)
	cmd := exec.Command(bin, "--addr", addr) // the default feed, as `go run .` has
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	start := time.Now()
	proc := startProcess(t, cmd)

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
	proc.cmd.Process.Signal(syscall.SIGTERM)
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
	if err := proc.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	joined := proc.logs.String()
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
	addr := testnet.FreeAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--feed", "binance:btcusdt,ethusdt?url="+venue.URL("/stream"))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	startProcess(t, cmd)
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

// process is a built binary run by a test; the test's cleanup kills it and
// waits for it.
type process struct {
	cmd    *exec.Cmd
	logs   *syncbuf.Buffer // its stderr
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startProcess starts cmd with its stderr captured in logs.
// waitReady waits up to 15 s for the process p serving on addr to answer
// /readyz with 200, failing t with its logs otherwise.
func waitReady(t *testing.T, addr string, p *process) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for code, _ := tryGet("http://" + addr + "/readyz"); code != 200; code, _ = tryGet("http://" + addr + "/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("the server is not ready on %s; logs:\n%s", addr, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, logs: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// stop sends sig and returns how the process exited (nil: status 0); it
// fails t if the process is still running 15s later.
func (p *process) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of %v; logs:\n%s", sig, p.logs.String())
		return nil
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// TestProcessSecure runs the built binary with TLS, an origin list and a
// token file: wss works with a listed origin and a valid token, anything
// else is refused before the upgrade; SIGHUP swaps the tokens while an
// open connection keeps streaming; no token ever reaches the logs.
func TestProcessSecure(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cert := testcert.New(t)
	certFile, keyFile := cert.WriteFiles(t, dir)
	tokens := filepath.Join(dir, "tokens")
	const oldTok, newTok = "old-secret-4f1c9a", "new-secret-77d2e0"
	if err := os.WriteFile(tokens, []byte("# bots\n"+oldTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testnet.FreeAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--tls-cert", certFile, "--tls-key", keyFile,
		"--auth-tokens", tokens, "--allowed-origins", "https://dash.example.com")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	proc := startProcess(t, cmd)
	logs := proc.logs

	tlsConf := &tls.Config{RootCAs: cert.Pool}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 5 * time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS /readyz 200 within 15s; logs:\n%s", logs.String())
		}
		resp, err := https.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
	}
	dialer := &websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 5 * time.Second}
	try := func(token, origin string) (*websocket.Conn, int) {
		h := http.Header{}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := dialer.Dial("wss://"+addr+"/ws?symbols=*", h)
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return ws, resp.StatusCode
	}
	old, code := try(oldTok, "https://dash.example.com")
	if code != 101 {
		t.Fatalf("listed origin, valid token: %d", code)
	}
	defer old.Close()
	for _, c := range []struct {
		token, origin string
		want          int
	}{
		{"", "https://dash.example.com", 401},
		{"wrong", "", 401},
		{oldTok, "https://evil.example.net", 403},
		{oldTok, "", 101}, // a bot sends no Origin
	} {
		ws, code := try(c.token, c.origin)
		if ws != nil {
			ws.Close()
		}
		if code != c.want {
			t.Errorf("token %q origin %q: %d, want %d", c.token, c.origin, code, c.want)
		}
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/readyz"); err == nil {
		t.Error("plain HTTP answered on a TLS port")
	}

	// SIGHUP: the new file's token works, the old one no longer does, and
	// the connection opened with the old token keeps streaming.
	// The same signal reloads the certificate: a new key pair in the same files.
	if err := os.WriteFile(tokens, []byte(newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert2 := testcert.New(t)
	cert2.WriteFiles(t, dir)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tokens and certificate not reloaded 10s after SIGHUP; logs:\n%s", logs.String())
		}
		if !strings.Contains(logs.String(), "certificate reloaded") {
			continue
		}
		tlsConf.RootCAs = cert2.Pool
		ws, code := try(newTok, "")
		if ws != nil {
			ws.Close()
		}
		if code == 101 {
			break
		}
	}
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cert.Pool}); err == nil {
		t.Error("the old certificate is still served after SIGHUP")
	}
	if ws, code := try(oldTok, ""); code != 401 {
		if ws != nil {
			ws.Close()
		}
		t.Errorf("old token after reload: %d, want 401", code)
	}
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 3; i++ {
		if _, _, err := old.ReadMessage(); err != nil {
			t.Fatalf("the connection opened before SIGHUP stopped streaming: %v", err)
		}
	}

	// A broken file on SIGHUP keeps the tokens in force.
	os.WriteFile(tokens, []byte("# nothing\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "not reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload error logged; logs:\n%s", logs.String())
		}
	}
	if ws, code := try(newTok, ""); code != 101 {
		t.Errorf("after a failed reload the token in force is refused: %d", code)
	} else {
		ws.Close()
	}

	proc.cmd.Process.Signal(syscall.SIGTERM)
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := old.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
			t.Errorf("on SIGTERM: %v, want close 1001", err)
		}
		break
	}
	if err := proc.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
	all := proc.logs.String()
	for _, tok := range []string{oldTok, newTok} {
		if strings.Contains(all, tok) {
			t.Errorf("a token is in the logs:\n%s", all)
		}
	}
	if !strings.Contains(all, "tokens reloaded") {
		t.Errorf("no reload logged:\n%s", all)
	}
}

// TestProcessCluster runs the built binary as two ingest nodes (one leads,
// one stands by) and an edge, on an embedded NATS server: the edge's client
// gets every symbol with its seq rising by one; when the leading ingest is
// killed (SIGKILL: no goodbye), the standby takes over and the same client
// goes on without a gap; every node exits 0 on SIGTERM.
func TestProcessCluster(t *testing.T) {
	bin := buildBinary(t)
	nats := natstest.Start(t, 1)
	type proc struct {
		*process
		addr string
	}
	start := func(args ...string) *proc {
		addr := testnet.FreeAddr(t)
		cmd := exec.Command(bin, append([]string{"--addr", addr, "--nats", nats.URL(0), "--coalesce", "10ms", "--lease-time", "1s"}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		return &proc{startProcess(t, cmd), addr}
	}
	metricOf := func(p *proc, name string) float64 {
		_, body := httpGet(t, "http://"+p.addr+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
				var v float64
				fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
				return v
			}
		}
		return -1
	}
	up := func(p *proc) bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	feed := "synthetic:?symbols=5&rate=500&seed=1"
	first := start("--role", "ingest", "--node-id", "ingest-1", "--feed", feed)
	waitUntil(t, "first ingest leads", 30*time.Second, func() bool { return up(first) && metricOf(first, "ticker_cluster_leader") == 1 })
	second := start("--role", "ingest", "--node-id", "ingest-2", "--feed", feed)
	edge := start("--role", "edge", "--node-id", "edge-1")
	waitUntil(t, "edge ready", 30*time.Second, func() bool { return up(edge) })
	waitUntil(t, "standby ready", 30*time.Second, func() bool { return up(second) })
	if metricOf(second, "ticker_cluster_leader") != 0 {
		t.Fatal("two leaders")
	}
	// no client on the edge yet, so it receives no symbol: REST reads the bucket
	waitUntil(t, "edge answers REST for AAPL", 10*time.Second, func() bool {
		code, body := httpGet(t, "http://"+edge.addr+"/api/quotes/AAPL")
		return code == 200 && strings.HasPrefix(body, `{"s":"AAPL","seq":`)
	})
	// a symbol first published a moment ago reaches the edge's listing
	// through its announcement: all five within the bound
	waitUntil(t, "edge /api/quotes holds the 5 symbols' quotes", 10*time.Second, func() bool {
		code, body := httpGet(t, "http://"+edge.addr+"/api/quotes")
		return code == 200 && strings.Count(body, `"seq":`) == 5
	})
	// bars: the edge and the standby ask the leader over NATS (ticker.bars)
	for _, p := range []*proc{edge, second, first} {
		waitUntil(t, "bars of AAPL at "+p.addr, 10*time.Second, func() bool {
			code, body := httpGet(t, "http://"+p.addr+"/api/bars/AAPL?interval=1s")
			return code == 200 && strings.HasPrefix(body, `{"symbol":"AAPL","interval":"1s","bars":[{"time":`)
		})
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+edge.addr+"/ws?symbols=*", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// the edge's first client: its ack carries the stream's epoch, though
	// no version of any symbol has reached the edge's engine yet
	requireAckEpoch(t, ws, "the edge's first ack")
	seqs := map[string]float64{}
	updates := 0
	read := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var m struct {
				Type   string
				Quotes []map[string]any
			}
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatalf("edge client: %v", err)
			}
			for _, q := range m.Quotes {
				s, seq := q["s"].(string), q["seq"].(float64)
				if last, ok := seqs[s]; m.Type == "update" && ok && seq != last+1 {
					t.Fatalf("%s: seq %v after %v", s, seq, last)
				}
				seqs[s] = seq
			}
			if m.Type == "update" {
				updates++
			}
		}
	}
	read(50)
	before := updates
	first.stop(t, syscall.SIGKILL)
	killed := time.Now()
	waitUntil(t, "standby takes over", 15*time.Second, func() bool { return metricOf(second, "ticker_cluster_leader") == 1 })
	t.Logf("standby leads %v after the leader was killed (lease 1s)", time.Since(killed).Round(time.Millisecond))
	read(50)
	t.Logf("edge client: %d updates before the kill, %d in all, seq gapless; seqs now %v", before, updates, seqs)
	if got := metricOf(edge, `ticker_cluster_deltas_received_total`); got < 50 {
		t.Errorf("edge deltas received: %v", got)
	}
	for _, p := range []*proc{second, edge} {
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
		if strings.Contains(p.logs.String(), "lease not released") {
			t.Errorf("the leader did not hand its lease over:\n%s", p.logs.String())
		}
	}
}

// TestExampleBot runs the README's spread-alert command, as written there,
// against the default synthetic feed: every symbol it names must alert
// (a symbol whose spread can never cross the README's threshold would make
// the example look broken).
func TestExampleBot(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(readme), "\n") {
		if rest, ok := strings.CutPrefix(line, "go run ./examples/spread-alert "); ok {
			rest, _, _ = strings.Cut(rest, "#")
			args = strings.Fields(rest)
		}
	}
	var symbols []string
	for i, a := range args {
		if a == "--symbols" && i+1 < len(args) {
			symbols = strings.Split(args[i+1], ",")
		}
	}
	if len(symbols) == 0 {
		t.Fatalf("README.md has no `go run ./examples/spread-alert --symbols …` line")
	}
	bin := buildBinary(t)
	bot := filepath.Join(t.TempDir(), "spread-alert")
	if out, err := exec.Command(goTool(), "build", "-o", bot, "./examples/spread-alert").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := testnet.FreeAddr(t)
	startProcess(t, exec.Command(bin, "--addr", addr))
	cmd := exec.Command(bot, append([]string{"--url", "ws://" + addr + "/ws"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr := startProcess(t, cmd).logs
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	fired := map[string]string{}
	timeout := time.After(30 * time.Second)
	for len(fired) < len(symbols) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the bot ended; stderr:\n%s", stderr.String())
			}
			if f := strings.Fields(l); strings.Contains(l, "WIDE") && strings.Contains(l, "bps") && len(f) > 1 {
				if _, seen := fired[f[1]]; !seen {
					fired[f[1]] = l
					t.Logf("bot: %s", l)
				}
			}
		case <-timeout:
			var silent []string
			for _, s := range symbols {
				if _, ok := fired[s]; !ok {
					silent = append(silent, s)
				}
			}
			t.Fatalf("README's %q: no alert for %v within 30s; stderr:\n%s", strings.Join(args, " "), silent, stderr.String())
		}
	}
}

// TestContainerBinary builds the binary exactly as the Dockerfile does
// (its go build line, CGO_ENABLED=0), checks that it is static, and runs
// it with only the environment the image sets: it serves on the image's
// port, `ticker healthcheck` (the image's HEALTHCHECK) passes while it
// runs and fails once it has stopped, and SIGTERM exits 0. No container
// engine runs here; this is the image minus the container.
func TestContainerBinary(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var build string
	env := []string{}
	var health []string
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "RUN CGO_ENABLED=0 go build "):
			build = line
		case strings.HasPrefix(line, "ENV "):
			env = append(env, strings.Fields(strings.TrimPrefix(line, "ENV "))...)
		case strings.HasPrefix(line, "HEALTHCHECK "):
			i := strings.Index(line, "CMD [")
			if i < 0 {
				t.Fatalf("HEALTHCHECK without an exec-form CMD: %s", line)
			}
			if err := json.Unmarshal([]byte(line[i+4:]), &health); err != nil {
				t.Fatalf("HEALTHCHECK CMD: %v", err)
			}
		}
	}
	const want = `RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ticker .`
	if build != want {
		t.Fatalf("the Dockerfile's build line is %q; this test builds %q (update both)", build, want)
	}
	if len(health) != 2 || health[0] != "/ticker" || health[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK CMD %v, want [/ticker healthcheck]", health)
	}
	bin := filepath.Join(t.TempDir(), "ticker")
	cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatal("the binary is dynamically linked")
		}
	}
	f.Close()
	st, _ := os.Stat(bin)

	var addr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TICKER_ADDR="); ok {
			addr = v
		}
	}
	if addr == "" {
		t.Fatal("the image sets no TICKER_ADDR")
	}
	if ln, err := net.Listen("tcp", addr); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the image's address %s is taken: %v", addr, err)
		}
		t.Skipf("the image's address %s is taken here (%v); CI runs this test", addr, err)
	} else {
		ln.Close()
	}
	check := func() (int, string) {
		hc := exec.Command(bin, health[1:]...)
		hc.Env = env
		out, err := hc.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	srv := exec.Command(bin)
	srv.Env = env // nothing else: no PATH, no HOME
	proc := startProcess(t, srv)
	logs := proc.logs
	start := time.Now()
	for {
		code, _ := check()
		if code == 0 {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("healthcheck never passed; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"msg":"ticker serving"`) {
		t.Errorf("the image's env asks for JSON logs; got:\n%s", logs.String())
	}
	if err := proc.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if code, out := check(); code != 1 {
		t.Errorf("healthcheck with the server stopped: exit %d %s", code, out)
	}
	t.Logf("static binary %.1f MB; healthy %v after start with only %v", float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond), env)
}

// TestProcessSignalBeforeNATS: a cluster node still waiting for NATS (no
// server on its --nats port) ends at once on SIGTERM, with code 0 and a
// line that says so, as a `docker stop` before NATS is up expects.
func TestProcessSignalBeforeNATS(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "--role", "edge", "--nats", "nats://"+testnet.FreeAddr(t), "--addr", testnet.FreeAddr(t))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	p := startProcess(t, cmd)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.logs.String(), "NATS not reachable yet"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no retry logged:\n%s", p.logs.String())
		}
	}
	start := time.Now()
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM while waiting for NATS: %v\n%s", err, p.logs.String())
	}
	if took := time.Since(start); !strings.Contains(p.logs.String(), "shutting down: stopped before NATS answered") {
		t.Fatalf("exited 0 after %v, but logged no shutdown:\n%s", took, p.logs.String())
	}
}

// TestHealthcheckHelp: `ticker healthcheck --help` says what the
// subcommand does and exits 0 (not the server's help and a code 2), and
// the server's --help names the subcommand.
func TestHealthcheckHelp(t *testing.T) {
	var out bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := healthcheck([]string{"--help"}, noEnv, &out); code != 0 || !strings.HasPrefix(out.String(), "Usage: ticker healthcheck") || strings.Contains(out.String(), "-coalesce") {
		t.Fatalf("healthcheck --help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if _, err := parseConfig([]string{"--help"}, noEnv, &out); err != errHelp || !strings.Contains(out.String(), "ticker healthcheck [flags]") {
		t.Fatalf("--help does not name the healthcheck subcommand: %v\n%s", err, out.String())
	}
}

// TestUseErrorsNameVariable: a value refused only when it is used (the
// listen address, a file) is named as the user set it: the variable, when
// only the environment set it.
func TestUseErrorsNameVariable(t *testing.T) {
	for _, tt := range []struct{ env, val, want string }{
		{"TICKER_ADDR", "bogus", "ticker: TICKER_ADDR: listen tcp: address bogus"},
		{"TICKER_AUTH_TOKENS", filepath.Join(t.TempDir(), "none"), "ticker: TICKER_AUTH_TOKENS: "},
		{"TICKER_JWT_KEYS", filepath.Join(t.TempDir(), "none"), "ticker: TICKER_JWT_KEYS: "},
	} {
		var out bytes.Buffer
		getenv := func(k string) string {
			if k == tt.env {
				return tt.val
			}
			return ""
		}
		args := []string{"--addr", "127.0.0.1:0", "--log-level", "error"}
		if tt.env == "TICKER_ADDR" {
			args = []string{"--log-level", "error"}
		}
		if code := run(args, getenv, &out); code != 2 || !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%s=%s: exit %d, %q; want 2 and %q", tt.env, tt.val, code, out.String(), tt.want)
		}
	}
}
