package api

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/internal/testnet"
	"github.com/ticker-io/ticker/static"
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

// newBrowser starts a headless Chromium (as root: no sandbox) with a fresh
// profile and a w×h window, and loads url; the first action starts the
// browser and must not carry a timeout.
func newBrowser(t *testing.T, w, h int, url string) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	return ctx
}

// screenshotDir is TICKER_SCREENSHOT_DIR, or the test's temp dir.
func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("TICKER_SCREENSHOT_DIR"); dir != "" {
		os.MkdirAll(dir, 0o755)
		return dir
	}
	return t.TempDir()
}

// pageState is what a failing wait prints of the page.
const pageState = `window.__ticker ? JSON.stringify({s: __ticker.status(), st: __ticker.statusText(), c: __ticker.connects(), r: __ticker.rows(), v: __ticker.visibleRows(), syms: __ticker.symbols().length, w: __ticker.watchlist(), k: __ticker.chartKind(), h: __ticker.historyBars(), p: __ticker.chartLength(), l: __ticker.latency(), panes: __ticker.panes(), width: [innerWidth, document.documentElement.scrollWidth, document.querySelector(".watchlist").scrollWidth, document.querySelector(".watchlist").clientWidth]}) : "no __ticker"`

// waitPage polls cond on the page (with window.__ticker) for up to within.
func waitPage(t *testing.T, ctx context.Context, what, cond string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := time.Until(deadline)
		pctx, cancel := context.WithTimeout(ctx, left+5*time.Second)
		_, err := chromedp.Run(pctx, chromedp.Poll[bool](`!!(window.__ticker && (`+cond+`))`,
			chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && strings.Contains(err.Error(), "context") {
			time.Sleep(100 * time.Millisecond) // the page navigated under the poll
			continue
		}
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pageState))
		t.Fatalf("%s: %v (page: %s)", what, err, state)
	}
}

// TestDashboard loads the dashboard in a real headless Chromium: the
// watchlist fills, the chart opens with the server's history and draws live
// updates; search, the persisted watchlist and chart kind, a phone-sized
// screen, a reconnect after a server restart (the countdown counts), the
// status ("connecting" until the first snapshot), and the token prompt.
// Screenshots go to TICKER_SCREENSHOT_DIR (or the test's temp dir).
func TestDashboard(t *testing.T) {
	chromiumPath(t)
	dir := screenshotDir(t)

	// "connecting" until the first snapshot: a server whose feed has not
	// delivered anything yet accepts the connection and sends no snapshot
	quiet := startServerWith(t, Config{}, fanout.Config{}, false, "synthetic:?symbols=16&rate=400&seed=5")
	ctx := newBrowser(t, 1400, 820, "http://"+quiet.addr+"/")
	waitPage(t, ctx, "connected to a server without quotes", `__ticker.connects() === 1`, 15*time.Second)
	time.Sleep(500 * time.Millisecond)
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`__ticker.status() + " " + __ticker.statusText()`)); st != "connecting connecting…" {
		t.Errorf("before any quote the page says %q, want connecting", st)
	}
	feedCtx, stopFeed := context.WithCancel(context.Background())
	t.Cleanup(stopFeed) // before quiet's own cleanup, which waits for its feeds
	quiet.set.Start(feedCtx, quiet.ring)
	waitPage(t, ctx, "live once quotes flow", `__ticker.status() === "live" && __ticker.rows() === 16`, 15*time.Second)
	stopFeed()
	quiet.stop()

	ts := startServer(t, Config{}, fanout.Config{}, "synthetic:?symbols=16&rate=400&seed=5")
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+ts.addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "dashboard comes alive", `__ticker.status() === "live" && __ticker.rows() >= 16 && __ticker.chartLength() >= 3 && / ms$/.test(__ticker.latency())`, 40*time.Second)
	eval := func(expr string) int {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	// one implementation: the page's live client is the Client of the module
	// served at /ticker.js (a dynamic import of that URL is the same module),
	// which app.js imported, and app.js opens no WebSocket of its own
	single, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import("/ticker.js").then((m) => JSON.stringify({
		same: __ticker.client() instanceof m.Client && __ticker.client().connected,
		module: document.querySelector('script[src="app.js"]').type,
		loaded: performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === "/ticker.js").length,
	}))`, chromedp.EvalAwaitPromise))
	if err != nil || single != `{"same":true,"module":"module","loaded":1}` {
		t.Errorf("the page's client is not ticker.js's: %s %v", single, err)
	}
	if app, err := static.Files.ReadFile("app.js"); err != nil || strings.Contains(string(app), "WebSocket(") {
		t.Errorf("app.js opens a WebSocket of its own (%v): the connection is ticker.js's", err)
	}
	rows, points, updates := eval(`__ticker.rows()`), eval(`__ticker.chartLength()`), eval(`__ticker.updates()`)
	canvases := eval(`document.querySelectorAll("#chart canvas").length`)
	latency, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#latency")))
	firstBid, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#rows tr:first-child td:nth-child(2)")))
	if rows != 16 || points < 3 || updates == 0 || canvases == 0 || firstBid == "" {
		t.Fatalf("rows %d, chart points %d, updates %d, canvases %d, first bid %q", rows, points, updates, canvases, firstBid)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rows %d, chart bars %d, updates %d, latency %s; screenshot %s (%d bytes)", rows, points, updates, latency, path, len(png))

	// The watchlist, search, chart kind and a phone-sized screen.
	waitJS := func(what, cond string) { t.Helper(); waitPage(t, ctx, what, cond, 15*time.Second) }
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
	do("desktop", chromedp.EmulateViewport(1400, 820))

	// The server restarts on the same address: the page counts down to its
	// retry and reconnects by itself.
	addr := ts.addr
	ts.stop()
	waitJS("offline", `__ticker.status() === "down"`)
	// the first retries come fast (backoff); once one waits a second or more,
	// its countdown must go down while it waits
	const offline = "offline · retry in "
	statusText := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`__ticker.statusText()`))
		return s
	}
	secs := func(s string) float64 {
		rest, ok := strings.CutPrefix(s, offline)
		if !ok {
			return -1
		}
		v, err := strconv.ParseFloat(rest[:strings.IndexByte(rest+"s", 's')], 64)
		if err != nil {
			return -1
		}
		return v
	}
	var first, second string
	for end := time.Now().Add(20 * time.Second); first == "" && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		a := statusText()
		if secs(a) < 0.8 {
			continue
		}
		time.Sleep(300 * time.Millisecond)
		if b := statusText(); secs(b) >= 0 && secs(b) < secs(a) {
			first, second = a, b
		}
	}
	if first == "" {
		t.Errorf("the retry countdown does not count: last %q", statusText())
	}
	ln := testnet.Listen(t, addr)
	before := eval(`__ticker.updates()`)
	startServerOn(t, ln, Config{}, fanout.Config{}, true, quietLog(), "synthetic:?symbols=16&rate=400&seed=6")
	waitJS("live again after the restart", `__ticker.status() === "live" && __ticker.connects() === 2 && __ticker.rows() === 16 && __ticker.updates() > `+fmt.Sprint(before+5))
	// a row removed after "Show all" stays removed: the symbols "Show all"
	// added "*" to go too, not only "*"
	js("remove AAPL", `document.querySelector('tr[data-symbol="AAPL"] button.rm').click()`)
	waitJS("AAPL removed", `!__ticker.symbols().includes("AAPL") && __ticker.watchlist().length === 15 && __ticker.rows() === 15`)
	time.Sleep(time.Second)
	if got := eval(`__ticker.symbols().includes("AAPL") || __ticker.client().symbols.includes("AAPL") ? 1 : __ticker.rows()`); got != 15 {
		t.Errorf("AAPL removed after Show all: rows %d (1: AAPL is back), want 15", got)
	}
	t.Logf("search, watchlist (persisted), candles (persisted), phone screen, countdown (%q, then %q), reconnect after a restart and a removal after Show all all hold", first, second)

	// The same page behind --auth-tokens and --allowed-origins: opened from
	// the listed origin with ?token=, it comes alive; without the token it
	// says a token is needed and offers a field for it; from an origin not
	// listed (the same server reached as localhost) the handshake is
	// refused and the page says it is offline.
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
		name, url, want string
	}{
		{"no token", "http://" + secure.addr + "/", `__ticker.status() === "token" && __ticker.connects() === 0 && !document.getElementById("token-prompt").hidden && /needs a token: open \/\?token=/.test(document.getElementById("token-prompt").textContent)`},
		{"wrong token", "http://" + secure.addr + "/?token=nope", `__ticker.status() === "token" && /does not accept that token/.test(document.getElementById("token-prompt").textContent)`},
		{"unlisted origin", "http://localhost:" + port + "/?token=dash-token", `__ticker.status() === "down" && __ticker.connects() === 0 && document.getElementById("token-prompt").hidden`},
		{"listed origin with token", "http://" + secure.addr + "/?token=dash-token", `__ticker.status() === "live" && __ticker.rows() >= 16 && __ticker.historyBars() >= 1`},
	} {
		if _, err := chromedp.Run(ctx, chromedp.Navigate(tt.url)); err != nil {
			t.Fatalf("%s: navigate: %v", tt.name, err)
		}
		waitPage(t, ctx, tt.name, tt.want, 15*time.Second)
		if tt.name == "no token" {
			if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
				os.WriteFile(filepath.Join(dir, "dashboard-token.png"), png, 0o644)
			}
			// the field: typing the token and Enter opens /?token=… and the page goes live
			do("enter the token", chromedp.SendKeys(chromedp.CSS("#token-input"), "dash-token"+kb.Enter))
			waitPage(t, ctx, "live with the token typed in", `__ticker.status() === "live" && __ticker.rows() >= 16 && location.search === "?token=dash-token"`, 15*time.Second)
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
