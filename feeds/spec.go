package feeds

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Parse builds a Feed from a spec "KIND:TARGET?opt=v&opt=v":
//
//	synthetic                              20 symbols, 200 changes/s, random seed
//	synthetic:?symbols=500&rate=20000&seed=7
//	replay:fixtures/crypto.ndjson?speed=2&loop=true
//	binance:btcusdt,ethusdt?channels=bookTicker,trade
//	coinbase:BTC-USD,ETH-USD=ETH-USD.CB
//
// The venue kinds share the options url (the WebSocket endpoint), silence
// (reconnect after this long without data), maxage (reconnect before a
// connection gets this old), backoff and maxbackoff (reconnect delays), and
// suffix (appended to every derived symbol name).
// An unknown kind or option, or a bad value, is an error naming it.
func Parse(spec string) (Feed, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	target, rawOpts, _ := strings.Cut(rest, "?")
	opts, err := url.ParseQuery(rawOpts)
	if err != nil {
		return nil, fmt.Errorf("feed %q: options: %w", spec, err)
	}
	o := &options{spec: spec, v: opts}
	var f Feed
	switch kind {
	case "synthetic":
		if target != "" {
			return nil, fmt.Errorf("feed %q: synthetic takes no target, only options (synthetic:?symbols=50&rate=1000)", spec)
		}
		f, err = newSyntheticFromOptions(o)
	case "replay":
		if target == "" {
			return nil, fmt.Errorf("feed %q: replay needs a file (replay:PATH)", spec)
		}
		f, err = newReplayFromOptions(target, o)
	case "binance":
		f, err = newBinanceFromOptions(spec, target, o)
	case "coinbase":
		f, err = newCoinbaseFromOptions(spec, target, o)
	case "":
		return nil, fmt.Errorf("feed %q: empty kind (want %s)", spec, kinds)
	default:
		return nil, fmt.Errorf("feed %q: unknown kind %q (want %s)", spec, kind, kinds)
	}
	if err != nil {
		return nil, err
	}
	if err := o.unused(); err != nil {
		return nil, err
	}
	return f, nil
}

const kinds = "synthetic, replay, binance or coinbase"

// options reads typed values out of a spec's query and remembers which were used.
type options struct {
	spec string
	v    url.Values
	used map[string]bool
}

func (o *options) raw(name string) (string, bool) {
	if o.used == nil {
		o.used = map[string]bool{}
	}
	o.used[name] = true
	vs, ok := o.v[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func (o *options) int(name string, def, min, max int64) (int64, error) {
	s, ok := o.raw(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("feed %q: option %s=%q: want an integer from %d to %d", o.spec, name, s, min, max)
	}
	return n, nil
}

func (o *options) float(name string, def, min, max float64) (float64, error) {
	s, ok := o.raw(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < min || n > max || n != n {
		return 0, fmt.Errorf("feed %q: option %s=%q: want a number from %g to %g", o.spec, name, s, min, max)
	}
	return n, nil
}

func (o *options) bool(name string, def bool) (bool, error) {
	s, ok := o.raw(name)
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("feed %q: option %s=%q: want true or false", o.spec, name, s)
	}
	return b, nil
}

func (o *options) duration(name string, def, min, max time.Duration) (time.Duration, error) {
	s, ok := o.raw(name)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < min || d > max {
		return 0, fmt.Errorf("feed %q: option %s=%q: want a duration from %v to %v", o.spec, name, s, min, max)
	}
	return d, nil
}

func (o *options) unused() error {
	for name := range o.v {
		if !o.used[name] {
			return fmt.Errorf("feed %q: unknown option %q", o.spec, name)
		}
	}
	return nil
}
