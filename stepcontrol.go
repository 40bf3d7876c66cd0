package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/stepper"
	"github.com/ticker-io/ticker/market"
)

// --step-control runs ticker as the test server of bots written in any
// language (tickertest is the same for Go): the engine flushes a window
// only when a test posts /control/step, and quotes come from a replay
// feed stepped by the same clock, or from /control/publish. The control
// endpoint answers loopback clients only, and the flag needs --addr on a
// loopback address: it is a test aid, never to be exposed.

const stepControlUsage = "a test aid, never to expose: serve a market that moves only when stepped (POST /control/step), " +
	"fed by one replay --feed stepped on the same clock or by POST /control/publish (NDJSON fixture lines); " +
	"needs a loopback --addr (127.0.0.1:PORT); docs/testing-bots.md"

// validateStepControl checks what --step-control needs: one node on its
// own, a loopback address, and at most one feed, a replay.
func (c *config) validateStepControl() error {
	if !c.StepControl {
		if c.StepSymbols != "" {
			return errors.New("--step-symbols: only with --step-control")
		}
		return nil
	}
	if c.Role != "all" {
		return fmt.Errorf("--step-control: only with --role all, not %s", c.Role)
	}
	for _, sym := range stepSymbols(c.StepSymbols) {
		if err := market.ValidateSymbol(sym); err != nil {
			return fmt.Errorf("--step-symbols: %v", err)
		}
	}
	if !loopbackAddr(c.Addr) {
		return fmt.Errorf("--step-control: --addr %s is not a loopback address; give one such as 127.0.0.1:8080 (the control endpoint must not be exposed)", c.Addr)
	}
	switch {
	case len(c.Feeds) > 1:
		return errors.New("--step-control: at most one --feed, a replay")
	case len(c.Feeds) == 1 && !strings.HasPrefix(c.Feeds[0], "replay:"):
		return fmt.Errorf("--step-control: --feed %s: only a replay feed is stepped (the others keep their own time)", c.Feeds[0])
	}
	return nil
}

// loopbackAddr reports whether addr listens on a loopback address only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newStepMode builds the stepper of --step-control on ring, from the
// replay feed in fl if there is one, and sets the engine's clock and epoch
// to it. The Set it returns runs no feed: the stepper publishes.
func newStepMode(cfg *config, fl []feeds.Feed, ring *market.Ring, log *slog.Logger) (*stepper.Stepper, *feeds.Set, error) {
	sc := stepper.Config{Window: cfg.Fanout.Window, Symbols: stepSymbols(cfg.StepSymbols), Log: log}
	if len(fl) == 1 {
		r, ok := fl[0].(*feeds.Replay)
		if !ok {
			return nil, nil, fmt.Errorf("--step-control: --feed %s is not a replay", fl[0].Name())
		}
		sc.Fixture = r.Path()
	}
	st, err := stepper.New(sc, ring)
	if err != nil {
		return nil, nil, fmt.Errorf("--step-control: %v", err)
	}
	set, err := feeds.NewSet(log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	cfg.Fanout.Clock = st.Clock()
	cfg.Fanout.Epoch = st.Epoch()
	log.Warn("--step-control: the market moves only by POST /control/step; a test aid, never to expose",
		"fixture", sc.Fixture, "start", st.Now().UTC(), "window", sc.Window)
	return st, set, nil
}

// stepSymbols splits --step-symbols: comma-separated, spaces and empty
// items ignored.
func stepSymbols(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
