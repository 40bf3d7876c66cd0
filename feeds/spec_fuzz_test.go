package feeds

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseSpec: any --feed value yields a feed or a one-line error that
// names the spec (contract section 1), never a panic.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"synthetic", "synthetic:?symbols=5&rate=10&seed=3", "synthetic:?rate=NaN",
		"replay:testdata/mixed.ndjson?speed=0&loop=true", "replay:testdata/mixed.ndjson?speed=%zz",
		"binance:btcusdt,ethusdt?channels=bookTicker,trade", "binance:xyz", "binance:btcusdt=BTC-USD",
		"coinbase:BTC-USD,ETH-USD=ETH-USD.CB?maxage=1h&backoff=1s", "coinbase:", "kafka:topic", ":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if target, ok := strings.CutPrefix(spec, "replay:"); ok && !strings.HasPrefix(target, "testdata/") {
			t.Skip("replay reads the file it names: only this package's fixtures")
		}
		feed, err := Parse(spec)
		if (feed == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one of a feed and an error", spec, feed, err)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, fmt.Sprintf("feed %q", spec)) {
			t.Errorf("Parse(%q): error %q does not name the spec first", spec, msg)
		}
		if strings.ContainsAny(msg[len(fmt.Sprintf("feed %q", spec)):], "\n\r") {
			t.Errorf("Parse(%q): error %q is not one line", spec, msg)
		}
	})
}
