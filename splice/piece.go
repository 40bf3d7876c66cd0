package splice

// A Piece is one entry of a window (a flat JSON object: a symbol's delta),
// cut into runs of structure and the values between them. It is added to
// a Window once per window and may then be part of any number of that
// window's messages.
type Piece struct {
	data   []byte
	parts  []part // data[parts[i].seg:parts[i].val] is structure, data[val:end] a value
	tail   int    // data[tail:] is the structure after the last value
	tailID uint32
	// numbered at Seal: the window's index of its tail and first run (for
	// joins), and where its values' literals are coded
	tailIdx, firstIdx int32
	dataAt, dataBits  uint32 // an opaque piece's whole entry
	opaque            bool   // not a flat object of plain values: all structure, never matched
	window            uint64
}

// part is a run of structure and the value after it: data[seg:val] and
// data[val:end]; id numbers the run in its window, and valAt, valBits and
// cumAt say where the value's literals are coded and how long they are
// (Seal).
type part struct {
	seg, val, end         int32
	id                    uint32
	valAt, valBits, cumAt uint32
}

// Len is the length of the piece's entry.
func (p *Piece) Len() int { return len(p.data) }

// cut splits an entry into structure and values. Keys are structure;
// strings' contents and numbers (and true, false, null) are values. An
// entry it cannot read as a flat object without escapes is opaque.
func (p *Piece) cut(data []byte) {
	p.data = data
	p.parts = p.parts[:0]
	p.opaque = false
	p.tail = 0
	if len(data) >= 1<<31 {
		p.opaque = true
		return
	}
	seg := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\\', '[', ']':
			p.opaque, p.parts = true, p.parts[:0]
			return
		case '"': // a key (values are read at their colon)
			j := i + 1
			for j < len(data) && data[j] != '"' && data[j] != '\\' {
				j++
			}
			if j == len(data) || data[j] == '\\' {
				p.opaque, p.parts = true, p.parts[:0]
				return
			}
			i = j
		case ':':
			v, str := i+1, i+1 < len(data) && data[i+1] == '"'
			if str {
				v++
			}
			end := v
			for end < len(data) {
				c := data[end]
				if c == '\\' || c == '{' || c == '[' || str && c == '"' || !str && (c == ',' || c == '}') {
					break
				}
				end++
			}
			if end == len(data) || data[end] == '\\' || data[end] == '{' || data[end] == '[' {
				p.opaque, p.parts = true, p.parts[:0]
				return
			}
			p.parts = append(p.parts, part{seg: int32(seg), val: int32(v), end: int32(end)})
			seg = end // a string's closing quote starts the next run of structure
			i = end - 1
			if str {
				i = end // past the closing quote
			}
		}
	}
	p.tail = seg
}
