package tickertest_test

import (
	"fmt"
	"io"
	"net/http"

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
	// 404 {"error":"unknown symbol"}
	// 2025-11-24 16:00:00.05 +0000 UTC 1
	// 200 {"s":"BTC-USD","seq":1,"ts":1764000000000000,"bid":"64000.1","ask":"64000.2"}
}
