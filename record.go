package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/record"
)

const recordUsage = `ticker record writes the normalized quotes of feeds into a fixture
(the NDJSON format that replay: reads), each with the feed's own ts.

Usage: ticker record --out FILE [--feed SPEC]... [--count N] [--duration D]

It stops at --count quotes or after --duration, whichever comes first, on
SIGINT or SIGTERM, or when every feed has finished (a replay without loop);
the file then holds complete lines and is flushed and closed. Replay it with
--feed 'replay:FILE?speed=0'. Flags only: TICKER_ variables are not read.

Flags:
`

// recordFlags names the flag that sets each field of record.Config.
var recordFlags = map[string]string{"Path": "out", "Duration": "duration", "Count": "count"}

// recordMain is `ticker record [flags]`; it returns the exit code: 0 when
// the recording ended as asked, 2 for bad flags or a file that cannot be
// created, 1 for a failure while recording.
func recordMain(args []string, stderr io.Writer) int {
	cfg := record.DefaultConfig()
	var feedsFlag feedList
	fs := flag.NewFlagSet("ticker record", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.Path, "out", "", "the fixture `file` to write (created or truncated)")
	fs.Var(&feedsFlag, "feed", "a feed `spec`; repeat for several (default synthetic)")
	fs.IntVar(&cfg.Count, "count", cfg.Count, "stop after this many quotes (0: no limit)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop after this long (0: no limit)")
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ticker record: %v\n", err)
		return 2
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprint(stderr, recordUsage)
			fs.PrintDefaults()
			return 0
		}
		return fail(err)
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0)))
	}
	if len(feedsFlag) == 0 {
		feedsFlag = feedList{"synthetic"}
	}
	if err := cfg.Validate(); err != nil {
		return fail(flagError(err, recordFlags))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: durationText}))
	var fl []feeds.Feed
	for _, spec := range feedsFlag {
		f, err := feeds.Parse(spec)
		if err != nil {
			return fail(fmt.Errorf("--feed: %v", err))
		}
		fl = append(fl, f)
	}
	set, err := feeds.NewSet(log, fl...)
	if err != nil {
		return fail(fmt.Errorf("--feed: %v", err))
	}
	cfg.Header = []string{
		"recorded by `ticker record` from " + redact(strings.Join(feedsFlag, " ")),
		"started " + time.Now().UTC().Format(time.RFC3339) + "; ts are the feeds' own (Unix microseconds)",
	}
	rec, err := record.New(cfg)
	if err != nil {
		return fail(fmt.Errorf("--out: %v", err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sum, err := rec.Run(ctx, set, log)
	if sum.Skipped > 0 {
		log.Warn("quotes a fixture cannot hold were skipped", "skipped", sum.Skipped, "last", sum.Skip)
	}
	log.Info("recorded", "file", sum.Path, "quotes", sum.Quotes, "symbols", len(sum.Final),
		"first_ts", sum.FirstTs, "last_ts", sum.LastTs, "ended", sum.Ended, "elapsed", sum.Elapsed.Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(stderr, "ticker record: %v\n", err)
		return 1
	}
	return 0
}
