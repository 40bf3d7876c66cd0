package feeds

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// Path returns the fixture file the replay reads.
func (r *Replay) Path() string { return r.path }

// Fixture reads a normalized NDJSON fixture (protocol.ParseLine) one quote
// at a time, in file order, for a caller that paces the quotes itself (a
// stepped replay: tickertest, ticker --step-control). It holds one line in
// memory, however long the file.
type Fixture struct {
	path   string
	f      *os.File
	br     *bufio.Reader
	p      fastjson.Parser
	lineNo int
	done   bool
}

// OpenFixture opens the fixture at path.
func OpenFixture(path string) (*Fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &Fixture{path: path, f: f, br: bufio.NewReaderSize(f, 64<<10)}, nil
}

// Next reads the next valid line into q; it reports false at the end of the
// file. Blank and comment lines are skipped; a malformed one is passed to
// bad (its error names the file and line) and skipped. err is a read error.
func (x *Fixture) Next(q *market.Quote, bad func(error)) (ok bool, err error) {
	for !x.done {
		line, tooLong, err := readLine(x.br)
		if err == io.EOF {
			x.done = true
			if len(line) == 0 && !tooLong {
				return false, nil
			}
		} else if err != nil {
			return false, err
		}
		x.lineNo++
		var perr error
		if tooLong {
			perr = fmt.Errorf("longer than %d bytes", maxLineBytes)
		} else {
			perr = protocol.ParseLine(&x.p, line, q)
		}
		switch {
		case errors.Is(perr, protocol.ErrSkip):
		case perr != nil:
			bad(fmt.Errorf("%s line %d: %w", x.path, x.lineNo, perr))
		default:
			return true, nil
		}
	}
	return false, nil
}

// Close closes the file.
func (x *Fixture) Close() error { return x.f.Close() }
