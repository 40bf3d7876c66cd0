package splice

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/klauspost/compress/flate"
)

// BenchmarkMessage: coding one 17-entry message of a 430-entry window,
// spliced against whole-message deflate (level 1, as the engine did), and
// what a window's Seal costs.
func BenchmarkMessage(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	entries := deltaEntries(r, 430)
	w, pieces := sealed(entries)
	msgs := make([][]*Piece, 64)
	plains := make([][]byte, 64)
	for i := range msgs {
		idx := subset(r, len(entries), 17)
		for _, j := range idx {
			msgs[i] = append(msgs[i], pieces[j])
		}
		plains[i] = plain(entries, idx)
	}
	b.Run("spliced", func(b *testing.B) {
		var c Coder
		var dst []byte
		n := 0
		for i := 0; b.Loop(); i++ {
			var err error
			dst, err = c.Append(dst[:0], w, testHead, msgs[i%64], ',', testTail)
			if err != nil {
				b.Fatal(err)
			}
			n += len(dst)
		}
		b.ReportMetric(float64(n)/float64(b.N), "B/msg")
	})
	b.Run("whole", func(b *testing.B) {
		fw, _ := flate.NewWriter(nil, 1)
		var buf bytes.Buffer
		n := 0
		for i := 0; b.Loop(); i++ {
			n += len(whole(b, fw, &buf, plains[i%64]))
		}
		b.ReportMetric(float64(n)/float64(b.N), "B/msg")
	})
	b.Run("seal", func(b *testing.B) {
		w := NewWindow()
		ps := make([]*Piece, len(entries))
		for i := range ps {
			ps[i] = &Piece{}
		}
		for b.Loop() {
			w.Reset()
			for i, e := range entries {
				w.Add(ps[i], e)
			}
			w.Seal(testHead, ',', testTail)
		}
	})
}

// BenchmarkWindowMessages: one window's messages as the engine codes them,
// 10,000 subscribers × 20 of 500 symbols, 430 of them changed, each entry
// a book change, a trade or both (as the synthetic feed's coalesced
// deltas). Unlike BenchmarkMessage's 64 messages, the 10,000 are distinct,
// so what the walk reads does not stay in the cache from one to the next.
func BenchmarkWindowMessages(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	const symbols, changed, subscribers, k = 500, 430, 10000, 20
	entries := feedEntries(r, symbols)
	in := r.Perm(symbols)[:changed]
	slices.Sort(in)
	idxOf := make(map[int]int, changed)
	var window [][]byte
	for i, s := range in {
		idxOf[s] = i
		window = append(window, entries[s])
	}
	msgs := make([][]int, subscribers)
	for i := range msgs {
		for _, s := range subset(r, symbols, k) {
			if j, ok := idxOf[s]; ok {
				msgs[i] = append(msgs[i], j)
			}
		}
	}
	w, pieces := sealed(window)
	var c Coder
	var ps []*Piece
	var dst []byte
	bytes := 0
	for b.Loop() {
		for _, m := range msgs {
			ps = ps[:0]
			for _, j := range m {
				ps = append(ps, pieces[j])
			}
			var err error
			if dst, err = c.Append(dst[:0], w, testHead, ps, ',', testTail); err != nil {
				b.Fatal(err)
			}
			bytes += len(dst)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subscribers), "ns/msg")
	b.ReportMetric(float64(bytes)/float64(b.N*subscribers), "B/msg")
}
