package splice

// Deflate's length and distance alphabets (RFC 1951 section 3.2.5).

const (
	endBlock   = 256
	numLitLen  = 286 // literal/length symbols a dynamic block may use
	numDist    = 30
	minMatch   = 3
	maxMatch   = 258
	maxDist    = 32768
	maxCodeLen = 15
)

var lengthBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
var lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
var distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
var distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

// lengthCode[l] is the length symbol's index (0..28, symbol 257+index) of
// match length l (3..258).
var lengthCode [maxMatch + 1]uint8

func init() {
	for c := range lengthBase {
		hi := maxMatch
		if c+1 < len(lengthBase) {
			hi = int(lengthBase[c+1]) - 1
		}
		for l := int(lengthBase[c]); l <= hi; l++ {
			lengthCode[l] = uint8(c)
		}
	}
	lengthCode[maxMatch] = 28
	for d := 1; d <= 256; d++ {
		distShort[d] = distSearch(d)
	}
	for i := 2; i < 256; i++ {
		distLong[i] = distSearch(i<<7 + 1)
	}
}

// distCode returns the distance symbol of distance d (1..32768): from
// distShort for 1..256, and for longer ones from distLong by (d-1)>>7 (the
// bases past 256 are all 128 apart or more, and 1 more than a multiple of
// 128).
func distCode(d int) uint8 {
	if d <= 256 {
		return distShort[d]
	}
	return distLong[(d-1)>>7]
}

var distShort [257]uint8
var distLong [256]uint8

// distSearch is distCode by search, to fill the tables: the last base <= d.
func distSearch(d int) uint8 {
	c := uint8(0)
	for i, b := range distBase {
		if int(b) <= d {
			c = uint8(i)
		}
	}
	return c
}

// codeLengthOrder is the order the code length code's lengths are sent in.
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
