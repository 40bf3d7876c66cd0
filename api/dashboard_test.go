package api

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"ticker/access"
	"ticker/fanout"
	"ticker/internal/testnet"
)

// chromiumPath finds Debian's chromium. In CI (CI=true) a missing browser
// fails the test: .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TICKER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium not found: install Debian's chromium (apt-get install -y chromium) to run the dashboard test")
	return ""
}

// TestDashboard loads the dashboard in a real headless Chromium and waits
// for the watchlist to fill and the chart to draw live updates, then saves a
// screenshot (in the test's temp dir, or TICKER_SCREENSHOT_DIR if set).
func TestDashboard(t *testing.T) {
	exe := chromiumPath(t)
	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=16&rate=400&seed=5")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 820),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// the first action starts the browser and must not carry a timeout
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+ts.addr+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	wctx, cancelWait := context.WithTimeout(ctx, 45*time.Second)
	defer cancelWait()
	_, err := chromedp.Run(wctx, chromedp.Poll[bool](
		`!!(window.__ticker && __ticker.status() === "live" && __ticker.rows() >= 16 && __ticker.chartLength() >= 3 && / ms$/.test(__ticker.latency()))`,
		chromedp.WithPollingTimeout(40*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
			`window.__ticker ? JSON.stringify({s: __ticker.status(), r: __ticker.rows(), p: __ticker.chartLength(), l: __ticker.latency()}) : "no __ticker"`))
		t.Fatalf("dashboard did not come alive: %v (state %s)", err, state)
	}
	eval := func(expr string) int {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	rows, points, updates := eval(`__ticker.rows()`), eval(`__ticker.chartLength()`), eval(`__ticker.updates()`)
	canvases := eval(`document.querySelectorAll("#chart canvas").length`)
	latency, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#latency")))
	firstBid, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#rows tr:first-child td:nth-child(2)")))
	if rows != 16 || points < 3 || updates == 0 || canvases == 0 || firstBid == "" {
		t.Fatalf("rows %d, chart points %d, updates %d, canvases %d, first bid %q", rows, points, updates, canvases, firstBid)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("TICKER_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rows %d, chart points %d, updates %d, latency %s; screenshot %s (%d bytes)", rows, points, updates, latency, path, len(png))

	// The watchlist, search, chart kind and a phone-sized screen.
	waitJS := func(what, cond string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`!!(window.__ticker && (`+cond+`))`,
			chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__ticker ? JSON.stringify({s: __ticker.status(), c: __ticker.connects(), r: __ticker.rows(), v: __ticker.visibleRows(), syms: __ticker.symbols().length, w: __ticker.watchlist(), k: __ticker.chartKind(), width: [innerWidth, document.documentElement.scrollWidth, document.querySelector(".watchlist").scrollWidth, document.querySelector(".watchlist").clientWidth]}) : "none"`))
			t.Fatalf("%s: %v (page: %s)", what, err, state)
		}
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	js := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("search", chromedp.SendKeys(chromedp.CSS("#search"), "aap"))
	waitJS("search filters the rows", `__ticker.visibleRows() === 1`)
	js("clear the search", `(() => { const s = document.getElementById("search"); s.value = ""; s.dispatchEvent(new Event("input")); })()`)
	waitJS("every row again", `__ticker.visibleRows() === 16`)
	js("remove MSFT", `document.querySelector('tr[data-symbol="MSFT"] button.rm').click()`)
	waitJS("MSFT removed", `!__ticker.symbols().includes("MSFT") && __ticker.watchlist().length === 15`)
	do("reload", chromedp.Reload())
	waitJS("the watchlist survives a reload", `__ticker.status() === "live" && __ticker.rows() === 15 && !__ticker.symbols().includes("MSFT")`)
	do("add MSFT", chromedp.SendKeys(chromedp.CSS("#search"), "MSFT"+kb.Enter))
	waitJS("MSFT back, quoted", `__ticker.symbols().includes("MSFT") && __ticker.rows() === 16 && __ticker.selected() === "MSFT"`)
	do("candles", chromedp.Click(chromedp.CSS("#chart-kind")))
	waitJS("candles", `__ticker.chartKind() === "candles"`)
	do("reload", chromedp.Reload())
	waitJS("the chart kind survives a reload", `__ticker.status() === "live" && __ticker.chartKind() === "candles" && __ticker.chartLength() >= 2`)
	do("show all", chromedp.Click(chromedp.CSS("#show-all")))
	waitJS("every symbol watched", `__ticker.watchlist() === null && __ticker.rows() === 16`)
	do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitJS("fits a phone", `document.documentElement.scrollWidth <= window.innerWidth && document.querySelector(".watchlist").scrollWidth <= document.querySelector(".watchlist").clientWidth && document.querySelector("#rows tr").getBoundingClientRect().height > 0 && document.getElementById("chart").getBoundingClientRect().height > 100`)
	phone, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		os.WriteFile(filepath.Join(dir, "dashboard-phone.png"), phone, 0o644)
	}
	do("desktop", chromedp.EmulateViewport(1400, 820))

	// The server restarts on the same address: the page reconnects by itself.
	addr := ts.addr
	ts.stop()
	waitJS("offline", `__ticker.status() === "down"`)
	ln := testnet.Listen(t, addr)
	before := eval(`__ticker.updates()`)
	startServerOn(t, ln, Config{}, fanout.Config{}, true, quietLog(), "synthetic:?symbols=16&rate=400&seed=6")
	waitJS("live again after the restart", `__ticker.status() === "live" && __ticker.connects() === 2 && __ticker.rows() === 16 && __ticker.updates() > `+fmt.Sprint(before+5))
	t.Logf("search, watchlist (persisted), candles (persisted), phone screen (%s) and reconnect after a restart all hold", filepath.Join(dir, "dashboard-phone.png"))

	// The same page behind --auth-tokens and --allowed-origins: opened from
	// the listed origin with ?token=, it comes alive; without the token, or
	// from an origin not listed (the same server reached as localhost), the
	// handshake is refused and the page says it is offline.
	ln = testnet.Listen(t, "127.0.0.1:0")
	origins, err := access.ParseOrigins("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokPath, []byte("dash-token\n"), 0o600)
	tokens, err := access.LoadTokens(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	secure := startServerOn(t, ln, Config{Origins: origins, Tokens: tokens}, fanout.Config{}, true, quietLog(), "synthetic:?symbols=16&rate=400&seed=5")
	_, port, _ := net.SplitHostPort(secure.addr)
	for _, tt := range []struct {
		name, url string
		live      bool
	}{
		{"no token", "http://" + secure.addr + "/", false},
		{"unlisted origin", "http://localhost:" + port + "/?token=dash-token", false},
		{"listed origin with token", "http://" + secure.addr + "/?token=dash-token", true},
	} {
		want := `__ticker.status() === "down" && __ticker.connects() === 0`
		if tt.live {
			want = `__ticker.status() === "live" && __ticker.rows() >= 16`
		}
		if _, err := chromedp.Run(ctx, chromedp.Navigate(tt.url)); err != nil {
			t.Fatalf("%s: navigate: %v", tt.name, err)
		}
		pctx, cancelPoll := context.WithTimeout(ctx, 20*time.Second)
		_, err := chromedp.Run(pctx, chromedp.Poll[bool](`!!(window.__ticker && `+want+`)`,
			chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
		cancelPoll()
		if err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__ticker ? __ticker.status() + " " + __ticker.connects() : "none"`))
			t.Errorf("%s: want %s, page is %s", tt.name, want, state)
		}
	}
	_, m := secure.get("/metrics")
	if metric(m, `ticker_handshakes_refused_total{reason="origin"}`) < 1 || metric(m, `ticker_handshakes_refused_total{reason="token"}`) < 1 {
		t.Errorf("the browser's refused handshakes are not counted:\n%s", m)
	}
}

// TestDashboardNewEpoch: the server restarts on its address as a new
// stream (another epoch, every seq from 1 again, fewer symbols). The
// dashboard reconnects, sees the new epoch in its first snapshot, drops
// every quote it held (a symbol the new stream lacks shows no quote), and
// fills again from the new stream.
func TestDashboardNewEpoch(t *testing.T) {
	exe := chromiumPath(t)
	first := startServer(t, Config{}, fanout.Config{Epoch: 1000}, "synthetic:?symbols=8&rate=400&seed=5")
	addr := first.addr
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	state := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
			`window.__ticker ? JSON.stringify({status: __ticker.status(), rows: __ticker.rows(), epoch: __ticker.epoch(), epochs: __ticker.epochs(), connects: __ticker.connects()}) : "no __ticker"`))
		return s
	}
	poll := func(what, expr string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			t.Fatalf("%s: %v (state %s)", what, err, state())
		}
	}
	poll("the first stream", `!!(window.__ticker && __ticker.rows() >= 8 && __ticker.epoch() === 1000)`)
	first.stop()
	second := startServerOn(t, testnet.Listen(t, addr), Config{}, fanout.Config{Epoch: 2000}, true, quietLog(), "synthetic:?symbols=5&rate=400&seed=6")
	poll("the new stream", `__ticker.connects() === 2 && __ticker.epoch() === 2000 && __ticker.epochs() === 1 && __ticker.rows() === 5`)
	t.Logf("after the restart as a new epoch: %s (the new stream has %d symbols)", state(), len(second.engine.Symbols()))
}
