package api

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
)

// BenchmarkConnWrite: one connection's write of one 700-byte frame to a
// loopback peer that reads and discards, as the flusher makes it for every
// message: the deadline, the write, the counters. Most of it is the
// kernel's; what is not is the write path's own cost per message.
func BenchmarkConnWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		peer, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, peer)
		peer.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	s := &Server{cfg: DefaultConfig(), stuck: 10 * time.Second}
	c := &conn{s: s, sock: socketsOf(nc), client: fanout.NewClient(true, 1<<20)}
	frame := make([]byte, 700)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		c.bufs = append(c.bufs[:0], frame)
		if err := c.write(false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteBounds: a write fails once the peer has taken nothing for the
// whole WriteTimeout, however its deadline was left by the writes before
// it; a peer that is slow but steady never makes it fail.
func TestWriteBounds(t *testing.T) {
	pair := func(t *testing.T) (server, peer net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { // small, before the window is set up
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		peer, err = d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server = <-accepted
		server.(*net.TCPConn).SetWriteBuffer(4096)
		t.Cleanup(func() { server.Close(); peer.Close() })
		return server, peer
	}
	const limit = 400 * time.Millisecond
	cfg := DefaultConfig()
	cfg.WriteTimeout = limit
	newConn := func(nc net.Conn) *conn {
		return &conn{s: &Server{cfg: cfg, stuck: limit}, sock: socketsOf(nc), client: fanout.NewClient(true, 1<<20)}
	}
	big := make([]byte, 8<<20)

	t.Run("stuck peer", func(t *testing.T) {
		nc, _ := pair(t)
		c := newConn(nc)
		c.bufs = [][]byte{make([]byte, 100)} // sets a deadline a stretch (100 ms) ahead
		if err := c.write(false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond) // less than half a stretch is left of it
		c.bufs = [][]byte{big}
		start := time.Now()
		err := c.write(false)
		took := time.Since(start)
		if !isTimeout(err) {
			t.Fatalf("a peer that reads nothing: %v, want a timeout", err)
		}
		if took < limit {
			t.Fatalf("failed after %v, before the peer had taken nothing for WriteTimeout %v", took, limit)
		}
	})
	t.Run("slow peer", func(t *testing.T) {
		nc, peer := pair(t)
		c := newConn(nc)
		done := make(chan struct{})
		defer close(done)
		msg := make([]byte, 512<<10)
		for i := range msg {
			msg[i] = byte(i * 7 / 251)
		}
		got := make(chan []byte, 1)
		go func() { // 16 KiB every 30 ms: slow, never still for the limit
			var all []byte
			defer func() { got <- all }()
			buf := make([]byte, 16<<10)
			for len(all) < len(msg) {
				select {
				case <-done:
					return
				case <-time.After(30 * time.Millisecond):
				}
				if _, err := io.ReadFull(peer, buf); err != nil {
					return
				}
				all = append(all, buf...)
			}
		}()
		c.bufs = [][]byte{msg}
		if err := c.write(false); err != nil {
			t.Fatalf("a slow but steady peer: %v", err)
		}
		// the write went out in many pieces, each stretch going on where the
		// last one stopped
		if all := <-got; !bytes.Equal(all, msg) {
			t.Fatalf("the peer read %d bytes, not the %d written", len(all), len(msg))
		}
	})
}
