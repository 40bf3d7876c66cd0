package splice

// writeHeader writes a dynamic block's header (not final) for the code
// lengths of the literal/length and distance alphabets.
func writeHeader(w *bitWriter, litLens, distLens []uint8) {
	nlit := numLitLen
	for nlit > 257 && litLens[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && distLens[ndist-1] == 0 {
		ndist--
	}
	all := make([]uint8, 0, nlit+ndist)
	all = append(all, litLens[:nlit]...)
	all = append(all, distLens[:ndist]...)
	// run-length code the lengths: 16 repeats the previous 3-6 times, 17
	// and 18 are runs of zeros (3-10, 11-138)
	type rl struct{ sym, extra, nextra uint8 }
	var runs []rl
	for i := 0; i < len(all); {
		l := all[i]
		n := 1
		for i+n < len(all) && all[i+n] == l {
			n++
		}
		i += n
		if l == 0 {
			for n >= 11 {
				k := min(n, 138)
				runs = append(runs, rl{18, uint8(k - 11), 7})
				n -= k
			}
			if n >= 3 {
				runs = append(runs, rl{17, uint8(n - 3), 3})
				n = 0
			}
			for ; n > 0; n-- {
				runs = append(runs, rl{0, 0, 0})
			}
			continue
		}
		runs = append(runs, rl{l, 0, 0})
		n--
		for n >= 3 {
			k := min(n, 6)
			runs = append(runs, rl{16, uint8(k - 3), 2})
			n -= k
		}
		for ; n > 0; n-- {
			runs = append(runs, rl{l, 0, 0})
		}
	}
	freq := make([]uint32, 19)
	for _, r := range runs {
		freq[r.sym]++
	}
	clLens := codeLengths(freq, 7)
	clCodes := canonical(clLens)
	nclen := 19
	for nclen > 4 && clLens[codeLengthOrder[nclen-1]] == 0 {
		nclen--
	}
	w.bits(0, 1) // BFINAL: the message's end is a sync flush, not a final block
	w.bits(2, 2) // BTYPE 10: dynamic Huffman codes
	w.bits(uint32(nlit-257), 5)
	w.bits(uint32(ndist-1), 5)
	w.bits(uint32(nclen-4), 4)
	for _, s := range codeLengthOrder[:nclen] {
		w.bits(uint32(clLens[s]), 3)
	}
	for _, r := range runs {
		c := clCodes[r.sym]
		w.bits(uint32(c.code), c.len)
		if r.nextra > 0 {
			w.bits(uint32(r.extra), r.nextra)
		}
	}
}
