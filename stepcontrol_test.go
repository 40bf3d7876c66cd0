package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/rawws"
	"github.com/ticker-io/ticker/internal/testnet"
)

// TestParseStepControl: --step-control takes at most one feed, a replay,
// none by default (not the synthetic feed), and only a loopback --addr;
// every refusal is one line naming the problem; --help describes it.
func TestParseStepControl(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := parseConfig([]string{"--step-control", "--addr", "127.0.0.1:9000"}, noEnv, io.Discard)
	if err != nil || !c.StepControl || len(c.Feeds) != 0 {
		t.Fatalf("step control, no feed: %+v %v", c.Feeds, err)
	}
	for _, args := range [][]string{
		{"--step-control", "--addr", "localhost:9000", "--feed", "replay:fixtures/crypto.ndjson"},
		{"--step-control", "--addr", "[::1]:9000"},
	} {
		if _, err := parseConfig(args, noEnv, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	if c, err := parseConfig([]string{"--addr", "127.0.0.1:9000"}, func(k string) string {
		return map[string]string{"TICKER_STEP_CONTROL": "true"}[k]
	}, io.Discard); err != nil || !c.StepControl {
		t.Errorf("TICKER_STEP_CONTROL=true: %v %v", c.StepControl, err)
	}
	for _, tt := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--step-control"}, "--addr :8080 is not a loopback address"},
		{[]string{"--step-control", "--addr", "0.0.0.0:9000"}, "not a loopback"},
		{[]string{"--step-control", "--addr", "192.0.2.1:9000"}, "not a loopback"},
		{[]string{"--step-control", "--addr", "127.0.0.1:9000", "--feed", "synthetic"}, "only a replay feed is stepped"},
		{[]string{"--step-control", "--addr", "127.0.0.1:9000", "--feed", "replay:a", "--feed", "replay:b"}, "at most one --feed"},
		{[]string{"--step-control", "--addr", "127.0.0.1:9000", "--role", "ingest", "--nats", "nats://x:4222"}, "only with --role all"},
		{[]string{"--step-control=maybe"}, "--step-control"},
		{[]string{"--step-control", "--addr", "127.0.0.1:9000", "--step-symbols", "BTC-USD,bad sym"}, "--step-symbols"},
		{[]string{"--addr", "127.0.0.1:9000", "--step-symbols", "BTC-USD"}, "only with --step-control"},
	} {
		_, err := parseConfig(tt.args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.mention) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line mentioning %q", tt.args, err, tt.mention)
		}
	}
	var help bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, noEnv, &help); err != errHelp ||
		!strings.Contains(help.String(), "-step-control") || !strings.Contains(help.String(), "never to expose") || !strings.Contains(help.String(), "/control/step") {
		t.Errorf("--help does not describe --step-control:\n%s", help.String())
	}
}

// control posts to a --step-control server's control endpoint and decodes
// its JSON answer.
func control(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// stepSession runs the built binary with --step-control on a fixture,
// drives it through the control endpoint with a raw client subscribed,
// and returns every text message the client got, in order, with the
// control's answers between them.
func stepSession(t *testing.T, bin string) []string {
	t.Helper()
	addr := testnet.FreeAddr(t)
	p := startProcess(t, exec.Command(bin, "--step-control", "--addr", addr, "--coalesce", "100ms",
		"--feed", "replay:fixtures/crypto.ndjson?speed=1000", "--log-level", "warn"))
	base := "http://" + addr
	waitReady(t, addr, p)
	conn, err := rawws.Dial(addr, rawws.Options{Path: "/ws?symbols=BTC-USD,ETH-USD", Extensions: "permessage-deflate"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, st := control(t, "GET", base+"/control/state", "")
		if st["subscriptions"].(float64) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client's subscriptions never arrived: %v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var log []string
	pings := 0
	// barrier pings and reads every text message up to the pong, which the
	// server queues after everything queued before it
	barrier := func() {
		t.Helper()
		pings++
		if err := conn.WriteText(fmt.Sprintf(`{"op":"ping","id":%d}`, pings)); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := conn.ReadMessage(10 * time.Second)
			if err != nil {
				t.Fatalf("reading up to pong %d: %v (after %v)", pings, err, log)
			}
			if m.Op != rawws.OpText {
				continue
			}
			log = append(log, string(m.Payload))
			if strings.HasPrefix(string(m.Payload), fmt.Sprintf(`{"type":"pong","id":%d,`, pings)) {
				return
			}
		}
	}
	barrier() // the ack; nothing else comes without a step, whatever the replay's speed
	answer := func(code int, m map[string]any) {
		delete(m, "more")
		var kv []string
		for k, v := range m {
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				v = int64(f)
			}
			kv = append(kv, fmt.Sprintf("%s=%v", k, v))
		}
		slices.Sort(kv)
		log = append(log, fmt.Sprintf("-- %d %s", code, strings.Join(kv, " ")))
	}
	answer(control(t, "POST", base+"/control/step?next=true", ""))
	answer(control(t, "POST", base+"/control/step", ""))
	answer(control(t, "POST", base+"/control/publish", `{"ts":1763942400500000,"s":"ETH-USD","bid":"3300.12","ask":"3300.14"}`+"\n\n# a comment\n"+
		`{"ts":1763942400500001,"s":"BTC-USD","last":"64000.99"}`))
	answer(control(t, "POST", base+"/control/step?to=1763942400500001", ""))
	answer(control(t, "POST", base+"/control/publish", "{\"ts\":1,\"s\":\"AAPL\",\"bid\":\"1\"}\n{\"s\":\"AAPL\"}")) // refused whole
	answer(control(t, "POST", base+"/control/step?to=5", ""))                                                        // back in time
	answer(control(t, "POST", base+"/control/step?to=soon", ""))
	answer(control(t, "GET", base+"/control/step", ""))
	answer(control(t, "POST", base+"/control/nope", ""))
	barrier()
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v; logs:\n%s", err, p.logs.String())
	}
	return log
}

// TestProcessStepControl: the built binary with --step-control moves only
// when stepped through its control endpoint: a fixture's next ts, one
// window, quotes posted as fixture lines, a step to a time; bad requests
// get a clear error and change nothing; two runs give a client the same
// messages byte for byte. Without the flag, /control is 404.
func TestProcessStepControl(t *testing.T) {
	bin := buildBinary(t)
	run1 := stepSession(t, bin)
	run2 := stepSession(t, bin)
	if !reflect.DeepEqual(run1, run2) {
		t.Fatalf("two runs differ:\n%s\n---\n%s", strings.Join(run1, "\n"), strings.Join(run2, "\n"))
	}
	t.Logf("session:\n%s", strings.Join(run1, "\n"))
	const t0 = 1763942400000000 // crypto.ndjson's first ts
	var answers, updates []string
	for _, l := range run1[2:] {
		switch {
		case strings.HasPrefix(l, "-- "):
			answers = append(answers, l)
		case strings.HasPrefix(l, `{"type":"update"`):
			updates = append(updates, l)
		}
	}
	// nothing but the ack before the first step, however fast the replay's
	// speed; the pong's time is the server's clock
	if want := []string{`{"type":"subscribed","symbols":["BTC-USD","ETH-USD"],"epoch":1763942400000}`, `{"type":"pong","id":1,"time":1763942400000000}`}; !reflect.DeepEqual(run1[:2], want) || !strings.HasPrefix(run1[2], "-- ") {
		t.Errorf("before the first step: %v, want %v", run1[:3], want)
	}
	if last := run1[len(run1)-1]; last != `{"type":"pong","id":2,"time":1763942400500001}` {
		t.Errorf("last message %s, want the second pong at the clock's time", last)
	}
	want := []string{
		fmt.Sprintf("-- 200 quotes=1 time=%d", t0), // the fixture's first ts: its one line
		fmt.Sprintf("-- 200 quotes=13 time=%d", t0+100000),
		"-- 200 published=2",
		fmt.Sprintf("-- 200 quotes=48 time=%d", t0+500001), // 46 lines and the 2 published
		`-- 400 error=line 2: missing "ts"`,
		"-- 409 error=step to 1970-01-01T00:00:00.000005Z: before the clock's time 2025-11-24T00:00:00.500001Z",
		`-- 400 error=to="soon": want a time in Unix microseconds`,
		"-- 405 error=GET /control/step: want POST",
		"-- 404 error=POST /control/nope: not a control endpoint (POST /control/publish, POST /control/step, GET /control/state)",
	}
	if !reflect.DeepEqual(answers, want) {
		t.Errorf("control answers\n%s\nwant\n%s", strings.Join(answers, "\n"), strings.Join(want, "\n"))
	}
	if len(updates) != 3 {
		t.Fatalf("%d updates, want one per step that changed something (3)", len(updates))
	}
	if want := fmt.Sprintf(`{"type":"update","time":%d,"quotes":[{"s":"BTC-USD","seq":1,"ts":%d,"bid":"64000.1","bid_size":"0.70516","ask":"64000.14","ask_size":"1.72353"}]}`, t0, t0); updates[0] != want {
		t.Errorf("first update\n got %s\nwant %s", updates[0], want)
	}
	// the posted quotes, later than the fixture's lines of the window, win
	for _, part := range []string{`"time":1763942400500001`, `{"s":"BTC-USD","seq":3,"ts":1763942400500001,`, `"last":"64000.99"`,
		`{"s":"ETH-USD","seq":2,"ts":1763942400500000,"bid":"3300.12",`, `"ask":"3300.14"`} {
		if !strings.Contains(updates[2], part) {
			t.Errorf("third update %s: no %s", updates[2], part)
		}
	}

	// without the flag there is no control endpoint
	addr := testnet.FreeAddr(t)
	p := startProcess(t, exec.Command(bin, "--addr", addr, "--feed", "replay:fixtures/crypto.ndjson"))
	deadline := time.Now().Add(15 * time.Second)
	for code, _ := tryGet("http://" + addr + "/healthz"); code != 200; code, _ = tryGet("http://" + addr + "/healthz") {
		if time.Now().After(deadline) {
			t.Fatalf("not serving; logs:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range []string{"POST", "GET"} {
		code, body := control(t, m, "http://"+addr+"/control/step", "")
		if code != 404 || !strings.Contains(fmt.Sprint(body["error"]), "only with --step-control") {
			t.Errorf("%s /control/step without --step-control: %d %v", m, code, body)
		}
	}
}

// TestProcessStepSymbols: with --step-symbols and no fixture, a bot may
// subscribe to a symbol before any quote of it is stepped (not
// unknown_symbol), so that a test can wait for its subscription, then
// step the first quote to it.
func TestProcessStepSymbols(t *testing.T) {
	bin := buildBinary(t)
	addr := testnet.FreeAddr(t)
	p := startProcess(t, exec.Command(bin, "--step-control", "--addr", addr, "--step-symbols", "BTC-USD, ETH-USD"))
	base := "http://" + addr
	waitReady(t, addr, p)
	conn, err := rawws.Dial(addr, rawws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteText(`{"op":"subscribe","id":1,"symbols":["ETH-USD"]}`); err != nil {
		t.Fatal(err)
	}
	m, err := conn.ReadMessage(5 * time.Second)
	if err != nil || !strings.HasPrefix(string(m.Payload), `{"type":"subscribed","id":1,"symbols":["ETH-USD"]`) {
		t.Fatalf("subscribe before any quote: %s %v, want subscribed", m.Payload, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, state := control(t, "GET", base+"/control/state", "")
		if state["subscriptions"] == float64(1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %v: the subscription is not counted", state)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := control(t, "POST", base+"/control/publish", `{"ts":1764000000000000,"s":"ETH-USD","bid":"3300.5"}`); code != 200 {
		t.Fatalf("publish: %d %v", code, body)
	}
	if code, body := control(t, "POST", base+"/control/step", ""); code != 200 {
		t.Fatalf("step: %d %v", code, body)
	}
	m, err = conn.ReadMessage(5 * time.Second)
	if err != nil || !strings.Contains(string(m.Payload), `{"s":"ETH-USD","seq":1,"ts":1764000000000000,"bid":"3300.5"}`) {
		t.Fatalf("after the step: %s %v, want ETH-USD seq 1", m.Payload, err)
	}

	// a published body is fixture lines: the stale mark too, and a line
	// with no field, which makes a stale symbol fresh
	for _, tt := range []struct{ line, want string }{
		{`{"ts":1764000000100000,"s":"ETH-USD","stale":true}`, `{"s":"ETH-USD","seq":2,"ts":1764000000000000,"stale":true}`},
		{`{"ts":1764000000200000,"s":"ETH-USD"}`, `{"s":"ETH-USD","seq":3,"ts":1764000000200000,"stale":false}`},
	} {
		if code, body := control(t, "POST", base+"/control/publish", tt.line); code != 200 {
			t.Fatalf("publish %s: %d %v", tt.line, code, body)
		}
		if code, body := control(t, "POST", base+"/control/step", ""); code != 200 {
			t.Fatalf("step: %d %v", code, body)
		}
		m, err = conn.ReadMessage(5 * time.Second)
		if err != nil || !strings.Contains(string(m.Payload), tt.want) {
			t.Fatalf("after publishing %s: %s %v, want %s", tt.line, m.Payload, err, tt.want)
		}
	}
	if code, body := control(t, "POST", base+"/control/publish", `{"ts":1764000000300000,"s":"ETH-USD","stale":true,"bid":"1"}`); code != 400 {
		t.Errorf("a stale mark with a field: %d %v, want 400", code, body)
	}
}
