package fanout

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/protocol"
)

// prefixOnly restricts a client to the symbols with its prefix.
type prefixOnly string

func (p prefixOnly) Allows(s string) bool { return strings.HasPrefix(s, string(p)) }
func (p prefixOnly) Key() string          { return string(p) + "*" }

func quoteSyms(m msg) []string {
	var out []string
	for _, q := range m.Quotes {
		var qj quoteJSON
		json.Unmarshal(q, &qj)
		out = append(out, qj.S)
	}
	return out
}

// TestRestrictedWildcard: a restricted client's subscribe refuses the
// symbols its filter rejects (forbidden, before unknown_symbol), and its "*"
// carries only allowed symbols: in the subscribe snapshot, in updates (a
// symbol that appears later included) and in a resync snapshot.
func TestRestrictedWildcard(t *testing.T) {
	e := newTestEngine(t, Config{StuckTimeout: time.Hour}, "A1", "A2", "B1")
	c := NewClient(false, 1<<20)
	c.Restrict(prefixOnly("A"))
	e.handle(command{kind: cmdRegister, c: c})
	cb := NewClient(false, 1<<20) // another restriction, filtered apart in the same windows
	cb.Restrict(prefixOnly("B"))
	e.handle(command{kind: cmdRegister, c: cb})
	for _, s := range []string{"A1", "A2", "B1"} {
		push(t, e, s, 1, "bid", "1")
	}
	window(e)

	subscribe(e, c, "1", "B1", "A1", "NOPE", "A-NOPE")
	msgs, _, _ := take(t, c)
	if len(msgs) != 4 || msgs[0].Code != protocol.CodeForbidden || !slices.Equal(msgs[0].Symbols, []string{"B1", "NOPE"}) ||
		msgs[1].Code != protocol.CodeUnknownSymbol || !slices.Equal(msgs[1].Symbols, []string{"A-NOPE"}) ||
		msgs[2].Type != "subscribed" || !slices.Equal(msgs[2].Symbols, []string{"A1"}) || msgs[3].Type != "snapshot" {
		t.Fatalf("subscribe: %+v", msgs)
	}
	subscribe(e, cb, "", "*")
	take(t, cb)
	subscribe(e, c, "2", "*")
	msgs, _, _ = take(t, c)
	if len(msgs) != 2 || msgs[0].Type != "subscribed" || !slices.Equal(quoteSyms(msgs[1]), []string{"A2"}) {
		t.Fatalf("subscribe *: %+v", msgs)
	}

	for w := 0; w < 3; w++ {
		for _, s := range []string{"A1", "B1", "B9", "A9"} { // B9, A9: not declared, appear now
			push(t, e, s, int64(2+w), "bid", fmt.Sprint(2+w))
		}
		window(e)
		msgs, _, _ = take(t, c)
		if len(msgs) != 1 || msgs[0].Type != "update" || !slices.Equal(quoteSyms(msgs[0]), []string{"A1", "A9"}) {
			t.Fatalf("window %d: %+v", w, msgs)
		}
		msgs, _, _ = take(t, cb)
		if len(msgs) != 1 || !slices.Equal(quoteSyms(msgs[0]), []string{"B1", "B9"}) {
			t.Fatalf("window %d, the B client: %+v", w, msgs)
		}
	}

	// overflow: the resync snapshot holds the allowed symbols only
	c.maxBytes = 64
	for w := 0; w < 4; w++ {
		push(t, e, "A1", int64(10+w), "bid", fmt.Sprint(10+w), "volume", "123456789.123456789")
		push(t, e, "B1", int64(10+w), "bid", fmt.Sprint(10+w))
		window(e)
	}
	if !c.resync {
		t.Fatal("no overflow")
	}
	take(t, c)
	c.maxBytes = 1 << 20
	push(t, e, "B1", 20, "bid", "11")
	window(e)
	msgs, _, _ = take(t, c)
	if len(msgs) != 1 || msgs[0].Reason != "resync" || !slices.Equal(quoteSyms(msgs[0]), []string{"A1", "A2", "A9"}) {
		t.Fatalf("resync: %+v", msgs)
	}

	// an unrestricted "*" gets everything
	open := register(e, false, 1<<20)
	subscribe(e, open, "", "*")
	msgs, _, _ = take(t, open)
	if got := quoteSyms(msgs[1]); !slices.Equal(got, []string{"A1", "A2", "B1", "B9", "A9"}) {
		t.Fatalf("unrestricted * snapshot: %v", got)
	}
}

// TestRestrictedWildcardConflated: a restricted "*" on a conflated cadence
// gets, at each tick, only the symbols its filter allows (two
// restrictions on one cadence, filtered apart), and no update at a tick
// that changed none of them.
func TestRestrictedWildcardConflated(t *testing.T) {
	e := newTestEngine(t, Config{Window: 50 * time.Millisecond, StuckTimeout: time.Hour}, "A1", "A2", "B1")
	ca, cb := NewClient(false, 1<<20), NewClient(false, 1<<20)
	ca.Restrict(prefixOnly("A"))
	cb.Restrict(prefixOnly("B"))
	for _, c := range []*Client{ca, cb} {
		e.handle(command{kind: cmdRegister, c: c})
		subscribeEvery(e, c, 200*time.Millisecond, "*")
		take(t, c)
	}
	for w := 1; w <= 8; w++ {
		push(t, e, "A1", int64(w), "bid", fmt.Sprint(w))
		if w <= 4 {
			push(t, e, "B1", int64(w), "bid", fmt.Sprint(w))
		}
		window(e)
		for _, tc := range []struct {
			c    *Client
			want []string
		}{{ca, []string{"A1"}}, {cb, []string{"B1"}}} {
			msgs, _, _ := take(t, tc.c)
			var got []string
			for _, m := range msgs {
				got = append(got, quoteSyms(m)...)
			}
			switch {
			case w%4 != 0 && len(msgs) != 0:
				t.Fatalf("window %d, between ticks: %+v", w, msgs)
			case w == 8 && tc.c == cb && len(msgs) != 0:
				t.Fatalf("window 8: B1 did not change since the last tick, yet %+v", msgs)
			case w%4 == 0 && !(w == 8 && tc.c == cb) && !slices.Equal(got, tc.want):
				t.Fatalf("window %d, tick: symbols %v, want %v", w, got, tc.want)
			}
		}
	}
}
