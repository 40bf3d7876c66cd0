package splice

import (
	"encoding/binary"
	"errors"
	"math/bits"
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
	last    []lastRun // run id → its last occurrence in the message
	bad     bool
}

// lastRun is where a run of structure last occurred in the message being
// coded (when stamp is the message's number) and the value after it: kept
// together, one cache line a lookup.
type lastRun struct {
	stamp uint32
	pos   int32
	val   []byte
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
	if n := len(w.runs); len(c.last) < n {
		c.last = append(c.last, make([]lastRun, n-len(c.last))...)
	}
	c.msg++
	if c.msg == 0 { // wrapped: old stamps could look current
		clear(c.last)
		c.msg = 1
	}
	c.pos = 0
	if c.counter == nil && string(head) == string(w.sealHead) {
		c.bw.copyBits(w.bits, w.headAt, w.headBits)
		c.pos = int32(len(head))
	} else {
		c.lits(head)
	}
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
			if c.counter != nil {
				c.lits(p.data)
			} else {
				c.bw.copyBits(w.bits, p.dataAt, p.dataBits)
				c.pos += int32(len(p.data))
			}
			prev = p
			continue
		}
		first := p.parts[0]
		switch {
		case prev == nil:
			c.unit(p, 0, first.id, first.val-first.seg)
		case prev.opaque:
			c.lits([]byte{sep})
			c.unit(p, 0, first.id, first.val-first.seg)
		default:
			id := w.join(prev, p)
			c.unit(p, 0, id, int32(len(w.runs[id])))
		}
		for k := 1; k < len(p.parts); k++ {
			pt := &p.parts[k]
			c.unit(p, k, pt.id, pt.val-pt.seg)
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

// unit codes run id (runLen bytes) and the value after it, p's part k: a
// match back to the run's last occurrence in this message, as long as the
// values there and here agree, when that costs fewer bits than literals.
func (c *Coder) unit(p *Piece, k int, id uint32, runLen int32) {
	pt := &p.parts[k]
	val := p.data[pt.val:pt.end]
	at := c.pos
	if last := &c.last[id]; last.stamp == c.msg {
		ext := commonPrefix(val, last.val)
		n := min(int(runLen)+ext, maxMatch)
		d := int(at - last.pos)
		if n >= minMatch && d <= maxDist && c.match(p, k, id, n, d, int(runLen)) {
			switch {
			case c.counter != nil:
				if n < int(runLen) {
					c.lits(c.w.runs[id][n:])
					c.lits(val)
				} else {
					c.lits(val[n-int(runLen):])
				}
			case n < int(runLen): // a run longer than a match
				c.lits(c.w.runs[id][n:])
				c.value(p, k, 0)
			default:
				c.value(p, k, n-int(runLen))
			}
			c.remember(id, at, val, runLen)
			return
		}
	}
	if c.counter != nil {
		c.lits(c.w.runs[id])
		c.lits(val)
	} else {
		c.bw.copyBits(c.w.bits, c.w.runAt[id], c.w.runBits[id])
		c.value(p, k, 0)
	}
	c.remember(id, at, val, runLen)
}

// value copies the precoded literals of p's value k from its byte from
// on.
func (c *Coder) value(p *Piece, k, from int) {
	pt := &p.parts[k]
	at, n := pt.valAt, pt.valBits
	if from > 0 {
		skip := c.w.cum[int(pt.cumAt)+from]
		at, n = at+skip, n-skip
	}
	if n > 0 {
		c.bw.copyBits(c.w.bits, at, n)
	}
}

func (c *Coder) remember(id uint32, at int32, val []byte, runLen int32) {
	c.last[id] = lastRun{stamp: c.msg, pos: at, val: val}
	c.pos = at + runLen + int32(len(val))
}

// match codes a match of length n at distance d over the first n bytes of
// run id (runLen bytes) then p's value k, if the window's code has its
// symbols and it is cheaper than their literals; it reports whether it did.
func (c *Coder) match(p *Piece, k int, id uint32, n, d, runLen int) bool {
	dc := distCode(d)
	if c.counter != nil {
		c.counter.lit[257+int(lengthCode[n])]++
		c.counter.dist[dc]++
		return true
	}
	w := c.w
	l, dd := w.lenTok[n], w.dist[dc]
	if l.nb == 0 || dd.len == 0 {
		return false
	}
	cost := uint32(l.nb) + uint32(dd.len) + uint32(distExtra[dc])
	var lit uint32
	if n >= runLen {
		lit = w.runBits[id]
		if n > runLen {
			lit += w.cum[int(p.parts[k].cumAt)+n-runLen]
		}
	} else {
		for _, b := range w.runs[id][:n] {
			lit += uint32(w.litCost[b])
		}
	}
	if lit <= cost {
		return false
	}
	c.bw.bits(l.bits, l.nb)
	c.bw.bits(uint32(dd.code)|uint32(d-int(distBase[dc]))<<dd.len, dd.len+distExtra[dc])
	return true
}

// lits codes bytes as literals.
func (c *Coder) lits(b []byte) {
	c.pos += int32(len(b))
	if c.counter != nil {
		for _, x := range b {
			c.counter.lit[x]++
		}
		return
	}
	lit := &c.w.lit
	for _, x := range b {
		h := lit[x]
		if h.len == 0 {
			c.bad = true
			return
		}
		c.bw.bits(uint32(h.code), h.len)
	}
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}
