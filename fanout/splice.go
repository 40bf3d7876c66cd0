package fanout

import (
	"github.com/ticker-io/ticker/protocol"
	"github.com/ticker-io/ticker/splice"
	"github.com/ticker-io/ticker/ws"
)

// Splicing (package splice): a window's updates for deflate clients are
// coded from its entries, each cut once, with one Huffman code for the
// window, instead of deflating every distinct message on its own; the
// matches between entries a whole-message deflate would find are kept, so
// the bytes stay close to it (bench/RESULTS.md) at a third of the CPU.

// spliceWindow is the splice window of a window's deltas, or of a cadence
// tick's entries, and the head of their updates.
type spliceWindow struct {
	w     *splice.Window
	epoch uint64 // the engine's window it was sealed in; 0: none yet
	head  []byte
}

var updateTail = []byte("]}")

// current reports whether sw was sealed in window epoch.
func (sw *spliceWindow) current(epoch uint64) bool { return sw.w != nil && sw.epoch == epoch }

// begin empties sw for window epoch; Add its entries, then seal.
func (sw *spliceWindow) begin(epoch uint64, timeMicros int64) {
	if sw.w == nil {
		sw.w = splice.NewWindow()
	}
	sw.w.Reset()
	sw.epoch = epoch
	sw.head = protocol.AppendQuotesHead(sw.head[:0], "update", "", timeMicros)
}

func (sw *spliceWindow) seal() { sw.w.Seal(sw.head, ',', updateTail) }

// splice fills f.deflated with its update coded by comp from the entries'
// splice window, and reports whether it could (false: compress it whole).
// Called on a worker, the window must already be sealed (compressDeferred).
func (e *Engine) splice(f *Frame, comp *compressor) bool {
	sw := f.src.spliced(e, f.timeMicros)
	comp.pieces = comp.pieces[:0]
	plainLen := len(sw.head) + len(updateTail) + max(len(f.syms)-1, 0)
	for _, s := range f.syms {
		p := f.src.piece(s)
		comp.pieces = append(comp.pieces, p)
		plainLen += p.Len()
	}
	buf, err := comp.coder.Append(append(f.dbuf[:0], zeroHeader[:]...), sw.w, sw.head, comp.pieces, ',', updateTail)
	clear(comp.pieces)
	if err != nil {
		return false
	}
	n := len(buf) - maxHeaderLen
	if n >= plainLen {
		e.buildPlain(f)
		f.deflated = f.plain // it does not pay
		return true
	}
	at := ws.PutHeader(buf, maxHeaderLen, ws.BitFin|ws.BitRSV1|ws.OpText, n)
	f.dbuf = buf
	f.deflated = buf[at:]
	e.stats.FramesAssembled.Add(1)
	e.stats.DeflateIn.Add(uint64(plainLen))
	e.stats.DeflateOut.Add(uint64(len(f.deflated)))
	return true
}
