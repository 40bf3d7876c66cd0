package splice

import "encoding/binary"

// bitWriter writes deflate's bit stream: least significant bit first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint // bits held in acc, < 48 between calls
}

// bits writes the nb low bits of v (nb <= 16).
func (w *bitWriter) bits(v uint32, nb uint8) {
	w.acc |= uint64(v) << w.n
	w.n += uint(nb)
	if w.n >= 48 {
		w.spill()
	}
}

// spill moves six bytes of acc to out.
func (w *bitWriter) spill() {
	n := len(w.out)
	if cap(w.out)-n < 8 {
		w.out = append(w.out, make([]byte, 8)...)[:n]
	}
	binary.LittleEndian.PutUint64(w.out[n:n+8], w.acc)
	w.out = w.out[:n+6]
	w.acc >>= 48
	w.n -= 48
}

// flush writes the bits held, the last byte padded with zeros.
func (w *bitWriter) flush() {
	for w.n > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n = w.n - min(w.n, 8)
	}
	w.acc = 0
}
