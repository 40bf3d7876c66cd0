// Command ticker serves live market data over WebSockets: feeds → fanout
// engine → WebSocket/REST clients and the embedded dashboard. main only wires
// the packages together; see README.md for usage.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ticker-io/ticker/access"
	"github.com/ticker-io/ticker/api"
	"github.com/ticker-io/ticker/cluster"
	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/assemble"
	"github.com/ticker-io/ticker/internal/stepper"
	"github.com/ticker-io/ticker/market"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:], os.Getenv, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "record" {
		os.Exit(recordMain(os.Args[2:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run starts the service and blocks until SIGINT/SIGTERM; it returns the
// process exit code: 0 after a clean shutdown, 2 for bad configuration, 1 for
// a failure at run time.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)

	var cert *certFiles
	if cfg.TLSCert != "" {
		if cert, err = loadCert(cfg.TLSCert, cfg.TLSKey); err != nil {
			fmt.Fprintf(stderr, "ticker: %s/%s: %v\n", cfg.origin("tls-cert"), cfg.origin("tls-key"), err)
			return 2
		}
		cfg.API.TLS = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cert.get}
	}
	if cfg.AuthTokens != "" {
		if cfg.API.Tokens, err = access.LoadTokens(cfg.AuthTokens); err != nil {
			fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("auth-tokens"), err)
			return 2
		}
	}
	if cfg.JWTKeys != "" {
		if cfg.API.JWTKeys, err = access.LoadJWTKeys(cfg.JWTKeys); err != nil {
			fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("jwt-keys"), err)
			return 2
		}
	}
	cfg.autoMaxConns(autoMaxConns)

	var fl []feeds.Feed
	for _, spec := range cfg.Feeds {
		f, err := feeds.Parse(spec)
		if err != nil {
			fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("feed"), err)
			return 2
		}
		fl = append(fl, f)
	}
	set, err := feeds.NewSetConfig(cfg.FeedSet, log, fl...)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("feed"), err)
		return 2
	}
	ring := market.NewRing(cfg.RingSize)
	if cfg.Role == "all" {
		cfg.Fanout.Epoch = cluster.NewEpoch(0) // a restart is a new stream
	}
	var declared []string     // nil: the feeds'
	var step *stepper.Stepper // --step-control (stepcontrol.go)
	if cfg.StepControl {
		if step, set, err = newStepMode(&cfg, fl, ring, log); err != nil {
			fmt.Fprintf(stderr, "ticker: %v\n", err)
			return 2
		}
		defer step.Close()
		declared = step.Symbols()
	}
	// a signal from here on is a shutdown, even before the server is up
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var node *clusterNode
	if cfg.Role != "all" {
		if node, err = dialCluster(sigCtx, cfg, log); err != nil {
			if errors.Is(err, errStopped) {
				log.Info("shutting down: " + err.Error())
				return 0
			}
			fmt.Fprintf(stderr, "ticker: %v\n", err)
			return 1
		}
		node.configure(&cfg)
	}
	built, err := assemble.Build(assemble.Options{Feeds: set, Ring: ring, Declared: declared, Fanout: cfg.Fanout, API: cfg.API, Log: log,
		Wire: func(b *assemble.Built, acfg *api.Config, status *api.FeedStatus) error {
			if step != nil {
				acfg.Control = stepper.Control(step, b.Engine)
			}
			if node != nil {
				return node.wire(cfg.Role, set, b, acfg, status)
			}
			return nil
		}})
	if node != nil {
		defer node.close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %v\n", err)
		if node != nil && node.failed {
			return 1 // NATS, not the configuration
		}
		return 2
	}
	engine := built.Engine
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("addr"), err)
		return 2
	}

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "ticker: %s: %v\n", cfg.origin("cpu-profile"), err)
			return 2
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	n := built.Node
	if node != nil {
		n.Background = []func(context.Context){node.store.Run}
		n.Role = func(ctx context.Context) error { return node.recv.Run(ctx, engine) }
		if ingest := node.ingest; ingest != nil {
			n.DeferFeeds = true
			ingest.StartFeeds = n.StartFeeds
			n.Role = ingest.Run
			n.AfterEngine = func() {
				// nothing is published any more: a standby may take over at once
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := ingest.Release(rctx); err != nil {
					log.Warn("ingest lease not released; a standby takes over when it expires", "err", err)
				}
			}
		}
	}
	n.Start(ln)
	stopReload := reloadOnHangup(log, cfg.API.Tokens, cfg.API.JWTKeys, cert)
	defer stopReload()
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	log.Info("config", cfg.Effective...)
	if cfg.CompressBudget != 0 {
		log.Warn("--compress-budget has no effect: updates are spliced from each window's entries, so no compression budget is needed; remove it")
	}
	log.Info("ticker serving", "role", cfg.Role, "nats", redact(cfg.NATS), "addr", ln.Addr().String(), "feeds", cfg.Feeds, "coalesce", cfg.Coalesce,
		"dashboard", scheme+"://"+dashboardHost(ln.Addr())+"/", "tls", cert != nil,
		"allowed_origins", cfg.API.Origins.List(), "auth_tokens", cfg.API.Tokens.Count(), "jwt_keys", cfg.API.JWTKeys.Count(),
		"max_conns", cfg.API.MaxConns, "max_conns_per_ip", cfg.API.MaxConnsPerIP)

	code := 0
	select {
	case <-sigCtx.Done():
		log.Info("shutting down")
	case <-n.Served():
		log.Error("server stopped", "err", n.ServeErr())
		code = 1
	case <-n.RoleEnded():
		if err := n.RoleErr(); err != nil {
			log.Error("leaving: another ingest node may publish now", "err", err)
			code = 1
		}
	}
	if err := n.Stop(); err != nil {
		log.Error("shutdown", "err", err)
	}
	log.Info("stopped")
	return code
}

// reloadOnHangup rereads the token file, the JWT keys and the TLS certificate on SIGHUP,
// keeping what is in force when a file is bad, until the returned stop is
// called. Open connections are not touched.
func reloadOnHangup(log *slog.Logger, tokens *access.Tokens, keys *access.JWTKeys, cert *certFiles) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			if tokens != nil {
				if err := tokens.Reload(); err != nil {
					log.Error("SIGHUP: token file not reloaded; the previous tokens stay", "err", err)
				} else {
					log.Info("SIGHUP: tokens reloaded", "tokens", tokens.Count())
				}
			}
			if keys != nil {
				if err := keys.Reload(); err != nil {
					log.Error("SIGHUP: JWT keys not reloaded; the previous keys stay", "err", err)
				} else {
					log.Info("SIGHUP: JWT keys reloaded", "keys", keys.Count())
				}
			}
			if cert != nil {
				if err := cert.reload(); err != nil {
					log.Error("SIGHUP: certificate not reloaded; the previous one stays", "err", err)
				} else {
					log.Info("SIGHUP: certificate reloaded")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}

// certFiles is a TLS certificate read from files, replaceable while serving.
type certFiles struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCert(certFile, keyFile string) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile}
	return c, c.reload()
}

func (c *certFiles) reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cur.Store(&kp)
	return nil
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// autoMaxConns leaves 256 of the process's open-file limit for everything
// but WebSocket connections (listening socket, HTTP clients, feeds, files).
func autoMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return max(int(rl.Cur)-256, 64)
}

func dashboardHost(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok && (t.IP == nil || t.IP.IsUnspecified()) {
		return fmt.Sprintf("localhost:%d", t.Port)
	}
	return a.String()
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationText logs durations as text ("50ms"), as the text handler does,
// rather than the JSON handler's nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
