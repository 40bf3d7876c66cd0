package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/flate"
)

// wsConn is a minimal WebSocket client for load: it reads frames, answers
// pings, and for sampled connections inflates and hands over payloads; other
// connections only count frames and bytes.
type wsConn struct {
	nc      net.Conn
	br      *bufio.Reader
	deflate bool // negotiated
	buf     []byte
	infl    io.ReadCloser
	out     bytes.Buffer
}

// dialWS connects from local to hostport and upgrades with path (including
// its query). rcvbuf > 0 sets the socket's receive buffer (SO_RCVBUF).
func dialWS(ctx context.Context, local net.IP, hostport, path string, deflate bool, rcvbuf int) (*wsConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			return serr
		}
	}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	nc, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	rand.Read(k[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, hostport)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ticker.v1\r\n", base64.StdEncoding.EncodeToString(k[:]))
	if deflate {
		req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n")
	}
	req.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	nc.SetDeadline(time.Time{})
	return &wsConn{nc: nc, br: br, deflate: strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")}, nil
}

// frame is one received data frame.
type frame struct {
	op         byte
	compressed bool
	wireBytes  int    // header + payload as received
	payload    []byte // only when kept; inflated if it was compressed
}

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// next reads the next data or close frame. Pings are answered on the way.
// With keep, the payload is returned (and inflated); otherwise it is skipped.
func (c *wsConn) next(keep bool) (frame, error) {
	for {
		var h [10]byte
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return frame{}, err
		}
		f := frame{op: h[0] & 0x0f, compressed: h[0]&0x40 != 0}
		n := int64(h[1] & 0x7f)
		hdr := 2
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, h[2:4]); err != nil {
				return f, err
			}
			n, hdr = int64(binary.BigEndian.Uint16(h[2:4])), 4
		case 127:
			if _, err := io.ReadFull(c.br, h[2:10]); err != nil {
				return f, err
			}
			n, hdr = int64(binary.BigEndian.Uint64(h[2:10])), 10
		}
		f.wireBytes = hdr + int(n)
		control := f.op >= 0x8
		if keep || control {
			if cap(c.buf) < int(n) {
				c.buf = make([]byte, n)
			}
			c.buf = c.buf[:n]
			if _, err := io.ReadFull(c.br, c.buf); err != nil {
				return f, err
			}
		} else if _, err := c.br.Discard(int(n)); err != nil {
			return f, err
		}
		switch f.op {
		case 0x9: // ping
			if err := c.writeControl(0xA, c.buf); err != nil {
				return f, err
			}
			continue
		case 0xA:
			continue
		case 0x8:
			f.payload = c.buf
			return f, nil
		}
		if keep {
			f.payload = c.buf
			if f.compressed {
				p, err := c.inflate(c.buf)
				if err != nil {
					return f, err
				}
				f.payload = p
			}
		}
		return f, nil
	}
}

func (c *wsConn) inflate(p []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail))
	if c.infl == nil {
		c.infl = flate.NewReader(src)
	} else {
		c.infl.(flate.Resetter).Reset(src, nil)
	}
	c.out.Reset()
	_, err := c.out.ReadFrom(c.infl)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	return c.out.Bytes(), nil
}

// writeControl sends a masked control frame.
func (c *wsConn) writeControl(op byte, payload []byte) error {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	return c.writeFrame(op, payload)
}

// writeText sends a masked text frame (a client message).
func (c *wsConn) writeText(payload []byte) error { return c.writeFrame(0x1, payload) }

// writeFrame sends one masked, final, uncompressed frame.
func (c *wsConn) writeFrame(op byte, payload []byte) error {
	b := make([]byte, 0, 14+len(payload))
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i%4])
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

func (c *wsConn) close() {
	c.writeControl(0x8, []byte{0x03, 0xe8}) // 1000
	c.nc.Close()
}
