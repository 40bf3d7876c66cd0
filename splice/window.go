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
	joins  []uint32          // the join of tail index t and first index f: joins[t*nfirst+f]
	nfirst int
	pieces []*Piece
	seen   [256]bool // bytes that occur in the window's entries, heads and tails
	maxLen int       // the longest piece

	sealed  bool
	lit     [numLitLen]hcode
	dist    [numDist]hcode
	litCost [256]uint8             // code lengths of the literals, for choosing matches
	lenTok  [maxMatch + 1]lenToken // each match length as written (Seal)
	runCost []uint32               // bits of each run of structure as literals
	head    []byte                 // the block header, whole bytes
	headAcc uint64                 // and its last bits
	headN   uint

	// the literals of every run and value, coded once with the window's
	// code (precode): bits in deflate's order, padded for 8-byte loads
	bits     []byte
	runAt    []uint32 // run id → its first bit in bits
	runBits  []uint32 // and its length in bits
	cum      []uint32 // a value's bit offsets after each of its bytes (Piece.cumAt)
	sealHead []byte   // the head Seal was given, coded as headAt/headBits
	headAt   uint32
	headBits uint32
}

// lenToken is a match length's symbol and extra bits, as written, with
// the window's code; nb is 0 when the code lacks the symbol.
type lenToken struct {
	bits uint32
	nb   uint8
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
	}
	clear(w.ids)
	w.joins = w.joins[:0]
	w.nfirst = 0
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
func (w *Window) join(a, b *Piece) uint32 {
	return w.joins[int(a.tailIdx)*w.nfirst+int(b.firstIdx)]
}

// makeJoins interns the run between every tail and every first run of the
// window's pieces, and numbers the distinct tails and first runs.
func (w *Window) makeJoins(sep byte) {
	tails := map[uint32]int32{}
	firsts := map[uint32]int32{}
	var tailOf, firstOf []*Piece
	for _, p := range w.pieces {
		if p.opaque {
			continue
		}
		t, ok := tails[p.tailID]
		if !ok {
			t = int32(len(tailOf))
			tails[p.tailID] = t
			tailOf = append(tailOf, p)
		}
		f, ok := firsts[p.parts[0].id]
		if !ok {
			f = int32(len(firstOf))
			firsts[p.parts[0].id] = f
			firstOf = append(firstOf, p)
		}
		p.tailIdx, p.firstIdx = t, f
	}
	w.nfirst = len(firstOf)
	for _, a := range tailOf {
		for _, b := range firstOf {
			run := make([]byte, 0, len(a.data)-a.tail+1+int(b.parts[0].val))
			run = append(append(append(run, a.data[a.tail:]...), sep), b.data[:b.parts[0].val]...)
			w.joins = append(w.joins, w.id(run))
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
	if len(p.parts) == 0 {
		p.opaque = true // no value: nothing to match on
	}
	if !p.opaque {
		for k := range p.parts {
			pt := &p.parts[k]
			pt.id = w.id(entry[pt.seg:pt.val])
		}
		p.tailID = w.id(entry[p.tail:])
	}
	w.pieces = append(w.pieces, p)
}
