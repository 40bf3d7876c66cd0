package splice

// precode codes, once the window's code is built, the literals of every
// run of structure and every value (and of the head Seal was given), so
// that a message copies bit strings instead of coding each byte.
func (w *Window) precode(head []byte) {
	var bw bitWriter
	bw.out = w.bits[:0]
	at := func() uint32 { return uint32(len(bw.out))*8 + uint32(bw.n) }
	lits := func(b []byte) {
		for _, x := range b {
			h := w.lit[x]
			bw.bits(uint32(h.code), h.len)
		}
	}
	w.runAt, w.runBits = w.runAt[:0], w.runBits[:0]
	for _, run := range w.runs {
		a := at()
		lits(run)
		w.runAt = append(w.runAt, a)
		w.runBits = append(w.runBits, at()-a)
	}
	w.cum = w.cum[:0]
	for _, p := range w.pieces {
		if p.opaque {
			a := at()
			lits(p.data)
			p.dataAt, p.dataBits = a, at()-a
			continue
		}
		for k := range p.parts {
			pt := &p.parts[k]
			a := at()
			pt.valAt, pt.cumAt = a, uint32(len(w.cum))
			w.cum = append(w.cum, 0)
			for _, x := range p.data[pt.val:pt.end] {
				h := w.lit[x]
				bw.bits(uint32(h.code), h.len)
				w.cum = append(w.cum, at()-a)
			}
			pt.valBits = at() - a
		}
	}
	w.sealHead = append(w.sealHead[:0], head...)
	w.headAt = at()
	lits(head)
	w.headBits = at() - w.headAt
	bw.flush()
	w.bits = append(bw.out, make([]byte, 8)...) // room for the last 8-byte load
}
