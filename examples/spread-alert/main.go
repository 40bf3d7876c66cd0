// Command spread-alert is an example trading bot on ticker's Go client: it
// follows a few symbols and prints a line whenever a symbol's bid-ask
// spread widens past a threshold (in basis points of the mid price), and
// when it narrows again.
//
//	go run . &                                        # the server, in the repository root
//	go run ./examples/spread-alert --symbols AAPL,NVDA,SOL-USD --bps 1
//
// The defaults suit the synthetic feed: its AAPL, NVDA and SOL-USD spreads
// move between one and three ticks, about 0.6 to 2 bps of their prices, so
// each of them crosses 1 bp both ways. (BTC-USD's cent ticks are under
// 0.01 bp of its price and EUR-USD's tenth-pips under 0.3 bp: at 1 bp they
// never alert.)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/shopspring/decimal"

	"github.com/ticker-io/ticker/client"
)

func main() {
	url := flag.String("url", "ws://localhost:8080/ws", "the ticker server's WebSocket endpoint")
	token := flag.String("token", os.Getenv("TICKER_TOKEN"), "bearer token, if the server wants one (or TICKER_TOKEN)")
	symbols := flag.String("symbols", "AAPL,NVDA,SOL-USD", "comma-separated symbols, or *")
	bps := flag.Float64("bps", 1, "alert when the spread is wider than this many basis points of the mid price")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: spread-alert [flags]\n\nPrints a line when a symbol's bid-ask spread widens past --bps basis points of\nthe mid, and when it narrows again. Each line starts with the quote's own time\n(its ts), not the time it printed.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *bps <= 0 {
		fmt.Fprintln(os.Stderr, "spread-alert: --bps must be positive")
		os.Exit(2)
	}
	threshold := decimal.NewFromFloat(*bps).Div(decimal.NewFromInt(10000))
	wide := map[string]bool{}
	c := client.New(client.Options{
		URL: *url, Token: *token, Symbols: strings.Split(*symbols, ","),
		OnUpdate: func(u client.Update) {
			q := u.Quote
			spread, ok := q.Spread()
			if !ok {
				return
			}
			mid := q.Bid.Decimal.Add(q.Ask.Decimal).Div(decimal.NewFromInt(2))
			if !mid.IsPositive() {
				return
			}
			rel := spread.Div(mid)
			isWide := rel.GreaterThan(threshold)
			if isWide != wide[q.Symbol] {
				wide[q.Symbol] = isWide
				state := "narrow again"
				if isWide {
					state = "WIDE"
				}
				fmt.Printf("%s %-8s spread %s (%s bps) bid %s ask %s seq %d: %s\n", q.Time.Format("15:04:05.000"), q.Symbol,
					spread, rel.Mul(decimal.NewFromInt(10000)).StringFixed(2), q.Bid.Decimal, q.Ask.Decimal, q.Seq, state)
			}
		},
		OnStatus: func(s client.Status) {
			switch s.Kind {
			case client.Connected:
				fmt.Fprintln(os.Stderr, "connected to", *url)
			case client.Disconnected:
				fmt.Fprintf(os.Stderr, "disconnected (%v); retrying in %v\n", s.Err, s.Wait.Round(1e6))
			case client.Resyncing:
				fmt.Fprintln(os.Stderr, "seq gap; resyncing", s.Symbols)
			}
		},
		OnError: func(e client.ServerError) { fmt.Fprintln(os.Stderr, "server:", e) },
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := c.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "spread-alert:", err)
		os.Exit(1)
	}
}
