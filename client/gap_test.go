package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticker-io/ticker/api"
)

// dropProxy passes a WebSocket connection on to the real server and drops
// the server's update frame number `drop` (counted from 1), as a lossy path
// would lose a message: the client sees a real gap in a real stream.
type dropProxy struct {
	ln      net.Listener
	dropped atomic.Int32
}

func startDropProxy(t *testing.T, server string, drop int) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("tcp", server)
			if err != nil {
				cc.Close()
				continue
			}
			t.Cleanup(func() { cc.Close(); sc.Close() })
			go func() { io.Copy(sc, cc); sc.Close() }()
			go p.serverToClient(sc, cc, drop)
		}
	}()
	return p
}

// serverToClient copies the handshake answer, then frame by frame (the
// client asks no deflate, so a frame's payload is its text).
func (p *dropProxy) serverToClient(sc, cc net.Conn, drop int) {
	defer cc.Close()
	br := bufio.NewReader(sc)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return
		}
		cc.Write(line)
		if string(line) == "\r\n" {
			break
		}
	}
	updates := 0
	for {
		var h [10]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return
		}
		n, hl := int(h[1]&0x7f), 2
		switch n {
		case 126:
			io.ReadFull(br, h[2:4])
			n, hl = int(binary.BigEndian.Uint16(h[2:4])), 4
		case 127:
			io.ReadFull(br, h[2:10])
			n, hl = int(binary.BigEndian.Uint64(h[2:10])), 10
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if h[0]&0x0f == 1 && bytes.HasPrefix(payload, []byte(`{"type":"update"`)) {
			if updates++; updates == drop {
				p.dropped.Add(1)
				continue
			}
		}
		cc.Write(append(h[:hl:hl], payload...))
	}
}

// TestClientRepairsGapUnderWildcard: a client subscribed to "*" that loses
// an update (dropped on its way from the real server) repairs every symbol
// it carried: under "*" a symbol's own subscribe brings no snapshot, so
// the client subscribes to "*" again, and its book ends equal to the
// server's, seq for seq.
func TestClientRepairsGapUnderWildcard(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", api.Config{}, "synthetic:?symbols=4&rate=200&seed=5")
	proxy := startDropProxy(t, srv.addr, 5)
	c := New(Options{URL: "ws://" + proxy.ln.Addr().String() + "/ws", Symbols: []string{"*"}, NoDeflate: true})
	run(t, c)
	eventually(t, "a gap seen", 10*time.Second, func() bool { return c.Gaps() > 0 })
	if proxy.dropped.Load() != 1 {
		t.Fatalf("dropped %d updates, want 1", proxy.dropped.Load())
	}
	// every symbol the server has keeps up again: its seq on the client
	// reaches (or passes) the server's seq now, without another gap
	for _, sym := range srv.engine.Symbols() {
		w, ok := srv.engine.Quote(sym)
		if !ok {
			continue
		}
		eventually(t, sym+" repaired", 10*time.Second, func() bool {
			q, ok := c.Quote(sym)
			return ok && q.Seq >= w.Seq
		})
	}
	gaps := c.Gaps()
	time.Sleep(300 * time.Millisecond)
	if c.Gaps() != gaps {
		t.Errorf("gaps went on after the repair: %d then %d", gaps, c.Gaps())
	}
}
