package main

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/testnet"
)

// spliceCheck is run by Debian's python3 with its websockets (zlib inflates):
// it offers permessage-deflate, subscribes to 40 symbols, and checks that
// 150 updates decode, as JSON, with every symbol's seq continuing the last
// one it had (a spliced message that inflated to other bytes would break
// the JSON or the seqs).
const spliceCheck = `
import asyncio, json, sys
import websockets

async def main(url):
    async with websockets.connect(url, compression="deflate", max_size=None) as ws:
        exts = ws.response_headers.get("Sec-WebSocket-Extensions", "")  # websockets 10 (Debian 12)
        assert "permessage-deflate" in exts, exts
        await ws.send(json.dumps({"op": "subscribe", "symbols": ["SYM%04d" % i for i in range(20, 60)]}))
        seq, updates = {}, 0
        while updates < 150:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m["type"] == "snapshot":
                for q in m["quotes"]:
                    seq[q["s"]] = q["seq"]
            elif m["type"] == "update":
                updates += 1
                for q in m["quotes"]:
                    want = seq.get(q["s"], q["seq"] - 1) + 1
                    assert q["seq"] == want, (q["s"], q["seq"], want)
                    seq[q["s"]] = q["seq"]
        print("ok", updates, "updates,", len(seq), "symbols")

asyncio.run(main(sys.argv[1]))
`

// TestSplicedUpdatesInflateElsewhere: the built binary's spliced updates
// (many symbols, fast changes: long messages, many back-references) are
// read by an inflater not written here, zlib under Python's websockets,
// and the server says they were spliced.
func TestSplicedUpdatesInflateElsewhere(t *testing.T) {
	py := python(t)
	bin := buildBinary(t)
	addr := testnet.FreeAddr(t)
	srv := startProcess(t, exec.Command(bin, "--addr", addr, "--feed", "synthetic:?symbols=200&rate=8000&seed=3"))
	waitReady(t, addr, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", spliceCheck, "ws://"+addr+"/ws").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("python websockets: %v\n%s\nserver logs:\n%s", err, out, srv.logs.String())
	}
	t.Logf("python websockets: %s", strings.TrimSpace(string(out)))
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^ticker_frames_assembled_total (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no ticker_frames_assembled_total in /metrics")
	}
	if n, _ := strconv.ParseFloat(string(m[1]), 64); n < 100 {
		t.Errorf("ticker_frames_assembled_total %s: the updates were not spliced", m[1])
	}
}

// TestCompressBudgetWarns: --compress-budget, which splicing made
// pointless, still lets the built binary start, and its log says the flag
// does nothing.
func TestCompressBudgetWarns(t *testing.T) {
	bin := buildBinary(t)
	addr := testnet.FreeAddr(t)
	srv := startProcess(t, exec.Command(bin, "--addr", addr, "--compress-budget", "5ms"))
	waitReady(t, addr, srv)
	if logs := srv.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "--compress-budget has no effect") {
		t.Errorf("no warning about --compress-budget in the log:\n%s", logs)
	}
}
