package fanout

import (
	"bytes"

	"github.com/klauspost/compress/flate"

	"github.com/ticker-io/ticker/splice"
	"github.com/ticker-io/ticker/ws"
)

// minCompressBytes: smaller payloads go out uncompressed, as RFC 7692 allows
// per message; deflate's framing would eat most of the gain.
const minCompressBytes = 128

// compressor deflates payloads for permessage-deflate with no context
// takeover: each message is a fresh deflate stream, flushed, without the
// final 00 00 ff ff (RFC 7692 section 7.2.1). It is owned by one goroutine.
type compressor struct {
	w   *flate.Writer
	out bytes.Buffer

	coder  splice.Coder    // and splices updates (splice.go)
	pieces []*splice.Piece // scratch: an update's pieces
}

func newCompressor(level int) *compressor {
	c := &compressor{}
	w, err := flate.NewWriter(&c.out, level)
	if err != nil {
		panic(err) // level is validated by Config
	}
	c.w = w
	return c
}

// deflate fills f.deflated. Payloads too small to gain, or that do not
// shrink, keep the plain frame.
func (c *compressor) deflate(f *Frame) {
	if f.deflated != nil {
		return
	}
	p := f.Payload()
	if len(p) < minCompressBytes {
		f.deflated = f.plain
		return
	}
	c.out.Reset()
	c.out.Write(zeroHeader[:]) // room for the header, filled in below
	c.w.Reset(&c.out)
	c.w.Write(p)
	c.w.Flush()
	buf := c.out.Bytes()
	buf = buf[:len(buf)-4] // strip 00 00 ff ff
	n := len(buf) - maxHeaderLen
	if n+maxHeaderLen >= len(f.plain) {
		f.deflated = f.plain
		return
	}
	at := ws.PutHeader(buf, maxHeaderLen, ws.BitFin|ws.BitRSV1|ws.OpText, n)
	f.dbuf = append(f.dbuf[:0], buf[at:]...)
	f.deflated = f.dbuf
}

var zeroHeader [maxHeaderLen]byte
