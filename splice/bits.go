package splice

import "encoding/binary"

// bitWriter writes deflate's bit stream: least significant bit first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint // bits held in acc, < 32 between calls
}

// bits writes the nb low bits of v (nb <= 32; v has no bits above them).
func (w *bitWriter) bits(v uint32, nb uint8) {
	w.acc |= uint64(v) << w.n
	w.n += uint(nb)
	if w.n >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.n -= 32
	}
}

// copyBits writes n bits of src (a bit stream padded for 8-byte loads),
// from bit at on.
func (w *bitWriter) copyBits(src []byte, at, n uint32) {
	for n > 0 {
		k := min(n, 32)
		v := binary.LittleEndian.Uint64(src[at>>3:]) >> (at & 7)
		w.bits(uint32(v)&uint32(uint64(1)<<k-1), uint8(k))
		at += k
		n -= k
	}
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
