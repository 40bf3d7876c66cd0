package api

import (
	"crypto/tls"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ticker-io/ticker/ws"
)

// A peer that stops reading is found by what its TCP stack acknowledges,
// not by whether our writes return: the kernel's send buffer (autotuned up
// to megabytes) takes writes long after the peer stopped taking them, so a
// writer can look busy and healthy while nothing reaches the client. The
// ping sweeper asks the kernel, for each connection with bytes outstanding,
// how many bytes the peer has acknowledged; a connection that has bytes
// outstanding and whose peer acknowledged none for the engine's
// StuckTimeout is closed 1008 "slow consumer" (see closeSlow).

// sockets are the two views of one accepted connection that the handler
// needs besides the WebSocket library's: the connection to write frames to
// and close (TLS included), and the TCP socket under it, to ask the kernel
// about and to cut.
type sockets struct {
	nc  net.Conn        // what frames are written to: the TLS or TCP connection
	tcp *net.TCPConn    // the socket under nc; nil when it is not TCP
	raw syscall.RawConn // tcp's, for TCP_INFO; nil when tcp is
}

// socketsOf returns the views of c, the connection handOff's detach took
// from under fasthttp's wrapper (a wrapper, if one is still passed, is
// unwrapped: without KeepHijackedConns its Close does nothing, which would
// leave a stuck peer's socket open for as long as its handler waits).
func socketsOf(c net.Conn) sockets {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		c = u.UnsafeConn()
	}
	s := sockets{nc: c}
	under := c
	if tc, ok := c.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if tc, ok := under.(*net.TCPConn); ok {
		s.tcp = tc
		s.raw, _ = tc.SyscallConn()
	}
	return s
}

// tcpProgress returns how many bytes the peer has acknowledged and whether
// the kernel still holds bytes for it (sent and unacknowledged, or not yet
// sent). ok is false when the kernel could not be asked.
func tcpProgress(rc syscall.RawConn) (acked uint64, outstanding bool, ok bool) {
	var info *unix.TCPInfo
	var err error
	if rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }) != nil || err != nil {
		return 0, false, false
	}
	return info.Bytes_acked, info.Unacked > 0 || info.Notsent_bytes > 0, true
}

// watch is the sweeper's view of one connection's progress; only the
// sweeper goroutine touches it.
type watch struct {
	acked       uint64    // the peer's acknowledged bytes at the last look
	written     uint64    // c.written at the last look
	outstanding bool      // the kernel held bytes at the last look
	progressAt  time.Time // when the peer was last seen taking bytes, or owed nothing
}

// stalled reports how long the peer has taken nothing while owed bytes, and
// whether that exceeds limit.
func (c *conn) stalled(now time.Time, limit time.Duration) (time.Duration, bool) {
	w := &c.watch
	written := c.written.Load()
	since := c.writeSince.Load()
	if written == w.written && !w.outstanding && since == 0 {
		w.progressAt = now // nothing written since the peer had it all
		return 0, false
	}
	w.written = written
	if c.sock.raw != nil {
		if acked, outstanding, ok := tcpProgress(c.sock.raw); ok {
			w.outstanding = outstanding
			if !outstanding || acked != w.acked {
				w.acked, w.progressAt = acked, now
				return 0, false
			}
			idle := now.Sub(w.progressAt)
			return idle, idle > limit
		}
	}
	// no kernel to ask: a write blocked past the limit is the sign
	w.outstanding = false
	if since == 0 {
		w.progressAt = now
		return 0, false
	}
	idle := now.Sub(time.Unix(0, since))
	return idle, idle > limit
}

// closeSlow closes a connection whose peer has taken nothing for idle: the
// close frame goes out if the socket can still take it within CloseGrace,
// and the socket is cut either way (see force and finish).
func (c *conn) closeSlow(idle time.Duration) {
	c.slow.Store(true)
	if c.client.Close(ws.ClosePolicy, "slow consumer") {
		c.s.engine.Stats().SlowClosed.Add(1)
		c.s.log.Info("closed slow consumer", "stuck", idle.Round(time.Millisecond), "peer", c.sock.nc.RemoteAddr().String())
	}
}

// force bounds what is left of a closing connection: a write blocked on a
// peer that does not read fails within CloseGrace (and then the socket is
// cut), and the reader waits at most CloseGrace for the peer's close reply.
// It runs once, when the client starts closing, from kick.
func (c *conn) force() {
	end := time.Now().Add(c.s.cfg.CloseGrace)
	c.sock.nc.SetWriteDeadline(end)
	c.sock.nc.SetReadDeadline(end)
}

// finish closes the socket once the handler is done with it. A peer that
// was closed as slow, or whose write failed, may still have megabytes
// unread in the kernel: its socket is reset, which frees them at once (a
// FIN would wait behind them, for a reader that is not reading), and tells
// the peer the connection was cut rather than leaving it with half a frame
// and silence.
func (c *conn) finish() {
	if c.slow.Load() && c.sock.tcp != nil {
		c.sock.tcp.SetLinger(0)
		c.sock.tcp.Close()
	}
	c.sock.nc.Close()
}
