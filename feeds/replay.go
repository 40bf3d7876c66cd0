package feeds

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// maxLineBytes bounds one fixture line; a longer line is malformed.
const maxLineBytes = 64 << 10

// Replay plays a normalized NDJSON fixture (see protocol.ParseLine). Lines are
// delivered at the pace of their own timestamps divided by Speed (0: as fast
// as possible). With Loop, the file starts over when it ends, its timestamps
// shifted so that ts keeps rising; without it, Run returns and the last state
// stays served. Malformed lines are reported with their line number and
// skipped; they never stop the replay.
type Replay struct {
	name    string
	path    string
	speed   float64
	loop    bool
	symbols []string
}

// NewReplay checks that path is a readable fixture, collects the symbols it
// names, and returns the feed.
func NewReplay(name, path string, speed float64, loop bool) (*Replay, error) {
	if speed < 0 {
		return nil, fmt.Errorf("feed %q: speed %g is negative", name, speed)
	}
	// a replay reads its file twice (symbols now, quotes when it runs) and
	// to its end: only a regular file has one (not /dev/zero, a pipe, a dir)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("feed %q: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("feed %q: %s is not a regular file", name, path)
	}
	r := &Replay{name: name, path: path, speed: speed, loop: loop}
	seen := map[string]bool{}
	valid := 0
	err = r.scan(func(_ int, q *market.Quote, err error) error {
		if err == nil {
			valid++
			if !seen[q.Symbol] {
				seen[q.Symbol] = true
				r.symbols = append(r.symbols, q.Symbol)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("feed %q: %w", name, err)
	}
	if valid == 0 && loop {
		return nil, fmt.Errorf("feed %q: %s has no valid line to loop over", name, path)
	}
	sort.Strings(r.symbols)
	return r, nil
}

func newReplayFromOptions(path string, o *options) (Feed, error) {
	speed, err := o.float("speed", 1, 0, 1e6)
	if err != nil {
		return nil, err
	}
	loop, err := o.bool("loop", false)
	if err != nil {
		return nil, err
	}
	return NewReplay(o.spec, path, speed, loop)
}

// Name implements Feed.
func (r *Replay) Name() string { return r.name }

// Symbols implements Feed: every symbol a valid line of the fixture names.
func (r *Replay) Symbols() []string { return append([]string(nil), r.symbols...) }

// scan reads the fixture once, calling fn for each line that is not blank or
// a comment, with either the parsed quote or the line's error. fn's error
// stops the scan.
func (r *Replay) scan(fn func(lineNo int, q *market.Quote, err error) error) error {
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var p fastjson.Parser
	var q market.Quote
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readLine(br)
		if err == io.EOF && len(line) == 0 && !tooLong {
			return nil
		}
		if err != nil && err != io.EOF {
			return err // *PathError: it names the file
		}
		var perr error
		if tooLong {
			perr = fmt.Errorf("longer than %d bytes", maxLineBytes)
		} else {
			perr = protocol.ParseLine(&p, line, &q)
		}
		if !errors.Is(perr, protocol.ErrSkip) {
			if perr != nil {
				perr = fmt.Errorf("%s line %d: %w", r.path, lineNo, perr)
			}
			if err := fn(lineNo, &q, perr); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// maxLineBytes is consumed and reported as tooLong.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLineBytes+1 {
			tooLong = true
			buf = buf[:0]
		} else if !tooLong {
			if err == bufio.ErrBufferFull || buf != nil {
				buf = append(buf, chunk...)
			} else {
				buf = chunk
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		if n := len(buf); n > 0 && buf[n-1] == '\n' {
			buf = buf[:n-1]
		}
		return buf, false, err
	}
}

// Run implements Feed.
func (r *Replay) Run(ctx context.Context, sink Sink) error {
	start := time.Now()
	var firstTs, lastTs, shift int64
	haveFirst := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for pass := 0; ; pass++ {
		err := r.scan(func(lineNo int, q *market.Quote, err error) error {
			if err != nil {
				if pass == 0 {
					sink.Malformed(err)
				}
				return nil
			}
			if !haveFirst {
				firstTs, haveFirst = q.TsMicros, true
			}
			if pass == 0 && q.TsMicros > lastTs {
				lastTs = q.TsMicros
			}
			q.TsMicros += shift
			if r.speed > 0 {
				due := start.Add(time.Duration(float64(q.TsMicros-firstTs)/r.speed) * time.Microsecond)
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-timer.C:
					}
				}
			}
			return sink.Push(ctx, q)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !r.loop || ctx.Err() != nil {
			return nil
		}
		// the next pass continues one millisecond after this one's last line
		shift += lastTs - firstTs + 1000
	}
}
