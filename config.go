package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/cluster"
	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/field"
	"github.com/ticker-io/ticker/market"
)

// config is everything the flags and environment set. Every flag --name can
// also be given as TICKER_NAME (dashes become underscores); a flag wins over
// the environment. The flags of Fanout and API default to
// fanout.DefaultConfig and api.DefaultConfig, and those packages' Validate
// checks them (fanoutFlags, apiFlags name the flags in their errors).
type config struct {
	fromEnv        map[string]bool // flags whose value only the environment set
	Addr           string
	Feeds          []string
	Coalesce       time.Duration // Fanout.Window, which --coalesce sets
	TLSCert        string
	TLSKey         string
	AllowedOrigins string
	AuthTokens     string
	JWTKeys        string
	TrustedProxies string
	RingSize       int
	Fanout         fanout.Config
	API            api.Config
	FeedSet        feeds.Config
	LogFormat      string
	LogLevel       string
	CPUProfile     string
	Role           string
	NATS           string
	NodeID         string
	LeaseTime      time.Duration
	NATSStorage    string
	Storage        jetstream.StorageType // from NATSStorage
	StepControl    bool                  // --step-control: a stepped market for tests (stepcontrol.go)
	StepSymbols    string                // --step-symbols: symbols it declares before their first quote
	CompressBudget time.Duration         // --compress-budget: no effect any more; set, it is warned about

	// Effective is every flag's value after flags and environment, in
	// flag order, secrets redacted: the startup log prints it.
	Effective []any
}

// errHelp reports that --help was given and usage printed.
var errHelp = errors.New("help requested")

// feedList collects repeated --feed flags.
type feedList []string

func (f *feedList) String() string     { return strings.Join(*f, " ") }
func (f *feedList) Set(s string) error { *f = append(*f, s); return nil }

const usageHead = `ticker serves live market data over WebSockets (ticker.v1, at /ws) and as
Server-Sent Events (GET /stream?symbols=…), with REST and a dashboard.

Usage: ticker [flags]
       ticker record --out FILE [flags]   write feeds into a fixture (ticker record --help)
       ticker healthcheck [flags]         exit 0 if the server these flags describe is ready
                                          (ticker healthcheck --help)

Every flag can also be set in the environment as TICKER_<NAME>, e.g.
TICKER_ADDR=:9000 or TICKER_FEED="replay:fixtures/crypto.ndjson replay:fixtures/equities.ndjson"
(several feeds separated by spaces). Flags win over the environment; a
variable that is not a valid value stops the process even then (but what
is checked only when used is then not read: TICKER_FEED's specs, files
such as TICKER_TLS_CERT's, and TICKER_ADDR).

Feed specs (KIND:TARGET?opt=v&opt=v):
  synthetic                                random walk, 20 symbols, 200 changes/s
  synthetic:?symbols=500&rate=20000&seed=7 sized and reproducible
  replay:fixtures/equities.ndjson?speed=2&loop=true
                                           a recorded NDJSON fixture
  binance:btcusdt,ethusdt                  Binance spot, live (internet; symbols become BTC-USDT)
  coinbase:BTC-USD,ETH-USD                 Coinbase Advanced Trade, live (internet)
  (options of every kind: docs/feeds.md)

Testing bots (docs/testing-bots.md): --step-control serves a market that
moves only when a test says so, from a replay feed or from quotes posted
to /control/publish, one window per POST /control/step; loopback only.

Security (docs/security.md): --tls-cert/--tls-key, --allowed-origins,
--auth-tokens, --jwt-keys (SIGHUP rereads tokens, keys and certificate),
--max-conns, --max-conns-per-ip, --trusted-proxies.

Entitlements (docs/entitlements.md): a token-file line is a token followed
by the symbol patterns it may see (BTC-* AAPL; none: everything); a JWT
(HS256, EdDSA or RS256, verified with --jwt-keys) needs "exp" and lists its
patterns in the claim "symbols". Subscribing outside them gets the error
"forbidden"; a connection is closed with 4001 "token expired" at its exp.

Flags:
`

// parseConfig reads args and the environment (through getenv) into a
// validated config. Errors name the flag, or the variable when only that
// set the value. A variable whose value is not valid stops it even when
// a flag overrides the variable: each such variable is checked as if it
// alone set its value, and refused when the error is about it alone (not
// about how it goes with another). What is checked only when used, such
// as a file or the listen address, is not.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	c, overridden, err := parseConfigWith(args, getenv, out, "")
	if err != nil {
		return c, err
	}
	for _, name := range overridden {
		if _, _, err := parseConfigWith(args, getenv, io.Discard, name); err != nil && aboutOnly(err, envName(name)) {
			return c, err
		}
	}
	return c, nil
}

// aboutOnly reports whether err is about variable alone: it names it first
// and no other flag or variable. An error about how it goes with another
// (the TLS pair, --role edge without --nats) is not the variable's value
// being wrong, and the flags given make that combination go away.
func aboutOnly(err error, variable string) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, variable) && !strings.Contains(msg, "--") && strings.Count(msg, "TICKER_") == 1
}

// parseConfigWith is parseConfig, but the variable of flag envWins, if
// set, wins over the flag. It also returns the flags given that override
// a variable set too, in order.
func parseConfigWith(args []string, getenv func(string) string, out io.Writer, envWins string) (_ config, overridden []string, _ error) {
	c := config{Fanout: fanout.DefaultConfig(), API: api.DefaultConfig(), FeedSet: feeds.DefaultConfig()} // the flags' defaults
	var feedsFlag feedList
	fs := flag.NewFlagSet("ticker", flag.ContinueOnError)
	// errors are one line, returned; usage is printed for --help alone
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.Addr, "addr", ":8080", "listen `address` for HTTP, WebSocket and the dashboard")
	fs.Var(&feedsFlag, "feed", "a feed `spec`; repeat for several (default synthetic)")
	fs.DurationVar(&c.Fanout.Window, "coalesce", c.Fanout.Window, "coalescing window, 1ms to 10s")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "certificate `file` for HTTPS/WSS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key `file` for HTTPS/WSS (with --tls-cert)")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated `origins` (scheme://host[:port]) accepted on /ws and /stream; list the dashboard's own (default any)")
	fs.StringVar(&c.AuthTokens, "auth-tokens", "", "`file` of accepted bearer tokens, one a line, each optionally followed by the symbol patterns it may see; reread on SIGHUP (default open)")
	fs.StringVar(&c.JWTKeys, "jwt-keys", "", "`file` of keys that verify JWT bearer tokens: \"hs256 [kid] BASE64SECRET\" lines and PEM Ed25519/RSA public keys; reread on SIGHUP")
	fs.IntVar(&c.API.MaxConns, "max-conns", c.API.MaxConns, "WebSocket connections and event streams in total (0: the open-file limit less 256)")
	fs.IntVar(&c.API.MaxConnsPerIP, "max-conns-per-ip", c.API.MaxConnsPerIP, "WebSocket connections and event streams per client address (0: no limit)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated proxy `addresses` or CIDRs whose X-Forwarded-For names the client")
	fs.IntVar(&c.Fanout.MaxSymbolsPerClient, "max-symbols", c.Fanout.MaxSymbolsPerClient, "symbols one connection may subscribe to, at least 1")
	fs.IntVar(&c.Fanout.QueueBytes, "queue-bytes", c.Fanout.QueueBytes, "per-connection outbound queue limit in bytes, at least 1024")
	fs.DurationVar(&c.Fanout.StuckTimeout, "stuck-timeout", c.Fanout.StuckTimeout, "close a connection whose client takes nothing this long while owed bytes (1008, then reset); at least the coalescing window")
	fs.IntVar(&c.Fanout.DeflateLevel, "deflate-level", c.Fanout.DeflateLevel, "permessage-deflate level of snapshots, 1 (fastest) to 9 (smallest); updates are spliced")
	fs.DurationVar(&c.CompressBudget, "compress-budget", 0, "no effect, kept so that command lines that set it still start (with a warning): updates are spliced from each window's entries (bench/RESULTS.md), so no budget is needed")
	fs.IntVar(&c.Fanout.CompressWorkers, "compress-workers", c.Fanout.CompressWorkers, "goroutines a window's distinct updates are spliced on, 0 to 256 (0: one per core but one, left to the writers, so 1 on 2 cores; 1: the engine's goroutine alone)")
	fs.DurationVar(&c.API.PingInterval, "ping-interval", c.API.PingInterval, "server ping period, at least 10ms and less than --idle-timeout")
	fs.DurationVar(&c.API.IdleTimeout, "idle-timeout", c.API.IdleTimeout, "close a connection that sent nothing (pong included) this long; more than 10ms and more than --ping-interval")
	fs.IntVar(&c.API.MaxMessageBytes, "max-message-bytes", c.API.MaxMessageBytes, "largest client message in bytes (close 1009 above), 64 to 1048576")
	fs.Float64Var(&c.API.RateLimit, "rate-limit", c.API.RateLimit, "client messages per second per connection, more than 0")
	fs.IntVar(&c.API.RateBurst, "rate-burst", c.API.RateBurst, "client message burst per connection, at least 1")
	fs.IntVar(&c.API.SendBufferBytes, "send-buffer-bytes", c.API.SendBufferBytes, "kernel send buffer per connection (0: the OS's autotuning)")
	fs.DurationVar(&c.FeedSet.StaleAfter, "stale-after", c.FeedSet.StaleAfter, "mark a venue feed's symbols stale when it has been down this long, 0 (at once) to 10m")
	fs.IntVar(&c.RingSize, "ring-size", market.DefaultRingCapacity, "feed-to-engine ring capacity in quotes, 2 to 16777216")
	fs.BoolVar(&c.API.Pprof, "pprof", c.API.Pprof, "serve Go profiles at /debug/pprof/ (keep off on an exposed port)")
	fs.StringVar(&c.CPUProfile, "cpu-profile", "", "write a CPU profile to `file` from start to shutdown (go tool pprof)")
	fs.StringVar(&c.Role, "role", "all", "all (one process does everything), ingest (feeds → versioned stream on NATS; one leader, the others standby) or edge (serves clients from the stream)")
	fs.StringVar(&c.NATS, "nats", "", "comma-separated NATS `URLs` of the cluster (for --role ingest and edge)")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's name in the cluster (default host name and pid)")
	fs.DurationVar(&c.LeaseTime, "lease-time", cluster.DefaultLeaseTime, "ingest lease: a standby takes over this long after the leader stops renewing, 300ms to 1m")
	fs.StringVar(&c.NATSStorage, "nats-storage", "file", "JetStream storage of the cluster's buckets: file (they survive a NATS restart) or memory")
	fs.BoolVar(&c.StepControl, "step-control", false, stepControlUsage)
	fs.StringVar(&c.StepSymbols, "step-symbols", "", "with --step-control: comma-separated `symbols` a bot may subscribe to before their first quote is stepped (a fixture's are declared anyway)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")

	// environment first, so that flags given on the command line override it
	var envErr error
	c.fromEnv = map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || envErr != nil {
			return
		}
		c.fromEnv[f.Name] = true
		if f.Name == "feed" {
			for _, spec := range strings.Fields(v) {
				feedsFlag.Set(spec)
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErr = fmt.Errorf("%s=%q: want %s", name, v, want(f.Value, err))
		}
	})
	if envErr != nil {
		return c, nil, envErr
	}
	envFeeds := len(feedsFlag)
	var feedGiven bool
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fmt.Fprint(out, usageHead)
			fs.PrintDefaults()
			return c, nil, errHelp
		}
		return c, nil, err
	}
	if fs.NArg() > 0 {
		return c, nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { // given on the command line
		if !c.fromEnv[f.Name] {
			return
		}
		if f.Name == envWins {
			f.Value.Set(getenv(envName(f.Name))) // it parsed above
			return
		}
		if f.Name != "feed" { // TICKER_FEED's specs are read once the feeds are made
			overridden = append(overridden, f.Name)
		}
		delete(c.fromEnv, f.Name)
	})
	if len(feedsFlag) > envFeeds {
		feedsFlag = feedsFlag[envFeeds:] // --feed on the command line replaces TICKER_FEED
	}
	feedGiven = len(feedsFlag) > 0
	if c.Role == "edge" && feedGiven {
		return c, nil, errors.New("--feed: an edge runs no feeds (they run on --role ingest)")
	}
	c.Feeds = feedsFlag
	if len(c.Feeds) == 0 && c.Role != "edge" && !c.StepControl {
		c.Feeds = []string{"synthetic"}
	}
	c.Coalesce = c.Fanout.Window
	if c.NodeID == "" && c.Role != "all" {
		host, _ := os.Hostname()
		c.NodeID = fmt.Sprintf("%s-%d", host, os.Getpid()) // the default, shown in the startup log
	}
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if f.Name == "feed" {
			v = strings.Join(c.Feeds, " ")
		}
		c.Effective = append(c.Effective, f.Name, redact(v))
	})
	return c, overridden, c.fromVariable(c.validate())
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "TICKER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// origin names where the value of flag name came from: "--name", or its
// environment variable when only that set it.
func (c *config) origin(name string) string {
	if c.fromEnv[name] {
		return envName(name)
	}
	return "--" + name
}

// fromVariable renames the flag an error starts with ("--name …") to the
// environment variable that set it, when only that did.
func (c *config) fromVariable(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	renamed := msg
	for name := range c.fromEnv {
		flag := "--" + name
		switch {
		case strings.HasPrefix(renamed, flag+" "): // "--name value: want …"
			renamed = envName(name) + "=" + renamed[len(flag)+1:]
		case strings.HasPrefix(renamed, flag+":"):
			renamed = envName(name) + renamed[len(flag):]
		}
		renamed = strings.Replace(renamed, " and "+flag+" ", " and "+envName(name)+"=", 1) // a pair's second
	}
	if renamed == msg {
		return err
	}
	return errors.New(renamed)
}

// autoMaxConns sets --max-conns 0 (automatic) to auto(), in the
// configuration and in what the startup log prints of it.
func (c *config) autoMaxConns(auto func() int) {
	if c.API.MaxConns != 0 {
		return
	}
	c.API.MaxConns = auto()
	for i := 0; i+1 < len(c.Effective); i += 2 {
		if c.Effective[i] == "max-conns" {
			c.Effective[i+1] = strconv.Itoa(c.API.MaxConns)
		}
	}
}

// fanoutFlags, apiFlags and feedFlags name the flag that sets each field
// of fanout.Config, api.Config and feeds.Config, for the packages' field
// errors and the defaults test.
var (
	fanoutFlags = map[string]string{
		"Window":              "coalesce",
		"MaxSymbolsPerClient": "max-symbols",
		"QueueBytes":          "queue-bytes",
		"StuckTimeout":        "stuck-timeout",
		"DeflateLevel":        "deflate-level",
		"CompressWorkers":     "compress-workers",
	}
	apiFlags = map[string]string{
		"MaxConns":        "max-conns",
		"MaxConnsPerIP":   "max-conns-per-ip",
		"PingInterval":    "ping-interval",
		"IdleTimeout":     "idle-timeout",
		"MaxMessageBytes": "max-message-bytes",
		"RateLimit":       "rate-limit",
		"RateBurst":       "rate-burst",
		"SendBufferBytes": "send-buffer-bytes",
		"Pprof":           "pprof",
	}
	feedFlags = map[string]string{
		"StaleAfter": "stale-after",
	}
)

// flagError maps a package's *field.Error to the flag that set the field.
func flagError(err error, flags map[string]string) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		name, ok := flags[fe.Field]
		other, otherOK := flags[fe.Other]
		switch {
		case ok && fe.Other == "":
			return fmt.Errorf("--%s %v: want %s", name, fe.Value, fe.Want)
		case ok && otherOK: // two flags that do not go together: both named
			return fmt.Errorf("--%s %v and --%s %v: want %s", name, fe.Value, other, fe.OtherValue, fe.Want)
		}
	}
	return err
}

// validate checks what is main's own (the listener, the ring, the role
// and NATS, the TLS pair, logging) and leaves each package's fields to its
// Validate.
func (c *config) validate() error {
	if err := c.Fanout.Validate(); err != nil {
		return flagError(err, fanoutFlags)
	}
	if c.Addr == "" {
		return errors.New("--addr: empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%s and %s go together", c.origin("tls-cert"), c.origin("tls-key"))
	}
	origins, err := access.ParseOrigins(c.AllowedOrigins)
	if err != nil {
		return fmt.Errorf("--allowed-origins: %v", err)
	}
	c.API.Origins = origins
	if c.API.TrustedProxies, err = access.ParsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %v", err)
	}
	if err := c.API.Validate(); err != nil { // not WithDefaults: the flags start at the defaults, so a 0 is the user's, and refused where it means nothing
		return flagError(err, apiFlags)
	}
	if err := c.FeedSet.Validate(); err != nil {
		return flagError(err, feedFlags)
	}
	if err := market.CheckRingCapacity(c.RingSize); err != nil {
		return flagError(err, map[string]string{"Capacity": "ring-size"})
	}
	switch c.Role {
	case "all":
		if c.NATS != "" {
			return errors.New("--nats: only with --role ingest or edge")
		}
	case "ingest", "edge":
		if c.NATS == "" {
			return fmt.Errorf("--role %s needs --nats URL[,URL…]", c.Role)
		}
		if err := checkNATSURLs(c.NATS); err != nil {
			return fmt.Errorf("--nats %s: %v", redact(c.NATS), err)
		}
	default:
		return fmt.Errorf("--role %q: want all, ingest or edge", c.Role)
	}
	if err := c.validateStepControl(); err != nil {
		return err
	}
	if c.Storage, err = cluster.ParseStorage(c.NATSStorage); err != nil {
		return fmt.Errorf("--nats-storage %v", err)
	}
	if err := cluster.CheckLeaseTime(c.LeaseTime); err != nil {
		return flagError(err, map[string]string{"LeaseTime": "lease-time"})
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// redact hides the secrets a flag's value may hold: passwords and tokens
// in URLs (--nats nats://user:password@host, a feed's url=…).
func redact(v string) string {
	if !strings.Contains(v, "@") {
		return v
	}
	var out []string
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if u, err := url.Parse(part); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "REDACTED")
			} else {
				u.User = url.User("REDACTED")
			}
			part = u.String()
		}
		out = append(out, part)
	}
	return strings.Join(out, ",")
}

// parseFlags is fs.Parse with a bad value's error naming the flag, the
// value and what the flag wants.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var setErr error
	var orig []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		orig = append(orig, f)
		f.Value = checkedValue{Value: f.Value, name: f.Name, err: &setErr}
	})
	err := fs.Parse(args)
	for _, f := range orig {
		f.Value = f.Value.(checkedValue).Value // PrintDefaults tells the types apart
	}
	if err != nil && setErr != nil {
		return setErr
	}
	return err
}

// checkedValue records the error of its Value's Set, which flag reports
// only as text.
type checkedValue struct {
	flag.Value
	name string
	err  *error
}

func (v checkedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil {
		*v.err = fmt.Errorf("--%s %q: want %s", v.name, s, want(v.Value, err))
	}
	return err
}

func (v checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// want says what a flag of v's type takes, for the error of a value it
// could not parse.
func want(v flag.Value, err error) string {
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return "a duration such as 50ms, 2s or 1m"
		case int:
			return "a whole number"
		case float64:
			return "a number"
		case bool:
			return "true or false"
		}
	}
	return err.Error()
}

// checkNATSURLs refuses a --nats value the NATS client could never dial:
// each comma-separated URL is nats://, tls://, ws:// or wss:// (a bare
// host:port means nats://) with a host and, if given, a port number. An
// address that is well formed but does not answer is retried instead.
func checkNATSURLs(list string) error {
	urls := strings.Split(list, ",")
	for _, s := range urls {
		err := checkNATSURL(strings.TrimSpace(s))
		if err != nil && len(urls) > 1 {
			return fmt.Errorf("%s: %v", redact(s), err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkNATSURL(s string) error {
	raw := s
	if !strings.Contains(raw, "://") {
		raw = "nats://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("want nats://host:port (comma-separated for several)")
	}
	host := u.Host
	if strings.HasPrefix(host, "[") { // an IPv6 address
		host = host[strings.LastIndexByte(host, ']')+1:]
	}
	switch {
	case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("scheme %q: want nats, tls, ws or wss", u.Scheme)
	case u.Hostname() == "":
		return errors.New("no host: want nats://host:port")
	case strings.Count(host, ":") > 1 || strings.HasSuffix(host, ":"):
		return fmt.Errorf("address %q: want host:port", u.Host)
	case u.Port() != "":
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("port %q: want 1 to 65535", u.Port())
		}
	}
	return nil
}
