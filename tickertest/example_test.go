package tickertest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ticker-io/ticker/client"

	"github.com/ticker-io/ticker/tickertest"
)

// A test publishes quotes, steps one window, and reads what any client
// would: here the REST quote, which changes only at the step.
func Example() {
	srv, err := tickertest.Start(tickertest.Options{Symbols: []string{"BTC-USD"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close() // in a test: tickertest.New(t, …) closes it at the end of t

	get := func() string {
		resp, err := http.Get(srv.HTTPURL() + "/api/quotes/BTC-USD")
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprint(resp.StatusCode, " ", string(b))
	}
	srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.10", Ask: "64000.20"})
	fmt.Println(get()) // published, not yet stepped
	w, _ := srv.Step()
	fmt.Println(w.Time.UTC(), w.Quotes)
	fmt.Println(get())
	// Output:
	// 404 {"error":"no quote yet"}
	// 2025-11-24 16:00:00.05 +0000 UTC 1
	// 200 {"s":"BTC-USD","seq":1,"ts":1764000000000000,"bid":"64000.1","ask":"64000.2"}
}

// A bot on the Go client, as in README's "Testing your bot": wait for its
// subscription, then each Step is one update it receives.
func Example_bot() {
	srv, err := tickertest.Start(tickertest.Options{Symbols: []string{"BTC-USD"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	seqs := make(chan client.Update, 16)
	c := client.New(client.Options{URL: srv.URL(), Symbols: []string{"BTC-USD"},
		OnUpdate: func(u client.Update) { seqs <- u }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if err := srv.WaitSubscriptions(1); err != nil {
		panic(err)
	}
	srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.10", Ask: "64000.20"})
	srv.Step()
	srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Ask: "64001.00"})
	srv.Publish(tickertest.Quote{Symbol: "BTC-USD", Bid: "64000.50"}) // the same window: one update
	srv.Step()
	for range 2 {
		u := <-seqs
		s, _ := u.Quote.Spread()
		fmt.Println(u.Quote.Seq, u.Quote.Bid.Decimal, u.Quote.Ask.Decimal, s, u.Quote.Time.UTC().Format(time.StampMicro))
	}
	// Output:
	// 1 64000.1 64000.2 0.1 Nov 24 16:00:00.000000
	// 2 64000.5 64001 0.5 Nov 24 16:00:00.050000
}
