// Command ticker serves live market data over WebSockets: feeds → fanout
// engine → WebSocket/REST clients and the embedded dashboard. main only wires
// the packages together; see README.md for usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"ticker/api"
	"ticker/fanout"
	"ticker/feeds"
	"ticker/market"
)

func main() {
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

	var fl []feeds.Feed
	for _, spec := range cfg.Feeds {
		f, err := feeds.Parse(spec)
		if err != nil {
			fmt.Fprintf(stderr, "ticker: --feed: %v\n", err)
			return 2
		}
		fl = append(fl, f)
	}
	set, err := feeds.NewSet(log, fl...)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: --feed: %v\n", err)
		return 2
	}
	ring := market.NewRing(cfg.RingSize)
	engine, err := fanout.New(cfg.Fanout, ring, set.Symbols(), log)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %v\n", err)
		return 2
	}
	srv, err := api.New(cfg.API, engine, set, ring, log)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "ticker: --addr: %v\n", err)
		return 2
	}

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "ticker: --cpu-profile: %v\n", err)
			return 2
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	engineCtx, stopEngine := context.WithCancel(context.Background())
	go engine.Run(engineCtx)
	feedCtx, stopFeeds := context.WithCancel(context.Background())
	set.Start(feedCtx, ring)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("ticker serving", "addr", ln.Addr().String(), "feeds", cfg.Feeds, "coalesce", cfg.Coalesce,
		"dashboard", "http://"+dashboardHost(ln.Addr())+"/")

	code := 0
	select {
	case <-sigCtx.Done():
		log.Info("shutting down")
	case err := <-served:
		log.Error("server stopped", "err", err)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
	}
	stopFeeds()
	ring.Close()
	set.Wait()
	stopEngine()
	<-engine.Done()
	log.Info("stopped")
	return code
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
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
