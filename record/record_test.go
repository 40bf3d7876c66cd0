package record

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/feeds"
	"github.com/ticker-io/ticker/internal/field"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func set(t *testing.T, specs ...string) *feeds.Set {
	t.Helper()
	var fl []feeds.Feed
	for _, s := range specs {
		f, err := feeds.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		fl = append(fl, f)
	}
	s, err := feeds.NewSet(quiet, fl...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readFixture parses every line of path as a replay does; it fails t on a
// line that does not parse or a file that does not end in a newline.
func readFixture(t *testing.T, path string) (header []string, quotes []market.Quote) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline: %q", path, b[max(0, len(b)-80):])
	}
	var p fastjson.Parser
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		var q market.Quote
		err := protocol.ParseLine(&p, sc.Bytes(), &q)
		switch {
		case errors.Is(err, protocol.ErrSkip):
			header = append(header, sc.Text())
		case err != nil:
			t.Fatalf("%s line %d %q: %v", path, n, sc.Text(), err)
		default:
			quotes = append(quotes, q)
		}
	}
	return header, quotes
}

// fold is what a replay of quotes ends in: each symbol's State after them.
func fold(quotes []market.Quote) map[string]market.Quote {
	states := map[string]*market.State{}
	for i := range quotes {
		q := &quotes[i]
		if states[q.Symbol] == nil {
			states[q.Symbol] = market.NewState(q.Symbol)
		}
		states[q.Symbol].Apply(q)
	}
	out := map[string]market.Quote{}
	var d market.Quote
	for sym, st := range states {
		st.Publish(&d)
		q := st.Published()
		q.Seq = 0
		out[sym] = q
	}
	return out
}

// TestRunEnds: each way a recording ends leaves complete lines, the count
// in the summary equal to the lines in the file, and Final equal to the
// fold of those lines.
func TestRunEnds(t *testing.T) {
	tests := []struct {
		name   string
		specs  []string
		cfg    Config
		cancel time.Duration // cancel Run's context after this long; 0: never
		ended  string
		quotes int // exact count; -1: some
	}{
		{"count", []string{"synthetic:?seed=7&rate=20000"}, Config{Count: 500}, 0, "count", 500},
		{"count over two feeds", []string{"replay:testdata/fx.ndjson?speed=0", "replay:../feeds/testdata/mixed.ndjson?speed=0"}, Config{Count: 7}, 0, "count", 7},
		{"two feeds to their end", []string{"replay:testdata/fx.ndjson?speed=0", "replay:../feeds/testdata/mixed.ndjson?speed=0"}, Config{}, 0, "feeds finished", 8},
		{"duration", []string{"synthetic:?rate=2000"}, Config{Duration: 300 * time.Millisecond}, 0, "duration", -1},
		{"stopped", []string{"synthetic:?rate=2000"}, Config{}, 300 * time.Millisecond, "stopped", -1},
		{"replay to its end", []string{"replay:../feeds/testdata/mixed.ndjson?speed=0"}, Config{Count: 100}, 0, "feeds finished", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Path = filepath.Join(t.TempDir(), "rec.ndjson")
			cfg.Header = []string{"made by " + t.Name()}
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			sum, err := r.Run(ctx, set(t, tt.specs...), quiet)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Ended != tt.ended {
				t.Errorf("ended %q, want %q", sum.Ended, tt.ended)
			}
			header, quotes := readFixture(t, cfg.Path)
			if len(header) != 1 || header[0] != "# made by "+t.Name() {
				t.Errorf("header %q", header)
			}
			if len(quotes) != sum.Quotes || (tt.quotes >= 0 && sum.Quotes != tt.quotes) || sum.Quotes == 0 {
				t.Errorf("%d lines, summary %d, want %d", len(quotes), sum.Quotes, tt.quotes)
			}
			want := fold(quotes)
			if len(sum.Final) != len(want) {
				t.Errorf("Final has %d symbols, the file %d", len(sum.Final), len(want))
			}
			for _, q := range sum.Final {
				if w := want[q.Symbol]; w != q {
					t.Errorf("Final %s, the file folds to %s", q.AppendJSON(nil), w.AppendJSON(nil))
				}
			}
			if sum.FirstTs <= 0 || sum.LastTs < sum.FirstTs {
				t.Errorf("ts span %d..%d", sum.FirstTs, sum.LastTs)
			}
		})
	}
}

// TestRecordRecording: recording a replay of a recording writes the same
// quote lines again, ts included: nothing is lost or changed on the way
// through the file.
func TestRecordRecording(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.ndjson"), filepath.Join(dir, "b.ndjson")
	for _, step := range []struct{ path, spec string }{
		{first, "synthetic:?seed=3&rate=20000&symbols=30"},
		{second, "replay:" + first + "?speed=0"},
	} {
		r, err := New(Config{Path: step.path, Count: 2000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background(), set(t, step.spec), quiet); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the recording of the replay differs: %d and %d bytes", len(a), len(b))
	}
}

// TestRunWriteFails: a write that fails (a full disk) ends the recording
// with an error naming the file; the feeds are stopped.
func TestRunWriteFails(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	r, err := New(Config{Path: "/dev/full"}) // no header: nothing written until the buffer fills
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var sum Summary
	go func() {
		defer close(done)
		sum, err = r.Run(context.Background(), set(t, "synthetic:?rate=100000"), quiet)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not end after its writes failed")
	}
	if err == nil || !strings.Contains(err.Error(), "write /dev/full") || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err %v", err)
	}
	if sum.Ended != "write failed" {
		t.Errorf("ended %q", sum.Ended)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		cfg        Config
		field, msg string // a *field.Error's field, or the error's text
	}{
		{Config{}, "Path", ""},
		{Config{Path: "x", Count: -1}, "Count", ""},
		{Config{Path: "x", Duration: -time.Second}, "Duration", ""},
		{Config{Path: "x", Header: []string{"two\nlines"}}, "Header", ""},
		{Config{Path: filepath.Join(dir, "no", "such", "dir.ndjson")}, "", "no such file or directory"},
		{Config{Path: dir}, "", "is a directory"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		var fe *field.Error
		switch {
		case err == nil:
			t.Errorf("%+v: no error", tt.cfg)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("%+v: %v, want a field error on %s", tt.cfg, err, tt.field)
		case tt.msg != "" && !strings.Contains(err.Error(), tt.msg):
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.msg)
		}
	}
}

// TestCommittedRecording: fixtures/synthetic.ndjson is what `ticker
// record` writes: recording its replay gives back every quote line as it
// is in the file.
func TestCommittedRecording(t *testing.T) {
	const committed = "../fixtures/synthetic.ndjson"
	out := filepath.Join(t.TempDir(), "again.ndjson")
	r, err := New(Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.Run(context.Background(), set(t, "replay:"+committed+"?speed=0"), quiet)
	if err != nil || sum.Ended != "feeds finished" {
		t.Fatalf("%v, ended %q", err, sum.Ended)
	}
	quoteLines := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	want, got := quoteLines(committed), quoteLines(out)
	if len(want) != 2000 || len(got) != len(want) {
		t.Fatalf("%d quote lines committed, %d recorded again", len(want), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: committed %q, recorded again %q", i+1, want[i], got[i])
		}
	}
}
