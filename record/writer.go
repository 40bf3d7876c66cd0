package record

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// writer is the feeds' Pusher: it writes each quote as a fixture line and
// folds it into its symbol's State, the recording's final state. Feeds push
// from their own goroutines; a mutex orders the lines.
type writer struct {
	mu      sync.Mutex
	f       *os.File
	bw      *bufio.Writer
	line    []byte
	limit   int // 0: none
	n       int
	skipped int
	lastErr error // the last quote skipped, for the summary
	err     error // the first write error; nothing is written after it
	done    chan struct{}
	closed  bool
	states  map[string]*market.State
	firstTs int64
	lastTs  int64
}

func create(path string, limit int, header []string) (*writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	w := &writer{f: f, bw: bufio.NewWriterSize(f, 64<<10), limit: limit, done: make(chan struct{}), states: map[string]*market.State{}}
	for _, h := range header {
		w.bw.WriteString("# " + h + "\n")
	}
	if err := w.bw.Flush(); err != nil { // a file that takes no byte fails now, not at the first quote
		f.Close()
		return nil, err
	}
	return w, nil
}

// Push implements feeds.Pusher. Once the count is reached (or a write
// failed), it writes nothing more and waits for ctx, which Run ends.
func (w *writer) Push(ctx context.Context, q *market.Quote) error {
	w.mu.Lock()
	if w.err != nil || (w.limit > 0 && w.n >= w.limit) {
		w.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer w.mu.Unlock()
	if err := protocol.LineError(q); err != nil {
		w.skipped++
		w.lastErr = err
		return nil
	}
	w.line = protocol.AppendLine(w.line[:0], q)
	if _, err := w.bw.Write(w.line); err != nil {
		w.fail(err)
		return err
	}
	w.n++
	st := w.states[q.Symbol]
	if st == nil {
		st = market.NewState(q.Symbol)
		w.states[q.Symbol] = st
	}
	st.Apply(q)
	if w.n == 1 || q.TsMicros < w.firstTs {
		w.firstTs = q.TsMicros
	}
	w.lastTs = max(w.lastTs, q.TsMicros)
	if w.n == w.limit {
		w.stop()
	}
	return nil
}

func (w *writer) fail(err error) {
	w.err = fmt.Errorf("write %s: %w", w.f.Name(), err)
	w.stop()
}

func (w *writer) stop() {
	if !w.closed {
		w.closed = true
		close(w.done)
	}
}

// close flushes and syncs the file and closes it; it returns the first
// write error if any.
func (w *writer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.fail(err)
		} else if err := w.f.Sync(); err != nil {
			w.fail(err)
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.fail(err)
	}
	w.stop()
	return w.err
}

// final returns the current quote of every symbol recorded, sorted by
// symbol: what a replay of the file ends with (seq aside, which the
// replaying engine assigns).
func (w *writer) final() []market.Quote {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]market.Quote, 0, len(w.states))
	var delta market.Quote
	for _, st := range w.states {
		st.Publish(&delta) // as the replaying engine publishes the last window
		q := st.Published()
		q.Seq = 0
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}
