package splice

import (
	"math/bits"
	"slices"
)

// hcode is one symbol's Huffman code, bit-reversed for deflate's stream.
type hcode struct {
	code uint16
	len  uint8
}

// codeLengths returns Huffman code lengths for freq, none longer than
// limit: zero for symbols of zero frequency. With fewer than two used
// symbols, the used one (or symbol 0) and its neighbour get length 1, as
// decoders want a complete code.
func codeLengths(freq []uint32, limit uint8) []uint8 {
	lens := make([]uint8, len(freq))
	f := slices.Clone(freq)
	used := 0
	for _, v := range f {
		if v > 0 {
			used++
		}
	}
	if used < 2 {
		a := 0
		for i, v := range f {
			if v > 0 {
				a = i
			}
		}
		b := a + 1
		if b == len(f) {
			b = a - 1
		}
		lens[a], lens[b] = 1, 1
		return lens
	}
	for {
		if huffman(f, lens) <= limit {
			return lens
		}
		for i, v := range f { // flatten the distribution and try again
			if v > 0 {
				f[i] = v/2 + 1
			}
		}
	}
}

// huffman fills lens with the code lengths of an unlimited Huffman code for
// freq (two or more used symbols) and returns the longest.
func huffman(freq []uint32, lens []uint8) uint8 {
	type node struct {
		w           uint64
		left, right int // children, -1 for a leaf
		sym         int
	}
	nodes := make([]node, 0, 2*len(freq))
	for i, v := range freq {
		if v > 0 {
			nodes = append(nodes, node{w: uint64(v), left: -1, right: -1, sym: i})
		}
	}
	leaves := len(nodes)
	// two queues: the sorted leaves, and the merged nodes (made in
	// ascending weight order)
	order := make([]int, leaves)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case nodes[a].w < nodes[b].w:
			return -1
		case nodes[a].w > nodes[b].w:
			return 1
		}
		return nodes[a].sym - nodes[b].sym
	})
	li, mi := 0, leaves
	pick := func() int {
		if li < leaves && (mi >= len(nodes) || nodes[order[li]].w <= nodes[mi].w) {
			li++
			return order[li-1]
		}
		mi++
		return mi - 1
	}
	for n := leaves; n > 1; n-- {
		a, b := pick(), pick()
		nodes = append(nodes, node{w: nodes[a].w + nodes[b].w, left: a, right: b})
	}
	clear(lens)
	var longest uint8
	var walk func(i int, depth uint8)
	walk = func(i int, depth uint8) {
		if nodes[i].left < 0 {
			lens[nodes[i].sym] = depth
			longest = max(longest, depth)
			return
		}
		walk(nodes[i].left, depth+1)
		walk(nodes[i].right, depth+1)
	}
	walk(len(nodes)-1, 0)
	return longest
}

// canonical returns the canonical codes (RFC 1951 section 3.2.2) of lens,
// bit-reversed.
func canonical(lens []uint8) []hcode {
	var count [16]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]uint16
	code := uint16(0)
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	out := make([]hcode, len(lens))
	for i, l := range lens {
		if l == 0 {
			continue
		}
		out[i] = hcode{code: bits.Reverse16(next[l]) >> (16 - l), len: l}
		next[l]++
	}
	return out
}
