package splice

import (
	"errors"
	"slices"
)

// ErrNotCoded is Append's answer when a message holds a piece or a byte
// the window was not sealed with: the caller compresses it another way.
var ErrNotCoded = errors.New("splice: the message holds a piece or byte its window was not sealed with")

// A Coder codes messages of sealed windows. It holds one message's
// bookkeeping, so each goroutine needs its own.
type Coder struct {
	w       *Window
	counter *counts // when simulating (Seal), the token counts; else nil
	bw      bitWriter
	pos     int32
	msg     uint32
	stamp   []uint32
	lastPos []int32
	lastVal [][]byte
	bad     bool
}

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
	w.sealed = true
}

// Append appends to dst the permessage-deflate payload of the message
// head, pieces joined by sep, tail: one dynamic block with the window's
// code, ended as a sync flush is, without the 00 00 ff ff that RFC 7692
// section 7.2.1 strips. With ErrNotCoded, dst is returned as it was.
func (c *Coder) Append(dst []byte, w *Window, head []byte, pieces []*Piece, sep byte, tail []byte) ([]byte, error) {
	if !w.sealed {
		return dst, errors.New("splice: Append on a window not sealed")
	}
	c.w = w
	c.counter = nil
	// room for what such messages take (a third to a half of the plain
	// bytes); spill grows it for a message that needs more, so that a
	// pooled buffer does not keep twice the plain size
	size := len(w.head) + 16 + len(head) + len(tail) + len(pieces)
	for _, p := range pieces {
		size += len(p.data) / 2
	}
	dst = slices.Grow(dst, size)
	c.bw = bitWriter{out: append(dst, w.head...), acc: w.headAcc, n: w.headN}
	c.bad = false
	c.message(head, pieces, sep, tail)
	if c.bad {
		return dst, ErrNotCoded
	}
	eob := w.lit[endBlock]
	c.bw.bits(uint32(eob.code), eob.len)
	c.bw.bits(0, 3) // an empty stored block's header: the peer's appended 00 00 ff ff completes it
	c.bw.flush()
	return c.bw.out, nil
}

// message walks one message: literals, and matches back to earlier runs
// of the same structure.
func (c *Coder) message(head []byte, pieces []*Piece, sep byte, tail []byte) {
	w := c.w
	if n := len(w.runs); len(c.stamp) < n {
		c.stamp = append(c.stamp, make([]uint32, n-len(c.stamp))...)
		c.lastPos = append(c.lastPos, make([]int32, n-len(c.lastPos))...)
		c.lastVal = append(c.lastVal, make([][]byte, n-len(c.lastVal))...)
	}
	c.msg++
	if c.msg == 0 { // wrapped: old stamps could look current
		clear(c.stamp)
		c.msg = 1
	}
	c.pos = 0
	c.lits(head)
	var prev *Piece
	for i, p := range pieces {
		if p.window != w.gen {
			c.bad = true
			return
		}
		if p.opaque {
			if prev != nil && !prev.opaque {
				c.lits(prev.data[prev.tail:])
			}
			if i > 0 {
				c.lits([]byte{sep})
			}
			c.lits(p.data)
			prev = p
			continue
		}
		first := p.parts[0]
		switch {
		case prev == nil:
			c.unit(p.ids[0], p.data[:first.val], p.data[first.val:first.end])
		case prev.opaque:
			c.lits([]byte{sep})
			c.unit(p.ids[0], p.data[:first.val], p.data[first.val:first.end])
		default:
			id, ok := w.join(prev, p)
			if !ok {
				c.bad = true
				return
			}
			c.unit(id, w.runs[id], p.data[first.val:first.end])
		}
		for k := 1; k < len(p.parts); k++ {
			pt := p.parts[k]
			c.unit(p.ids[k], p.data[pt.seg:pt.val], p.data[pt.val:pt.end])
		}
		prev = p
	}
	if prev != nil && !prev.opaque {
		c.lits(prev.data[prev.tail:])
	}
	c.lits(tail)
	if c.counter != nil {
		c.counter.lit[endBlock]++
	}
}

// unit codes a run of structure and the value after it: a match back to
// the run's last occurrence in this message, as long as the values there
// and here agree, when that costs fewer bits than literals.
func (c *Coder) unit(id uint32, run, val []byte) {
	at := c.pos
	if c.stamp[id] == c.msg {
		prevVal := c.lastVal[id]
		ext := 0
		for ext < len(val) && ext < len(prevVal) && val[ext] == prevVal[ext] {
			ext++
		}
		n := min(len(run)+ext, maxMatch)
		d := int(at - c.lastPos[id])
		if n >= minMatch && d <= maxDist && c.match(id, n, d, run, val) {
			if n < len(run) {
				c.lits(run[n:])
				c.lits(val)
			} else {
				c.lits(val[n-len(run):])
			}
			c.remember(id, at, val, len(run))
			return
		}
	}
	c.lits(run)
	c.lits(val)
	c.remember(id, at, val, len(run))
}

func (c *Coder) remember(id uint32, at int32, val []byte, runLen int) {
	c.stamp[id] = c.msg
	c.lastPos[id] = at
	c.lastVal[id] = val
	c.pos = at + int32(runLen+len(val))
}

// match codes a match of length n at distance d over the first n bytes of
// run then val, if the window's code has its symbols and it is cheaper than
// their literals; it reports whether it did.
func (c *Coder) match(id uint32, n, d int, run, val []byte) bool {
	lc := lengthCode[n]
	dc := distCode(d)
	if c.counter != nil {
		c.counter.lit[257+int(lc)]++
		c.counter.dist[dc]++
		return true
	}
	w := c.w
	l, dd := w.lit[257+int(lc)], w.dist[dc]
	if l.len == 0 || dd.len == 0 {
		return false
	}
	cost := int(l.len) + int(lengthExtra[lc]) + int(dd.len) + int(distExtra[dc])
	lit := 0
	if n >= len(run) {
		lit = int(w.runCost[id])
		for _, b := range val[:n-len(run)] {
			lit += int(w.litCost[b])
		}
	} else {
		for _, b := range run[:n] {
			lit += int(w.litCost[b])
		}
	}
	if lit <= cost {
		return false
	}
	c.bw.bits(uint32(l.code), l.len)
	if e := lengthExtra[lc]; e > 0 {
		c.bw.bits(uint32(n-int(lengthBase[lc])), e)
	}
	c.bw.bits(uint32(dd.code), dd.len)
	if e := distExtra[dc]; e > 0 {
		c.bw.bits(uint32(d-int(distBase[dc])), e)
	}
	return true
}

// lits codes bytes as literals.
func (c *Coder) lits(b []byte) {
	if c.counter != nil {
		for _, x := range b {
			c.counter.lit[x]++
		}
		return
	}
	lit := &c.w.lit
	acc, n := c.bw.acc, c.bw.n
	for _, x := range b {
		h := lit[x]
		if h.len == 0 {
			c.bad = true
			break
		}
		acc |= uint64(h.code) << n
		n += uint(h.len)
		if n >= 48 {
			c.bw.acc, c.bw.n = acc, n
			c.bw.spill()
			acc, n = c.bw.acc, c.bw.n
		}
	}
	c.bw.acc, c.bw.n = acc, n
}
