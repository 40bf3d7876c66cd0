// Package rawws is a WebSocket client for tests that writes and reads every
// byte of the protocol itself: the HTTP upgrade, frame headers, masking and
// permessage-deflate. It is written apart from the server's code, so a test
// that uses it checks the server against RFC 6455 and RFC 7692 as written,
// not against the server's own reading of them; and it can send what a
// well-behaved library refuses to (bad RSV bits, bad lengths, bad UTF-8).
//
// Nothing here runs a goroutine: every call is made by the test that owns
// the connection.
package rawws

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// RSV1 is the RSV1 bit as WriteFrame's rsv takes it; permessage-deflate
// marks a compressed message with it (RFC 7692 §6).
const RSV1 = 0x4

// Options says how to dial.
type Options struct {
	Path       string   // request target; default "/ws"
	Header     []string // extra request header lines, "Name: value"
	RcvBuf     int      // SO_RCVBUF set before connecting; 0 leaves the OS default
	Timeout    time.Duration
	Extensions string // Sec-WebSocket-Extensions offered; "" offers none
}

// Conn is one raw client connection.
type Conn struct {
	NC      net.Conn
	BR      *bufio.Reader
	Resp    *http.Response
	Deflate bool // the server accepted permessage-deflate
}

// Dial opens a TCP connection to addr and performs the upgrade by hand.
// A response other than 101 is returned as an error that names its status,
// with Conn still set so that the test can look at the response.
func Dial(addr string, o Options) (*Conn, error) {
	if o.Path == "" {
		o.Path = "/ws"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	if o.RcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.RcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", o.Path, addr)
	req.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	if o.Extensions != "" {
		req.WriteString("Sec-WebSocket-Extensions: " + o.Extensions + "\r\n")
	}
	for _, h := range o.Header {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read handshake response: %w", err)
	}
	nc.SetDeadline(time.Time{})
	c := &Conn{NC: nc, BR: br, Resp: resp}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return c, fmt.Errorf("handshake: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		return c, fmt.Errorf("handshake: Sec-WebSocket-Accept %q", got)
	}
	c.Deflate = strings.HasPrefix(strings.TrimSpace(resp.Header.Get("Sec-WebSocket-Extensions")), "permessage-deflate")
	return c, nil
}

// Close closes the TCP connection.
func (c *Conn) Close() error { return c.NC.Close() }

// EncodeFrame builds one frame. rsv holds RSV1..RSV3 as bits 2..0 (RSV1 is
// 4). A nil mask sends the frame unmasked, as only a server may.
func EncodeFrame(fin bool, rsv, op byte, payload []byte, mask *[4]byte) []byte {
	b0 := rsv<<4 | op&0x0f
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0, 0}
	switch n := len(payload); {
	case n <= 125:
		out[1] = byte(n)
	case n <= 0xffff:
		out[1] = 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out[1] = 127
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if mask == nil {
		return append(out, payload...)
	}
	out[1] |= 0x80
	out = append(out, mask[:]...)
	start := len(out)
	out = append(out, payload...)
	for i := range payload {
		out[start+i] ^= mask[i%4]
	}
	return out
}

// WriteFrame writes one masked frame, as a client must.
func (c *Conn) WriteFrame(fin bool, rsv, op byte, payload []byte) error {
	var m [4]byte
	rand.Read(m[:])
	return c.Write(EncodeFrame(fin, rsv, op, payload, &m))
}

// Write writes raw bytes, within 5 s.
func (c *Conn) Write(b []byte) error {
	c.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.NC.Write(b)
	return err
}

// WriteText writes one unfragmented text message, compressed when the
// server accepted permessage-deflate.
func (c *Conn) WriteText(msg string) error {
	if c.Deflate {
		return c.WriteFrame(true, RSV1, OpText, Compress([]byte(msg)))
	}
	return c.WriteFrame(true, 0, OpText, []byte(msg))
}

// Frame is one frame as read off the wire.
type Frame struct {
	Fin     bool
	RSV     byte // RSV1..RSV3 as bits 2..0
	Op      byte
	Masked  bool
	Payload []byte
}

// ErrCutFrame is returned when the connection ends inside a frame.
var ErrCutFrame = errors.New("connection ended inside a frame")

// ReadFrame reads one frame, waiting at most d. A connection that ends
// between frames returns its error (io.EOF, a reset); one that ends inside
// a frame returns ErrCutFrame wrapping it.
func (c *Conn) ReadFrame(d time.Duration) (Frame, error) {
	c.NC.SetReadDeadline(time.Now().Add(d))
	var f Frame
	var h [2]byte
	if n, err := io.ReadFull(c.BR, h[:]); err != nil {
		if n > 0 {
			return f, fmt.Errorf("%w: %w", ErrCutFrame, err)
		}
		return f, err
	}
	cut := func(err error) (Frame, error) { return f, fmt.Errorf("%w: %w", ErrCutFrame, err) }
	f.Fin = h[0]&0x80 != 0
	f.RSV = h[0] >> 4 & 0x7
	f.Op = h[0] & 0x0f
	f.Masked = h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.BR, b[:]); err != nil {
			return cut(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.BR, b[:]); err != nil {
			return cut(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	if f.Masked {
		if _, err := io.ReadFull(c.BR, mask[:]); err != nil {
			return cut(err)
		}
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes: too large for a test", n)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.BR, f.Payload); err != nil {
		return cut(err)
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= mask[i%4]
		}
	}
	return f, nil
}

// Message is one data message or control frame, decompressed.
type Message struct {
	Op         byte
	Payload    []byte
	Compressed bool
}

// ReadMessage reads frames until one whole message (its fragments joined
// and, when RSV1 is set, inflated) or one control frame, within d in all.
func (c *Conn) ReadMessage(d time.Duration) (Message, error) {
	deadline := time.Now().Add(d)
	var m Message
	started := false
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return m, err
		}
		if f.Op >= OpClose {
			if !started {
				return Message{Op: f.Op, Payload: f.Payload}, nil
			}
			continue // a control frame inside a fragmented message: skipped here
		}
		if !started {
			m.Op, m.Compressed, started = f.Op, f.RSV&RSV1 != 0, true
		}
		m.Payload = append(m.Payload, f.Payload...)
		if f.Fin {
			break
		}
	}
	if m.Compressed {
		p, err := Inflate(m.Payload)
		if err != nil {
			return m, fmt.Errorf("inflate: %w", err)
		}
		m.Payload = p
	}
	return m, nil
}

// CloseCode returns the code and reason of a close frame's payload (1005,
// "" when it has none).
func CloseCode(payload []byte) (int, string) {
	if len(payload) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(payload)), string(payload[2:])
}

// ClosePayload builds a close frame's payload.
func ClosePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// Inflate decompresses one permessage-deflate message (RFC 7692 §7.2.2).
func Inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	defer r.Close()
	return io.ReadAll(r)
}

// Compress compresses one message as permessage-deflate sends it: a raw
// DEFLATE stream flushed to a byte boundary, its 00 00 ff ff tail removed.
func Compress(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// TCPState returns the kernel's TCP state of the connection (unix.BPF_TCP_*:
// 1 established, 7 closed, 8 close-wait, …) without reading from it.
func TCPState(nc net.Conn) (uint8, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return 0, fmt.Errorf("not a TCP connection: %T", nc)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, ierr
	}
	return info.State, nil
}
