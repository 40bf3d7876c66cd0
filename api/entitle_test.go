package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/internal/rawws"
	"github.com/ticker-io/ticker/internal/syncbuf"
	"github.com/ticker-io/ticker/internal/testjwt"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// The synthetic feed's symbols with seed 3 and 20 symbols include AAPL,
// BTC-USD, ETH-USD, NVDA and SOL-USD; the desk token sees BTC-* and ETH-USD.
const entitleFeed = "synthetic:?symbols=20&rate=400&seed=3"

const (
	openTok = "open-tok-0001"
	deskTok = "desk-tok-0002"
)

// entitleServer serves the synthetic feed with a token file of an
// unlimited token and the desk token, and keys for JWTs when k is not nil.
func entitleServer(t *testing.T, k *testjwt.Keys, log *slog.Logger) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte(openTok+"\n"+deskTok+"  BTC-*, ETH-USD  # the crypto desk\n"), 0o600)
	tokens, err := access.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Tokens: tokens}
	if k != nil {
		if cfg.JWTKeys, err = access.LoadJWTKeys(k.File); err != nil {
			t.Fatal(err)
		}
	}
	if log == nil {
		log = quietLog()
	}
	ts := startServerLog(t, cfg, fanout.Config{Window: 10 * time.Millisecond}, true, log, entitleFeed)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := ts.get("/api/quotes/BTC-USD?token=" + openTok); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no BTC-USD quote within 5s")
		}
	}
	return ts
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// dialToken opens a WebSocket with tok as a Bearer token.
func dialToken(t *testing.T, ts *testServer, query, tok string) *client {
	t.Helper()
	ws, resp := dialRaw(t, nil, ts.wsURL(query), bearer(tok))
	if resp.StatusCode != 101 {
		t.Fatalf("dial with a token: %d %s", resp.StatusCode, body(resp))
	}
	return &client{t: t, ws: ws, resp: resp, book: map[string]map[string]string{}}
}

// reply reads until the next message that is not market data.
func (c *client) reply(timeout time.Duration) serverMsg {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for a reply: %v", err)
		}
		if m.Type != "snapshot" && m.Type != "update" {
			return m
		}
	}
}

// symbolsIn returns the symbols a snapshot or update carries.
func symbolsIn(m serverMsg) []string {
	var out []string
	for _, raw := range m.Quotes {
		out = append(out, fastjson.GetString(raw, "s"))
	}
	return out
}

// bookSymbols returns the symbols a client's book holds, sorted.
func bookSymbols(c *client) []string {
	var out []string
	for s := range c.book {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func deskAllows(s string) bool { return strings.HasPrefix(s, "BTC-") || s == "ETH-USD" }

// TestEntitledSubscribe: a subscribe naming symbols outside the token's
// patterns gets one forbidden error listing them (checked before whether
// they exist), the others are subscribed; ?symbols= at connect is held to
// the same; a token listed without patterns sees everything.
func TestEntitledSubscribe(t *testing.T) {
	ts := entitleServer(t, nil, nil)
	desk := dialToken(t, ts, "", deskTok)
	desk.send(`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD","NOPE-1","ETH-USD","NVDA","BTC-USD"]}`)
	m := desk.reply(5 * time.Second)
	if m.Type != "error" || m.Code != protocol.CodeForbidden || string(m.ID) != "1" || !slices.Equal(m.Symbols, []string{"AAPL", "NOPE-1", "NVDA"}) {
		t.Fatalf("first reply %s, want a forbidden error for AAPL, NOPE-1, NVDA", m.Raw)
	}
	if m = desk.reply(5 * time.Second); m.Type != "subscribed" || !slices.Equal(m.Symbols, []string{"BTC-USD", "ETH-USD"}) {
		t.Fatalf("then %s, want subscribed BTC-USD, ETH-USD", m.Raw)
	}
	desk.send(`{"op":"subscribe","id":2,"symbols":["BTC-NOPE"]}`)
	if m = desk.reply(5 * time.Second); m.Type != "error" || m.Code != protocol.CodeUnknownSymbol {
		t.Fatalf("an entitled unknown symbol: %s, want unknown_symbol", m.Raw)
	}
	desk.reply(5 * time.Second) // subscribed []
	desk.send(`{"op":"subscribe","id":3,"symbols":["SOL-USD"]}`)
	if m = desk.reply(5 * time.Second); m.Code != protocol.CodeForbidden || !slices.Equal(m.Symbols, []string{"SOL-USD"}) {
		t.Fatalf("all forbidden: %s", m.Raw)
	}
	if m = desk.reply(5 * time.Second); m.Type != "subscribed" || len(m.Symbols) != 0 {
		t.Fatalf("all forbidden, then %s, want subscribed []", m.Raw)
	}
	for desk.updates < 20 {
		desk.read(5 * time.Second)
	}
	if got := bookSymbols(desk); !slices.Equal(got, []string{"BTC-USD", "ETH-USD"}) {
		t.Errorf("the desk got %v", got)
	}

	// at connect
	q := dialToken(t, ts, "?symbols=AAPL,BTC-USD", deskTok)
	if m = q.reply(5 * time.Second); m.Code != protocol.CodeForbidden || !slices.Equal(m.Symbols, []string{"AAPL"}) {
		t.Fatalf("?symbols=AAPL,BTC-USD: %s, want forbidden AAPL", m.Raw)
	}
	if m = q.reply(5 * time.Second); m.Type != "subscribed" || !slices.Equal(m.Symbols, []string{"BTC-USD"}) {
		t.Fatalf("?symbols=AAPL,BTC-USD: then %s", m.Raw)
	}

	// no patterns: everything, as before
	open := dialToken(t, ts, "", openTok)
	open.send(`{"op":"subscribe","id":1,"symbols":["AAPL","NVDA","BTC-USD"]}`)
	if m = open.reply(5 * time.Second); m.Type != "subscribed" || len(m.Symbols) != 3 {
		t.Fatalf("a token without patterns: %s", m.Raw)
	}
}

// pushQuote feeds one quote into the server's ring, as a feed would.
func pushQuote(t *testing.T, ts *testServer, line string) {
	t.Helper()
	var p fastjson.Parser
	var q market.Quote
	if err := protocol.ParseLine(&p, []byte(line), &q); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.ring.Push(ctx, &q); err != nil {
		t.Fatal(err)
	}
}

// TestEntitledWildcard: "*" under a limited token is every symbol it may
// see: its snapshot and updates hold those only, and a symbol that appears
// later is delivered when it matches and not when it does not, while an
// unlimited "*" gets both.
func TestEntitledWildcard(t *testing.T) {
	ts := entitleServer(t, nil, nil)
	desk := dialToken(t, ts, "", deskTok)
	open := dialToken(t, ts, "", openTok)
	for _, c := range []*client{desk, open} {
		c.send(`{"op":"subscribe","id":"w","symbols":["*"]}`)
		if m := c.reply(5 * time.Second); m.Type != "subscribed" || !slices.Equal(m.Symbols, []string{"*"}) {
			t.Fatalf("subscribe *: %s", m.Raw)
		}
	}
	snap := desk.expect("snapshot", 5*time.Second)
	if got := symbolsIn(snap); !slices.Equal(got, []string{"BTC-USD", "ETH-USD"}) {
		t.Errorf("the desk's * snapshot holds %v, want BTC-USD, ETH-USD", got)
	}
	for desk.updates < 30 {
		desk.read(5 * time.Second)
	}
	if got := bookSymbols(desk); !slices.Equal(got, []string{"BTC-USD", "ETH-USD"}) {
		t.Errorf("the desk's * delivered %v", got)
	}

	// two symbols no feed declared: the one outside the patterns first
	now := time.Now().UnixMicro()
	pushQuote(t, ts, `{"ts":`+itoa64(now)+`,"s":"ZZZ-NEW","bid":"1.5","ask":"1.6"}`)
	pushQuote(t, ts, `{"ts":`+itoa64(now+1)+`,"s":"BTC-NEW","bid":"2.5","ask":"2.6"}`)
	for _, c := range []*client{desk, open} {
		for deadline := time.Now().Add(5 * time.Second); c.book["BTC-NEW"] == nil; {
			if _, err := c.read(time.Until(deadline)); err != nil {
				t.Fatalf("BTC-NEW not delivered: %v", err)
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); open.book["ZZZ-NEW"] == nil; {
		if _, err := open.read(time.Until(deadline)); err != nil {
			t.Fatalf("ZZZ-NEW not delivered to an unlimited *: %v", err)
		}
	}
	for n := desk.updates + 20; desk.updates < n; {
		desk.read(5 * time.Second)
	}
	for s := range desk.book {
		if !deskAllows(s) {
			t.Errorf("the desk's * delivered %s", s)
		}
	}
	if desk.book["BTC-NEW"]["bid"] != "2.5" {
		t.Errorf("BTC-NEW in the desk's book: %v", desk.book["BTC-NEW"])
	}

	// unsubscribing * and subscribing it again: a new snapshot, still filtered
	desk.send(`{"op":"unsubscribe","id":9,"symbols":["*"]}`)
	if m := desk.reply(5 * time.Second); m.Type != "unsubscribed" {
		t.Fatalf("unsubscribe *: %s", m.Raw)
	}
	desk.send(`{"op":"subscribe","id":10,"symbols":["*"]}`)
	desk.reply(5 * time.Second)
	snap = desk.expect("snapshot", 5*time.Second)
	if got := symbolsIn(snap); !slices.Equal(got, []string{"BTC-USD", "ETH-USD", "BTC-NEW"}) {
		t.Errorf("the second * snapshot holds %v", got)
	}
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestEntitledREST: the REST market data answers for the token's symbols
// only; a single symbol outside them is 403, whether or not it exists.
func TestEntitledREST(t *testing.T) {
	ts := entitleServer(t, nil, nil)
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest("GET", ts.url(path), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body(resp)
	}
	code, b := get("/api/symbols", deskTok)
	var syms struct{ Symbols []string }
	json.Unmarshal([]byte(b), &syms)
	if code != 200 || !slices.Equal(syms.Symbols, []string{"BTC-USD", "ETH-USD"}) {
		t.Errorf("/api/symbols for the desk: %d %s", code, b)
	}
	code, b = get("/api/symbols", openTok)
	json.Unmarshal([]byte(b), &syms)
	if code != 200 || len(syms.Symbols) != 20 {
		t.Errorf("/api/symbols for an unlimited token: %d, %d symbols", code, len(syms.Symbols))
	}
	code, b = get("/api/quotes", deskTok)
	var qs struct{ Quotes []json.RawMessage }
	json.Unmarshal([]byte(b), &qs)
	if code != 200 || len(qs.Quotes) == 0 {
		t.Fatalf("/api/quotes for the desk: %d %s", code, b)
	}
	for _, q := range qs.Quotes {
		if s := fastjson.GetString(q, "s"); !deskAllows(s) {
			t.Errorf("/api/quotes gave the desk %s", s)
		}
	}
	for _, tt := range []struct {
		path, tok string
		want      int
	}{
		{"/api/quotes/BTC-USD", deskTok, 200},
		{"/api/quotes/AAPL", deskTok, 403},
		{"/api/quotes/NOPE", deskTok, 403},     // 403 either way: no hint of what exists
		{"/api/quotes/BTC-NOPE", deskTok, 404}, // entitled, but unknown
		{"/api/quotes/AAPL", openTok, 200},
		{"/api/bars/BTC-USD", deskTok, 200},
		{"/api/bars/AAPL?interval=1m", deskTok, 403},
		{"/api/bars/AAPL", openTok, 200},
		{"/api/quotes/AAPL", "wrong", 401},
	} {
		code, b := get(tt.path, tt.tok)
		if code != tt.want {
			t.Errorf("GET %s: %d %s, want %d", tt.path, code, b, tt.want)
		}
		if tt.want == 403 && !strings.Contains(b, `"error":"not entitled to this symbol"`) {
			t.Errorf("GET %s: 403 body %s", tt.path, b)
		}
	}
}

// TestEntitledJWT: HS256 and EdDSA tokens signed by a listed key open /ws
// and /api with the patterns of their "symbols" claim; a bad signature, an
// expired token, one without exp, and alg none get 401 on both.
func TestEntitledJWT(t *testing.T) {
	k := testjwt.New(t, t.TempDir(), false)
	ts := entitleServer(t, k, nil)
	for _, alg := range []string{"HS256", "EdDSA"} {
		tok := k.Sign(t, alg, testjwt.Claims(time.Hour, "BTC-*"), alg == "HS256")
		c := dialToken(t, ts, "", tok)
		c.send(`{"op":"subscribe","id":1,"symbols":["AAPL","BTC-USD"]}`)
		if m := c.reply(5 * time.Second); m.Code != protocol.CodeForbidden || !slices.Equal(m.Symbols, []string{"AAPL"}) {
			t.Fatalf("%s: %s, want forbidden AAPL", alg, m.Raw)
		}
		if m := c.reply(5 * time.Second); m.Type != "subscribed" || !slices.Equal(m.Symbols, []string{"BTC-USD"}) {
			t.Fatalf("%s: then %s", alg, m.Raw)
		}
		c.expect("snapshot", 5*time.Second)
		if code, _ := ts.get("/api/quotes/BTC-USD?token=" + tok); code != 200 {
			t.Errorf("%s: /api/quotes/BTC-USD: %d", alg, code)
		}
		if code, _ := ts.get("/api/quotes/AAPL?token=" + tok); code != 403 {
			t.Errorf("%s: /api/quotes/AAPL: %d", alg, code)
		}
	}

	other := testjwt.New(t, t.TempDir(), false)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, testjwt.Claims(time.Hour, "*")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for _, tt := range []struct {
		name, tok, msg string
	}{
		{"bad signature", other.Sign(t, "EdDSA", testjwt.Claims(time.Hour, "*"), true), "missing or invalid token"},
		{"expired", k.Sign(t, "HS256", testjwt.Claims(-time.Second, "*"), true), "token expired"},
		{"no exp", k.Sign(t, "EdDSA", jwt.MapClaims{"symbols": []string{"*"}}, true), "missing or invalid token"},
		{"alg none", none, "missing or invalid token"},
	} {
		ws, resp := dialRaw(t, nil, ts.wsURL(""), bearer(tt.tok))
		if b := body(resp); ws != nil || resp.StatusCode != 401 || !strings.Contains(b, tt.msg) {
			t.Errorf("%s: /ws %d %s, want 401 %q", tt.name, resp.StatusCode, b, tt.msg)
		}
		if code, b := ts.get("/api/quotes?token=" + tt.tok); code != 401 || !strings.Contains(b, tt.msg) {
			t.Errorf("%s: /api/quotes %d %s, want 401", tt.name, code, b)
		}
	}
	_, m := ts.get("/metrics")
	if got := metric(m, `ticker_handshakes_refused_total{reason="token_expired"}`); got != 2 {
		t.Errorf("refused as expired: %v, want 2 (/ws and /api)", got)
	}
}

// TestTokenExpiryCloses: a connection opened with a JWT is closed at the
// token's exp, not before, with 4001 "token expired", after streaming up to
// then; a fresh token connects again.
func TestTokenExpiryCloses(t *testing.T) {
	k := testjwt.New(t, t.TempDir(), false)
	ts := entitleServer(t, k, nil)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second) // exp is whole seconds
	tok := k.Sign(t, "EdDSA", jwt.MapClaims{"exp": exp.Unix(), "symbols": []string{"*"}}, true)
	c, err := rawws.Dial(ts.addr, rawws.Options{Path: "/ws?symbols=*", Header: []string{"Authorization: Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var lastData time.Time
	for {
		m, err := c.ReadMessage(time.Until(exp.Add(3 * time.Second)))
		if err != nil {
			t.Fatalf("no close by 3s after exp: %v", err)
		}
		if m.Op == rawws.OpText {
			lastData = time.Now()
			continue
		}
		if m.Op != rawws.OpClose {
			continue
		}
		at := time.Now()
		code, reason := rawws.CloseCode(m.Payload)
		if code != protocol.CloseTokenExpired || reason != "token expired" {
			t.Errorf("close %d %q, want %d \"token expired\"", code, reason, protocol.CloseTokenExpired)
		}
		if at.Before(exp) {
			t.Errorf("closed %v before exp", exp.Sub(at))
		}
		if lastData.Before(exp.Add(-500 * time.Millisecond)) {
			t.Errorf("streaming stopped %v before exp", exp.Sub(lastData))
		}
		break
	}
	_, m := ts.get("/metrics")
	if got := metric(m, `ticker_closes_total{code="4001"}`); got != 1 {
		t.Errorf("closes with 4001: %v, want 1", got)
	}
	fresh := dialToken(t, ts, "?symbols=BTC-USD", k.Sign(t, "EdDSA", testjwt.Claims(time.Hour, "*"), true))
	fresh.expect("snapshot", 5*time.Second)
}

// TestTokensNotLogged: refusing a wrong token, an expired or forged JWT,
// and closing a connection whose JWT expired log their reasons, never a
// token or one of its claims (logs captured at debug level).
func TestTokensNotLogged(t *testing.T) {
	var logBuf syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k := testjwt.New(t, t.TempDir(), false)
	ts := entitleServer(t, k, log)
	other := testjwt.New(t, t.TempDir(), false)
	claims := func(d time.Duration) jwt.MapClaims {
		return jwt.MapClaims{"exp": time.Now().Add(d).Unix(), "sub": "claim-sub-83c1f0", "symbols": []string{"CLAIMPAT-*"}}
	}
	secrets := []string{"bogus-token-5f2e91", k.Sign(t, "HS256", claims(-time.Minute), true), other.Sign(t, "EdDSA", claims(time.Hour), true)}
	for _, tok := range secrets {
		if _, resp := dialRaw(t, nil, ts.wsURL("?symbols=*"), bearer(tok)); resp.StatusCode != 401 {
			t.Errorf("/ws: %d, want 401", resp.StatusCode)
		}
		if code, _ := ts.get("/api/quotes/BTC-USD?token=" + tok); code != 401 {
			t.Errorf("/api: %d, want 401", code)
		}
	}
	short := k.Sign(t, "EdDSA", claims(time.Second), true)
	secrets = append(secrets, short)
	ws, resp := dialRaw(t, nil, ts.wsURL("?symbols=CLAIMPAT-X,BTC-USD"), bearer(short))
	if resp.StatusCode != 101 {
		t.Fatalf("a valid short token: %d", resp.StatusCode)
	}
	c := &client{t: t, ws: ws, book: map[string]map[string]string{}}
	if code, _ := c.closeCode(5 * time.Second); code != protocol.CloseTokenExpired {
		t.Errorf("close %d, want 4001", code)
	}
	ts.stop()
	logs := logBuf.String()
	for _, want := range []string{"refused a token", "token expired", "invalid token", "closed a connection: its token expired"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q (is the capture working?):\n%s", want, logs)
		}
	}
	for _, s := range secrets {
		for _, part := range append(strings.Split(s, "."), s) {
			if len(part) >= 8 && strings.Contains(logs, part) {
				t.Errorf("a token (or a part of one) is in the logs: %q\n%s", part, logs)
			}
		}
	}
	for _, claim := range []string{"claim-sub-83c1f0", "CLAIMPAT"} {
		if strings.Contains(logs, claim) {
			t.Errorf("a claim is in the logs: %q\n%s", claim, logs)
		}
	}
}
