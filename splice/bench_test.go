package splice

import (
	"bytes"
	"math/rand/v2"
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
