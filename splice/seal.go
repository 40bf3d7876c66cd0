package splice

// Sealing: a window's one Huffman code, built from simulated messages.

type counts struct {
	lit  [numLitLen]uint32
	dist [numDist]uint32
}

// simChunk is how many entries the messages Seal simulates hold: about what
// a subscriber to 20 symbols gets in a window.
const simChunk = 16

// Seal builds the window's Huffman code from messages like the ones it
// will code — head, entries joined by sep, tail, simChunk entries each —
// with every byte of the window's entries, head, tail and sep codable. No
// piece may be added after Seal.
func (w *Window) Seal(head []byte, sep byte, tail []byte) {
	for _, b := range head {
		w.seen[b] = true
	}
	for _, b := range tail {
		w.seen[b] = true
	}
	w.seen[sep] = true
	w.makeJoins(sep)
	var n counts
	c := Coder{counter: &n}
	c.w = w
	for at := 0; at < len(w.pieces) || at == 0; at += simChunk {
		c.message(head, w.pieces[at:min(at+simChunk, len(w.pieces))], sep, tail)
	}
	for b, ok := range w.seen {
		if ok && n.lit[b] == 0 {
			n.lit[b] = 1
		}
	}
	n.lit[endBlock] = max(n.lit[endBlock], 1)
	litLens := codeLengths(n.lit[:], maxCodeLen)
	distLens := codeLengths(n.dist[:], maxCodeLen)
	copy(w.lit[:], canonical(litLens))
	copy(w.dist[:], canonical(distLens))
	for b := range w.litCost {
		w.litCost[b] = w.lit[b].len
	}
	for n := minMatch; n <= maxMatch; n++ {
		lc := lengthCode[n]
		var t lenToken // nb 0: the code lacks the symbol
		if l := w.lit[257+int(lc)]; l.len != 0 {
			t = lenToken{bits: uint32(l.code) | uint32(n-int(lengthBase[lc]))<<l.len, nb: l.len + lengthExtra[lc]}
		}
		w.lenTok[n] = t
	}
	w.runCost = w.runCost[:0]
	for _, run := range w.runs {
		cost := 0
		for _, b := range run {
			cost += int(w.litCost[b])
		}
		w.runCost = append(w.runCost, uint32(cost))
	}
	var bw bitWriter
	writeHeader(&bw, litLens, distLens)
	w.head, w.headAcc, w.headN = bw.out, bw.acc, bw.n
	w.precode(head)
	w.sealed = true
}
