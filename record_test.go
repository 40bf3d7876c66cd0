package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/feeds/venuetest"
	"github.com/ticker-io/ticker/internal/testnet"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/record"
)

// wireQuote renders a market quote as the REST API shows it, seq aside:
// "ts" and every field present, as exact decimal strings.
func wireQuote(q market.Quote) map[string]string {
	out := map[string]string{"ts": strconv.FormatInt(q.TsMicros, 10)}
	for f := market.Field(0); f < market.NumFields; f++ {
		if v, ok := q.Get(f); ok {
			out[f.Name()] = v.String()
		}
	}
	return out
}

// servedQuotes reads /api/quotes as symbol → ts and fields (seq and any
// key that is not a quote field left out), or nil when it does not answer.
func servedQuotes(addr string) map[string]map[string]string {
	code, body := tryGet("http://" + addr + "/api/quotes")
	if code != 200 {
		return nil
	}
	var doc struct{ Quotes []map[string]any }
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber() // ts exactly, not through a float
	if dec.Decode(&doc) != nil {
		return nil
	}
	out := map[string]map[string]string{}
	for _, q := range doc.Quotes {
		m := map[string]string{}
		for k, v := range q {
			if _, field := market.FieldByName([]byte(k)); field {
				m[k], _ = v.(string)
			} else if k == "ts" {
				m[k] = fmt.Sprint(v)
			}
		}
		sym, _ := q["s"].(string)
		out[sym] = m
	}
	return out
}

// replayInto serves path with the built binary at speed=0 and waits until
// /api/quotes shows want exactly (every symbol, ts and field, nothing
// else), failing with the difference after 15 s.
func replayInto(t *testing.T, bin, path string, want map[string]map[string]string) {
	t.Helper()
	addr := testnet.FreeAddr(t)
	proc := startProcess(t, exec.Command(bin, "--addr", addr, "--coalesce", "10ms", "--feed", "replay:"+path+"?speed=0"))
	var got map[string]map[string]string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = servedQuotes(addr); fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
	}
	var diff []string
	for sym, w := range want {
		if fmt.Sprint(got[sym]) != fmt.Sprint(w) {
			diff = append(diff, fmt.Sprintf("%s: served %v\n    recorded %v", sym, got[sym], w))
		}
	}
	for sym := range got {
		if want[sym] == nil {
			diff = append(diff, sym+": served, never recorded")
		}
	}
	sort.Strings(diff)
	t.Fatalf("the replay of %s does not end in the recorded state (%d of %d symbols served):\n%s\nlogs:\n%s",
		path, len(got), len(want), strings.Join(diff, "\n"), proc.logs.String())
}

// TestRecordReplaySynthetic records 3000 quotes of the synthetic feed,
// replays the file into the built server, and compares /api/quotes with
// the recorder's final state: every symbol, ts and decimal the same.
func TestRecordReplaySynthetic(t *testing.T) {
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "synthetic.ndjson")
	f, err := feeds.Parse("synthetic:?seed=7&rate=20000&symbols=40")
	if err != nil {
		t.Fatal(err)
	}
	set, err := feeds.NewSet(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(record.Config{Path: path, Count: 3000})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := rec.Run(context.Background(), set, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || sum.Quotes != 3000 || sum.Ended != "count" || len(sum.Final) != 40 {
		t.Fatalf("recording: %v, %d quotes of %d symbols, ended %q", err, sum.Quotes, len(sum.Final), sum.Ended)
	}
	want := map[string]map[string]string{}
	for _, q := range sum.Final {
		want[q.Symbol] = wireQuote(q)
	}
	replayInto(t, bin, path, want)
}

// TestProcessRecordVenues runs `ticker record` on a Binance and a
// Coinbase feed whose upstreams are fake venues on loopback: it stops by
// itself at --count, the file holds the venues' own timestamps, and a
// replay of it serves exactly what the venues sent.
func TestProcessRecordVenues(t *testing.T) {
	bin := buildBinary(t)
	binance, coinbase := venuetest.Start(t, 1), venuetest.Start(t, 2)
	path := filepath.Join(t.TempDir(), "venues.ndjson")
	proc := startProcess(t, exec.Command(bin, "record", "--out", path, "--count", "8",
		"--feed", "binance:btcusdt,ethusdt?url="+binance.URL("/stream"),
		"--feed", "coinbase:BTC-USD,ETH-USD?url="+coinbase.URL("/")))

	b := binance.Next(t, 15*time.Second)
	for _, m := range []string{
		`{"result":null,"id":1}`,
		// spot bookTicker has no time: stamped on arrival, then overtaken by the trade's T
		`{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"97250.01000000","B":"1.50000000","a":"97250.02000000","A":"0.00400000"}}`,
		`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1764000000123,"s":"BTCUSDT","a":1,"p":"97250.02","q":"0.001","f":1,"l":1,"T":1764000000120,"m":true,"M":true}}`,
		`{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1764000000500,"s":"BTCUSDT","v":"8123.45600000","c":"97250.02","Q":"0.001","b":"97250.01","B":"1.5","a":"97250.02","A":"0.004"}}`,
		`{"stream":"ethusdt@bookTicker","data":{"u":2,"s":"ETHUSDT","b":"3120.55","B":"25.1","a":"3120.56","A":"4"}}`,
		`{"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":1764000000700,"s":"ETHUSDT","a":2,"p":"3121.00","q":"0.5","f":2,"l":2,"T":1764000000699,"m":false,"M":true}}`,
	} {
		if err := b.Send([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	c := coinbase.Next(t, 15*time.Second)
	for _, m := range []string{
		`{"channel":"subscriptions","client_id":"","timestamp":"2025-11-24T16:00:00.0001Z","sequence_num":0,"events":[{"subscriptions":{"ticker":["BTC-USD","ETH-USD"],"heartbeats":["heartbeats"]}}]}`,
		`{"channel":"ticker","client_id":"","timestamp":"2025-11-24T16:00:00.123456789Z","sequence_num":1,"events":[{"type":"snapshot","tickers":[` +
			`{"type":"ticker","product_id":"BTC-USD","price":"97260.5","volume_24_h":"8123.45678901","best_bid":"97260.49","best_bid_quantity":"0.25","best_ask":"97260.5","best_ask_quantity":"0.0105"},` +
			`{"type":"ticker","product_id":"ETH-USD","price":"3121.07","volume_24_h":"190234.1","best_bid":"3121.06","best_bid_quantity":"12","best_ask":"3121.07","best_ask_quantity":"3.3"}]}]}`,
		`{"channel":"heartbeats","client_id":"","timestamp":"2025-11-24T16:00:01Z","sequence_num":2,"events":[{"heartbeat_counter":1}]}`,
		`{"channel":"ticker","client_id":"","timestamp":"2025-11-24T16:00:01.25Z","sequence_num":3,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"97261","best_bid":"97260.99"}]}]}`,
	} {
		if err := c.Send([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-proc.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("ticker record did not stop at --count 8; logs:\n%s", proc.logs.String())
	}
	if proc.err != nil || !strings.Contains(proc.logs.String(), "quotes=8 symbols=4") || !strings.Contains(proc.logs.String(), "ended=count") {
		t.Fatalf("exit %v; logs:\n%s", proc.err, proc.logs.String())
	}

	// the venues' times, as Unix microseconds, on the lines they gave
	lines := fixtureQuoteLines(t, path)
	for _, ts := range []string{"1764000000120000", "1764000000500000", "1764000000699000", "1764000000123456", "1764000001250000"} {
		if !strings.Contains(strings.Join(lines, "\n"), `{"ts":`+ts+`,`) {
			t.Errorf("no line with the venue's ts %s:\n%s", ts, strings.Join(lines, "\n"))
		}
	}
	replayInto(t, bin, path, map[string]map[string]string{
		"BTC-USDT": {"ts": "1764000000500000", "bid": "97250.01", "bid_size": "1.5", "ask": "97250.02", "ask_size": "0.004", "last": "97250.02", "last_size": "0.001", "volume": "8123.456"},
		"ETH-USDT": {"ts": "1764000000699000", "bid": "3120.55", "bid_size": "25.1", "ask": "3120.56", "ask_size": "4", "last": "3121", "last_size": "0.5"},
		"BTC-USD":  {"ts": "1764000001250000", "bid": "97260.99", "bid_size": "0.25", "ask": "97260.5", "ask_size": "0.0105", "last": "97261", "volume": "8123.45678901"},
		"ETH-USD":  {"ts": "1764000000123456", "bid": "3121.06", "bid_size": "12", "ask": "3121.07", "ask_size": "3.3", "last": "3121.07", "volume": "190234.1"},
	})
}

// fixtureQuoteLines returns the file's quote lines (comments left out);
// it fails t unless the file ends with a newline.
func fixtureQuoteLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s is empty or ends in the middle of a line", path)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "#") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestProcessRecordCommand: the command's bad input is one line and exit
// 2; --duration, SIGINT and SIGTERM end a recording with exit 0, the file
// flushed, closed and holding as many complete lines as the log says.
func TestProcessRecordCommand(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		args    []string
		mention string
	}{
		{[]string{}, `--out "": want a file to write`},
		{[]string{"--out", filepath.Join(dir, "no", "dir.ndjson")}, "--out: open " + filepath.Join(dir, "no", "dir.ndjson") + ": no such file or directory"},
		{[]string{"--out", dir}, "--out: open " + dir + ": is a directory"},
		{[]string{"--out", "x", "--count", "-1"}, "--count -1: want 0 (no limit) or more"},
		{[]string{"--out", "x", "--count", "many"}, `--count "many": want a whole number`},
		{[]string{"--out", "x", "--duration", "-1s"}, "--duration -1s: want 0 (no limit) or more"},
		{[]string{"--out", "x", "--feed", "bogus:x"}, `--feed: feed "bogus:x": unknown kind`},
		{[]string{"--out", "x", "extra"}, `unexpected argument "extra"`},
	} {
		cmd := exec.Command(bin, append([]string{"record"}, tt.args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || len(lines) != 1 || !strings.Contains(lines[0], "ticker record: "+tt.mention) {
			t.Errorf("record %v: %v, %q; want exit 2 and one line with %q", tt.args, err, out, tt.mention)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("a refused command created its file")
	}

	quotesLogged := regexp.MustCompile(`msg=recorded .*quotes=(\d+) .*ended=(\S+)`)
	for _, tt := range []struct {
		name  string
		args  []string
		sig   syscall.Signal // 0: none, the recording ends by itself
		ended string
	}{
		{"duration", []string{"--duration", "500ms"}, 0, "duration"},
		{"SIGINT", nil, syscall.SIGINT, "stopped"},
		{"SIGTERM", nil, syscall.SIGTERM, "stopped"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".ndjson")
			args := append([]string{"record", "--out", path, "--feed", "synthetic:?rate=5000"}, tt.args...)
			proc := startProcess(t, exec.Command(bin, args...))
			if tt.sig != 0 {
				for deadline := time.Now().Add(15 * time.Second); !strings.Contains(proc.logs.String(), "msg=recording"); time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("not recording after 15s; logs:\n%s", proc.logs.String())
					}
				}
				time.Sleep(300 * time.Millisecond)
				proc.cmd.Process.Signal(tt.sig)
			}
			select {
			case <-proc.exited:
			case <-time.After(15 * time.Second):
				t.Fatalf("still running; logs:\n%s", proc.logs.String())
			}
			if proc.err != nil {
				t.Fatalf("exit %v; logs:\n%s", proc.err, proc.logs.String())
			}
			m := quotesLogged.FindStringSubmatch(proc.logs.String())
			if m == nil || m[2] != tt.ended {
				t.Fatalf("want a summary ended=%s; logs:\n%s", tt.ended, proc.logs.String())
			}
			lines := fixtureQuoteLines(t, path)
			if strconv.Itoa(len(lines)) != m[1] || len(lines) == 0 {
				t.Fatalf("%d lines in the file, %s in the log", len(lines), m[1])
			}
			for i, l := range lines { // every line whole: a replay reads it
				var q map[string]any
				if err := json.Unmarshal([]byte(l), &q); err != nil {
					t.Fatalf("line %d %q: %v", i+1, l, err)
				}
			}
		})
	}
}
