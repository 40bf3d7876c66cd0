package splice

import "sync/atomic"

// A Window is the shared part of one window's messages: the structure
// runs its pieces hold, and, once sealed, one Huffman code and the block
// header that carries it. Add pieces, Seal, then code messages with a
// Coder; Reset begins the next window. A sealed Window is read-only, so
// coders on several goroutines may share it.
type Window struct {
	gen    uint64
	ids    map[string]uint32 // structure run → id
	runs   [][]byte          // id → its bytes
	joins  map[[2]uint32]uint32
	pieces []*Piece
	seen   [256]bool // bytes that occur in the window's entries, heads and tails
	maxLen int       // the longest piece

	sealed  bool
	lit     [numLitLen]hcode
	dist    [numDist]hcode
	litCost [256]uint8 // code lengths of the literals, for choosing matches
	runCost []uint32   // bits of each run of structure as literals
	head    []byte     // the block header, whole bytes
	headAcc uint64     // and its last bits
	headN   uint
}

// windows numbers windows so a piece knows whether it was added to this one.
var windows atomic.Uint64

// NewWindow returns an empty window.
func NewWindow() *Window {
	w := &Window{}
	w.Reset()
	return w
}

// Reset empties w for a new window. Pieces added before are no longer
// part of it.
func (w *Window) Reset() {
	w.gen = windows.Add(1)
	if w.ids == nil {
		w.ids = make(map[string]uint32)
		w.joins = make(map[[2]uint32]uint32)
	}
	clear(w.ids)
	clear(w.joins)
	clear(w.runs)
	w.runs = w.runs[:0]
	clear(w.pieces)
	w.pieces = w.pieces[:0]
	w.seen = [256]bool{}
	w.maxLen = 0
	w.sealed = false
}

// id interns a run of structure.
func (w *Window) id(run []byte) uint32 {
	if id, ok := w.ids[string(run)]; ok {
		return id
	}
	id := uint32(len(w.runs))
	w.ids[string(run)] = id
	w.runs = append(w.runs, run)
	return id
}

// join returns the id of the run that ends piece a's entry, then the
// separator, then begins piece b's (made at Seal for every pair).
func (w *Window) join(a, b *Piece) (uint32, bool) {
	id, ok := w.joins[[2]uint32{a.tailID, b.ids[0]}]
	return id, ok
}

// makeJoins interns the run between every tail and every first run of the
// window's pieces.
func (w *Window) makeJoins(sep byte) {
	tails := map[uint32]*Piece{}
	firsts := map[uint32]*Piece{}
	for _, p := range w.pieces {
		if p.opaque || len(p.parts) == 0 {
			continue
		}
		tails[p.tailID] = p
		firsts[p.ids[0]] = p
	}
	for ta, a := range tails {
		for fb, b := range firsts {
			run := make([]byte, 0, len(a.data)-a.tail+1+int(b.parts[0].val))
			run = append(append(append(run, a.data[a.tail:]...), sep), b.data[:b.parts[0].val]...)
			w.joins[[2]uint32{ta, fb}] = w.id(run)
		}
	}
}

// Add cuts entry into p and makes it part of the window. The window keeps
// entry until Reset: its bytes must not change before then. Add panics on
// a sealed window.
func (w *Window) Add(p *Piece, entry []byte) {
	if w.sealed {
		panic("splice: Add on a sealed window")
	}
	p.cut(entry)
	p.window = w.gen
	for _, b := range entry {
		w.seen[b] = true
	}
	w.maxLen = max(w.maxLen, len(entry))
	p.ids = p.ids[:0]
	if len(p.parts) == 0 {
		p.opaque = true // no value: nothing to match on
	}
	if !p.opaque {
		for _, pt := range p.parts {
			p.ids = append(p.ids, w.id(entry[pt.seg:pt.val]))
		}
		p.tailID = w.id(entry[p.tail:])
	}
	w.pieces = append(w.pieces, p)
}

// Has reports whether p was added to w since its last Reset.
func (w *Window) Has(p *Piece) bool { return p.window == w.gen }
