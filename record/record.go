package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/market"
)

// Recorder is one recording: a fixture file being written from a
// feeds.Set.
type Recorder struct {
	cfg Config
	w   *writer
	ran bool
}

// Summary is what a recording wrote.
type Summary struct {
	Path    string
	Quotes  int           // lines of quotes written
	Skipped int           // quotes a fixture cannot hold (no ts, bad symbol), not written
	Skip    error         // why the last of them was skipped
	FirstTs int64         // the smallest ts written, Unix microseconds
	LastTs  int64         // the largest
	Elapsed time.Duration // how long Run ran
	// Ended says why the recording stopped: "count", "duration",
	// "stopped" (Run's context ended), "feeds finished" or "write failed".
	Ended string
	// Final is every recorded symbol's quote after the last line, sorted
	// by symbol, with Seq 0: the state a replay of the file ends in.
	Final []market.Quote
}

// New checks cfg and creates (or truncates) its file, so that a file that
// cannot be written is an error before any feed starts. Call Run next: it
// closes the file.
func New(cfg Config) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := create(cfg.Path, cfg.Count, cfg.Header)
	if err != nil {
		return nil, err
	}
	return &Recorder{cfg: cfg, w: w}, nil
}

// Run records set's quotes until the count or duration is reached, ctx
// ends or every feed has finished; then it stops the feeds, waits for
// them, and flushes and closes the file. What was recorded before a stop
// is complete lines. The error is a failed write (the file holds what
// was written before it) or a feed that failed; the summary is filled
// either way. Call Run once.
func (r *Recorder) Run(ctx context.Context, set *feeds.Set, log *slog.Logger) (Summary, error) {
	if r.ran {
		return Summary{}, errors.New("record: Run called twice")
	}
	r.ran = true
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	feedCtx, stopFeeds := context.WithCancel(ctx)
	defer stopFeeds()
	set.Start(feedCtx, r.w)
	finished := make(chan struct{})
	go func() { // ends once every feed has returned, which stopFeeds makes happen
		set.Wait()
		close(finished)
	}()
	var limit <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		defer t.Stop()
		limit = t.C
	}
	log.Info("recording", "file", r.cfg.Path, "feeds", names(set), "count", r.cfg.Count, "duration", r.cfg.Duration)

	s := Summary{Path: r.cfg.Path}
	select {
	case <-ctx.Done():
		s.Ended = "stopped"
	case <-limit:
		s.Ended = "duration"
	case <-r.w.done:
		s.Ended = "count" // or a failed write, returned below
	case <-finished:
		s.Ended = "feeds finished"
	}
	stopFeeds()
	<-finished
	err := r.w.close()
	if err != nil {
		s.Ended = "write failed"
	}

	s.Elapsed = time.Since(start)
	s.Quotes, s.Skipped, s.Skip, s.FirstTs, s.LastTs = r.w.n, r.w.skipped, r.w.lastErr, r.w.firstTs, r.w.lastTs
	s.Final = r.w.final()
	if err != nil {
		return s, err
	}
	for _, st := range set.Statuses() {
		if st.Err != "" {
			return s, fmt.Errorf("feed %s failed: %s", st.Name, st.Err)
		}
	}
	return s, nil
}

func names(set *feeds.Set) []string {
	var out []string
	for _, st := range set.Statuses() {
		out = append(out, st.Name)
	}
	return out
}
