package api

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticker-io/ticker/internal/testjwt"
	"github.com/ticker-io/ticker/protocol"
)

// TestStreamEntitled: /stream takes the same tokens as /ws and holds its
// subscription to the token's grant: a limited token's forbidden symbols
// get one error event listing them, its "*" carries only what it may see,
// and a wrong token gets 401 before anything streams.
func TestStreamEntitled(t *testing.T) {
	ts := entitleServer(t, nil, nil)

	if s := openStream(t, ts.addr, "/stream?symbols=BTC-USD&token=wrong"); s.resp.StatusCode != 401 {
		t.Fatalf("a wrong token: status %d, want 401", s.resp.StatusCode)
	}

	s := openStream(t, ts.addr, "/stream?symbols=AAPL,BTC-USD,ETH-USD", "Authorization: Bearer "+deskTok)
	if s.resp.StatusCode != 200 {
		t.Fatalf("the desk token: status %d", s.resp.StatusCode)
	}
	e, _ := s.expect("error", 5*time.Second)
	if e.Code != protocol.CodeForbidden || !slices.Equal(e.Symbols, []string{"AAPL"}) {
		t.Fatalf("error %s, want forbidden for AAPL", e.Raw)
	}
	ack, _ := s.expect("subscribed", 5*time.Second)
	if !slices.Equal(ack.Symbols, []string{"BTC-USD", "ETH-USD"}) {
		t.Fatalf("ack %s, want BTC-USD and ETH-USD", ack.Raw)
	}
	snap, _ := s.expect("snapshot", 5*time.Second)
	for _, sym := range symbolsIn(snap) {
		if !deskAllows(sym) {
			t.Fatalf("snapshot holds %s, which the desk token may not see: %s", sym, snap.Raw)
		}
	}

	all := openStream(t, ts.addr, "/stream?symbols=*&token="+deskTok)
	all.expect("subscribed", 5*time.Second)
	for seen := 0; seen < 20; seen++ {
		m, _, err := all.message(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, sym := range symbolsIn(m) {
			if !deskAllows(sym) {
				t.Fatalf("the desk's * carried %s: %s", sym, m.Raw)
			}
		}
	}
}

// TestStreamTokenExpiry: a stream opened with a JWT ends at the token's
// exp, not before, with the close comment naming 4001 "token expired".
func TestStreamTokenExpiry(t *testing.T) {
	k := testjwt.New(t, t.TempDir(), false)
	ts := entitleServer(t, k, nil)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	tok := k.Sign(t, "EdDSA", jwt.MapClaims{"exp": exp.Unix(), "symbols": []string{"*"}}, true)
	s := openStream(t, ts.addr, "/stream?symbols=BTC-USD", "Authorization: Bearer "+tok)
	if s.resp.StatusCode != 200 {
		t.Fatalf("status %d", s.resp.StatusCode)
	}
	for {
		ev, err := s.next(time.Until(exp.Add(3 * time.Second)))
		if err != nil {
			t.Fatalf("the stream did not end by 3s after exp with a close comment: %v", err)
		}
		if i := slices.IndexFunc(ev.Comments, func(c string) bool { return strings.HasPrefix(c, " closed") || strings.HasPrefix(c, "closed") }); i >= 0 {
			if at := time.Now(); at.Before(exp) {
				t.Errorf("ended %v before exp", exp.Sub(at))
			}
			if !strings.Contains(ev.Comments[i], "4001") || !strings.Contains(ev.Comments[i], "token expired") {
				t.Errorf("close comment %q, want 4001 token expired", ev.Comments[i])
			}
			return
		}
	}
}
