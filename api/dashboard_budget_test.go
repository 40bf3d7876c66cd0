package api

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/ticker-io/ticker/bars"
	"github.com/ticker-io/ticker/fanout"
)

// mainThreadBusy reads CDP Performance.getMetrics: the renderer main
// thread's busy time (TaskDuration) and the metrics' clock, in seconds.
func mainThreadBusy(t *testing.T, ctx context.Context) (task, clock float64) {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (performance.GetMetricsResult, error) {
		return cdp.Call(ctx, tg, performance.GetMetrics, cdp.Empty{})
	})
	if err != nil {
		t.Fatalf("Performance.getMetrics: %v", err)
	}
	for _, m := range res.Metrics {
		switch m.Name {
		case "TaskDuration":
			task = m.Value
		case "Timestamp":
			clock = m.Value
		}
	}
	return task, clock
}

// budgetSeconds is how long each size is measured: 30 s, or
// TICKER_DASHBOARD_SECONDS.
func budgetSeconds(t *testing.T) time.Duration {
	if v := os.Getenv("TICKER_DASHBOARD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("TICKER_DASHBOARD_SECONDS=%q: want a whole number of seconds, at least 2", v)
		}
		return time.Duration(n) * time.Second
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// TestDashboardBudget is the render budget of issue #15 at four sizes, with
// 200 symbols changing 5000 times a second, all of them watched ("*"): the
// chart opens with the server's history; every column fits at 1366 px and
// wider (on a phone the hidden ones are hidden on purpose, nothing is
// clipped); no pane changes size after the first second; the renderer's
// main thread stays well under budget (the figure is printed: it is a
// benchmark-style number, asserted only with a wide margin); the latency
// shown is the network's, not a backlog's. A screenshot of each size is
// saved (TICKER_SCREENSHOT_DIR). Then a headless chromium --screenshot with
// a virtual time budget, as a new user would take one, must finish in
// seconds.
func TestDashboardBudget(t *testing.T) {
	chromiumPath(t)
	dir := screenshotDir(t)
	measure := budgetSeconds(t)
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=200&rate=5000&seed=5")
	// three seconds of history before the first page opens
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, body := ts.get("/api/bars/AAPL?interval=1s")
		if _, _, bs, err := bars.ParseJSON([]byte(body)); err == nil && len(bs) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server built no history")
		}
	}
	ctx := newBrowser(t, 1366, 768, "about:blank")
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, performance.Enable, performance.EnableParams{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	type size struct {
		w, h  int64
		phone bool
	}
	for _, sz := range []size{{1366, 768, false}, {1440, 900, false}, {1920, 1080, false}, {390, 844, true}} {
		name := fmt.Sprintf("%dx%d", sz.w, sz.h)
		var opts []chromedp.EmulateViewportOption
		if sz.phone {
			opts = append(opts, chromedp.EmulateMobile)
		}
		opened := time.Now()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(sz.w, sz.h, opts...), chromedp.Navigate("http://"+ts.addr+"/")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// history on open: the chart's first bar is older than the page
		waitPage(t, ctx, name+": live with history", `__ticker.status() === "live" && __ticker.rows() === 200 && __ticker.historyBars() >= 3 && __ticker.historyFirst() > 0`, 20*time.Second)
		first, _ := chromedp.Run(ctx, chromedp.Evaluate[int64](`__ticker.historyFirst()`))
		histBars, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.historyBars()`))
		if age := opened.Unix() - first; age < 2 {
			t.Errorf("%s: the chart starts %d s before the page opened; want the server's history", name, age)
		}
		time.Sleep(time.Second)
		panes0, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(__ticker.panes())`))
		task0, clock0 := mainThreadBusy(t, ctx)
		frames0, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.frames()`))
		time.Sleep(measure)
		task1, clock1 := mainThreadBusy(t, ctx)
		frames1, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`__ticker.frames()`))
		panes1, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(__ticker.panes())`))
		busy := 100 * (task1 - task0) / (clock1 - clock0)
		latency, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`__ticker.latency()`))
		rate, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("rate").textContent`))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(dir, "dashboard-"+name+".png")
		os.WriteFile(shot, png, 0o644)
		t.Logf("%s: main thread %.1f %% busy over %v (%d frames drawn, %.0f/s); panes %s; latency %s, updates/s %s; chart opened with %d bars from %d s before the page; %s",
			name, busy, measure, frames1-frames0, float64(frames1-frames0)/(clock1-clock0), panes1, latency, rate, histBars, opened.Unix()-first, shot)
		if busy > 50 {
			t.Errorf("%s: the renderer's main thread is %.1f %% busy; the budget is 25 %% (asserted at 50 %% on a shared machine)", name, busy)
		}
		if panes0 != panes1 {
			t.Errorf("%s: the panes changed size after the first second: %s → %s", name, panes0, panes1)
		}
		if ms, err := strconv.Atoi(strings.TrimSuffix(latency, " ms")); err != nil || ms > 500 {
			t.Errorf("%s: latency %q on loopback: the page is lagging", name, latency)
		}
		if n, err := strconv.Atoi(rate); err != nil || n > 22 {
			t.Errorf("%s: updates/s %q; the server sends at most 20 (one per 50 ms window)", name, rate)
		}
		// every column: visible and whole at 1366 px and wider; on a
		// phone, those that do not fit are display:none and the rest whole
		cols, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const wl = document.querySelector(".watchlist").getBoundingClientRect();
			const out = [];
			for (const th of document.querySelectorAll(".watchlist thead th")) {
				const r = th.getBoundingClientRect(), hidden = getComputedStyle(th).display === "none";
				const cut = !hidden && (r.right > wl.right + 0.5 || r.left < wl.left - 0.5 || th.scrollWidth > th.clientWidth || r.right > innerWidth);
				out.push(th.textContent + (hidden ? ":hidden" : cut ? ":CUT" : ""));
			}
			let cells = 0;
			for (const td of document.querySelectorAll("#rows tr:not([hidden]) td")) {
				if (getComputedStyle(td).display !== "none" && td.getBoundingClientRect().bottom < innerHeight && td.scrollWidth > td.clientWidth) cells++;
			}
			return out.join(",") + " clipped cells:" + cells + " page overflow:" + (document.documentElement.scrollWidth - innerWidth);
		})()`))
		want := "Symbol,Bid,Ask,Last,Chg,Chg %,Volume clipped cells:0 page overflow:0"
		if sz.phone {
			want = "Symbol,Bid,Ask,Last,Chg:hidden,Chg %,Volume:hidden clipped cells:0 page overflow:0"
		}
		if cols != want {
			t.Errorf("%s: columns %s, want %s", name, cols, want)
		}
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const a = document.querySelector(".attribution a[href*='tradingview.com']"); const r = a && a.getBoundingClientRect(); return !!r && r.width > 0 && r.bottom <= innerHeight && r.right <= innerWidth; })()`)); !ok {
			t.Errorf("%s: the TradingView attribution is not on screen", name)
		}
		vol, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const td = document.querySelector('#rows tr[data-symbol="AAPL"] td:last-child'); return td.textContent + " title " + td.title; })()`))
		t.Logf("%s: columns %s; AAPL volume %s", name, cols, vol)
	}

	// A new user's headless screenshot finishes in seconds.
	exe := chromiumPath(t)
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	shot := filepath.Join(dir, "dashboard-cli-1400x900.png")
	start := time.Now()
	cmd := exec.CommandContext(sctx, exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--user-data-dir="+t.TempDir(), "--screenshot="+shot,
		"--virtual-time-budget=8000", "--window-size=1400,900", "http://"+ts.addr+"/")
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil || took > 30*time.Second {
		t.Errorf("chromium --screenshot --virtual-time-budget=8000: %v after %v\n%s", err, took.Round(time.Millisecond), out)
	}
	t.Logf("chromium --screenshot --virtual-time-budget=8000 --window-size=1400,900 finished in %v: %s", took.Round(time.Millisecond), shot)
}
