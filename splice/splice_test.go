package splice

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// inflate decodes a permessage-deflate payload as a peer does: the
// stripped 00 00 ff ff appended, then a final empty block so the reader
// ends cleanly.
func inflate(t testing.TB, payload []byte) []byte {
	t.Helper()
	r := stdflate.NewReader(io.MultiReader(bytes.NewReader(payload), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// deltaEntries makes n entries shaped as ticker's deltas: the symbol, seq
// and ts, then some of the quote's fields.
func deltaEntries(r *rand.Rand, n int) [][]byte {
	ts := int64(1796132995517250)
	fields := []string{"bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume"}
	var out [][]byte
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, `{"s":"SYM%04d","seq":%d,"ts":%d`, i, 30+r.IntN(40), ts-int64(r.IntN(50000)))
		price := 10 + r.Float64()*490
		for _, f := range fields {
			if r.IntN(3) == 0 {
				continue
			}
			switch {
			case strings.HasSuffix(f, "size"), f == "volume":
				fmt.Fprintf(&b, `,"%s":"%d"`, f, 100*(1+r.IntN(400)))
			default:
				fmt.Fprintf(&b, `,"%s":"%.2f"`, f, price+r.Float64()/10)
			}
		}
		b.WriteString("}")
		out = append(out, []byte(b.String()))
	}
	return out
}

// feedEntries makes n entries as the synthetic feed's coalesced deltas
// are: a book change (bid, bid_size, ask, ask_size), a trade (last,
// last_size, volume) or both.
func feedEntries(r *rand.Rand, n int) [][]byte {
	ts := int64(1796132995517250)
	var out [][]byte
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, `{"s":"SYM%04d","seq":%d,"ts":%d`, i, 3000+r.IntN(4000), ts-int64(r.IntN(50000)))
		price := 10 + r.Float64()*490
		shape := r.IntN(8) // 0-3 book, 4 trade, 5-7 both
		if shape != 4 {
			fmt.Fprintf(&b, `,"bid":"%.2f","bid_size":"%d","ask":"%.2f","ask_size":"%d"`, price, 100*(1+r.IntN(400)), price+0.01*float64(1+r.IntN(5)), 100*(1+r.IntN(400)))
		}
		if shape >= 4 {
			fmt.Fprintf(&b, `,"last":"%.2f","last_size":"%d","volume":"%d"`, price, 100*(1+r.IntN(40)), 1000*(1+r.IntN(100000)))
		}
		b.WriteString("}")
		out = append(out, []byte(b.String()))
	}
	return out
}

var testHead = []byte(`{"type":"update","time":1796132995522239,"quotes":[`)
var testTail = []byte("]}")

// plain is the message a subscriber to idx gets.
func plain(entries [][]byte, idx []int) []byte {
	m := append([]byte(nil), testHead...)
	for i, k := range idx {
		if i > 0 {
			m = append(m, ',')
		}
		m = append(m, entries[k]...)
	}
	return append(m, testTail...)
}

// whole is today's whole-message deflate (level 1), stripped.
func whole(t testing.TB, w *flate.Writer, buf *bytes.Buffer, m []byte) []byte {
	buf.Reset()
	w.Reset(buf)
	w.Write(m)
	w.Flush()
	return buf.Bytes()[:buf.Len()-4]
}

func sealed(entries [][]byte) (*Window, []*Piece) {
	w := NewWindow()
	pieces := make([]*Piece, len(entries))
	for i, e := range entries {
		pieces[i] = &Piece{}
		w.Add(pieces[i], e)
	}
	w.Seal(testHead, ',', testTail)
	return w, pieces
}

func subset(r *rand.Rand, n, k int) []int {
	idx := r.Perm(n)[:k]
	for i := 1; i < len(idx); i++ { // in order, as the engine sends them
		for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

// roundTrip codes the message of entries idx, checks that it inflates to
// exactly the plain message, and returns it.
func roundTrip(t *testing.T, c *Coder, w *Window, entries [][]byte, pieces []*Piece, idx []int) []byte {
	t.Helper()
	ps := make([]*Piece, len(idx))
	for i, j := range idx {
		ps[i] = pieces[j]
	}
	out, err := c.Append(nil, w, testHead, ps, ',', testTail)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := inflate(t, out), plain(entries, idx); !bytes.Equal(got, want) {
		t.Fatalf("%v: decoded\n%s\nwant\n%s", idx, got, want)
	}
	return out
}

// TestRoundTrip: every message decodes, with the standard library's
// inflater, to exactly the plain message.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	entries := deltaEntries(r, 430)
	w, pieces := sealed(entries)
	var c Coder
	for _, k := range []int{0, 1, 2, 5, 17, 20, 100, 430} {
		for range 20 {
			roundTrip(t, &c, w, entries, pieces, subset(r, len(entries), k))
		}
	}
}

// TestBytes: at 20 entries a message, spliced messages stay within 1.5×
// the bytes of whole-message deflate (issue 17's bound); the figure is
// logged.
func TestBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	entries := deltaEntries(r, 430)
	w, pieces := sealed(entries)
	var c Coder
	fw, _ := flate.NewWriter(nil, 1)
	var buf bytes.Buffer
	for _, k := range []int{5, 17, 100} {
		var sp, wh, pl int
		for range 200 {
			idx := subset(r, len(entries), k)
			out := roundTrip(t, &c, w, entries, pieces, idx)
			m := plain(entries, idx)
			sp += len(out)
			wh += len(whole(t, fw, &buf, m))
			pl += len(m)
		}
		ratio := float64(sp) / float64(wh)
		t.Logf("k=%d: plain %d B, whole deflate %d B, spliced %d B a message: %.2f× whole", k, pl/200, wh/200, sp/200, ratio)
		if ratio > 1.5 {
			t.Errorf("k=%d: spliced %.2f× the bytes of whole-message deflate", k, ratio)
		}
	}
}

// FuzzRoundTrip: any entries, JSON or not, decode back exactly, in any
// subset and order a message takes them; a head or tail with bytes the
// window was not sealed with is refused, never miscoded.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(`{"s":"A","seq":1,"bid":"1.5"}`+"\n"+`{"s":"B","seq":2,"bid":"1.5","ask":"2"}`), uint64(1), []byte("]}"))
	f.Add([]byte(`{"s":"A\"x","n":[1,2]}`+"\n"+`{}`+"\n"+`:::""`+"\n"+`{"a":1}`), uint64(7), []byte("}"))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, tail []byte) {
		entries := bytes.Split(data, []byte("\n"))
		w, pieces := sealed(entries)
		r := rand.New(rand.NewPCG(seed, 1))
		var c Coder
		for range 4 {
			idx := r.Perm(len(entries))[:r.IntN(len(entries)+1)]
			ps := make([]*Piece, len(idx))
			want := append([]byte(nil), testHead...)
			for i, j := range idx {
				ps[i] = pieces[j]
				if i > 0 {
					want = append(want, ',')
				}
				want = append(want, entries[j]...)
			}
			out, err := c.Append(nil, w, testHead, ps, ',', tail)
			if err != nil {
				for _, b := range tail {
					if !w.seen[b] {
						return // refused: a byte of the tail has no code
					}
				}
				t.Fatalf("refused a message of its own window: %v", err)
			}
			want = append(want, tail...)
			if got := inflate(t, out); !bytes.Equal(got, want) {
				t.Fatalf("decoded\n%q\nwant\n%q", got, want)
			}
		}
	})
}

// TestForeignPiece: a piece of another window, or of this one before its
// Reset, is refused.
func TestForeignPiece(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	entries := deltaEntries(r, 10)
	w, pieces := sealed(entries)
	other, _ := sealed(entries)
	var c Coder
	if _, err := c.Append(nil, other, testHead, pieces[:3], ',', testTail); err != ErrNotCoded {
		t.Errorf("another window's pieces: %v, want ErrNotCoded", err)
	}
	w.Reset()
	w.Seal(testHead, ',', testTail)
	if _, err := c.Append(nil, w, testHead, pieces[:3], ',', testTail); err != ErrNotCoded {
		t.Errorf("pieces from before Reset: %v, want ErrNotCoded", err)
	}
}

// TestOpaqueBetween: an entry splice cannot cut (an array, an escape) goes
// out as literals, and matches reaching back across it still land on the
// right bytes.
func TestOpaqueBetween(t *testing.T) {
	entries := [][]byte{
		[]byte(`{"s":"AAA","seq":1,"bid":"1.25","ask":"1.50"}`),
		[]byte(`{"s":"B\"B","seq":2,"levels":[1,2,3]}`),
		[]byte(`{"s":"CCC","seq":3,"bid":"1.26","ask":"1.51"}`),
		[]byte(`{"s":"DDD","seq":4,"bid":"1.27","ask":"1.52"}`),
	}
	w, pieces := sealed(entries)
	if !pieces[1].opaque || pieces[0].opaque {
		t.Fatalf("opaque: %v %v", pieces[0].opaque, pieces[1].opaque)
	}
	var c Coder
	for _, idx := range [][]int{{0, 1, 2}, {1, 0, 2}, {0, 1, 2, 3}, {1}, {0, 2, 1}} {
		roundTrip(t, &c, w, entries, pieces, idx)
	}
}
