package api

import (
	"bytes"
	"io"
	"net"
	"strings"
	"time"
)

// A hijacked connection (a WebSocket, an event stream) outlives its HTTP
// request by hours, but fasthttp keeps the request's RequestCtx, with its
// parsed headers, arguments and locals (about 3 KiB), until the hijack
// handler returns. So the handler returns at once: handOff takes the
// connection from fasthttp and serves it on a goroutine of its own, and
// fasthttp reuses the request for the next one. The server runs with
// fasthttp's KeepHijackedConns, so fasthttp leaves the socket open when the
// handler returns; handOff closes it when serving ends.
//
// Nothing the served connection keeps may point into the request: fiber's
// strings (c.Query, c.Get) do, unless copied (strings.Clone, cloneAll).

// handOff serves the hijacked connection hc with serve on a new goroutine and
// returns. serve gets the connection to write to and close, and a reader of
// what the client sent: bytes fasthttp read past the request come first.
// what names the connection in the log if serve panics. The goroutine's
// owner is the server: serve registers in Server.handlers, which Shutdown
// waits for, before it blocks on anything.
func (s *Server) handOff(hc net.Conn, what string, serve func(nc net.Conn, r io.Reader)) {
	nc, r := detach(hc)
	go func() {
		defer nc.Close() // fasthttp no longer does (KeepHijackedConns)
		defer func() {
			if r := recover(); r != nil {
				s.panics.Add(1)
				s.log.Error(what+" handler panic", "panic", r)
			}
		}()
		serve(nc, r)
	}()
}

// detach unwraps the connection fasthttp's Hijack hands over and returns
// it with a reader of the client's bytes. A client may send its first
// message with its request; fasthttp has then read it into a buffer of its
// own, which it takes back when the hijack handler returns, so those bytes
// are copied out first: with a read deadline in the past, the wrapper
// returns what that buffer holds and then a timeout, without reading the
// socket.
func detach(hc net.Conn) (net.Conn, io.Reader) {
	u, ok := hc.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return hc, hc // not fasthttp's wrapper: nothing buffered elsewhere
	}
	nc := u.UnsafeConn()
	nc.SetReadDeadline(time.Unix(1, 0))
	var ahead []byte
	var chunk [512]byte
	for len(ahead) < maxReadAhead {
		n, err := hc.Read(chunk[:])
		ahead = append(ahead, chunk[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	nc.SetReadDeadline(time.Time{})
	if len(ahead) == 0 {
		return nc, nc
	}
	return nc, io.MultiReader(bytes.NewReader(ahead), nc)
}

// maxReadAhead bounds what detach copies: fasthttp's read buffer (4 KiB by
// default) can hold no more.
const maxReadAhead = 64 << 10

// cloneAll copies strings that may point into a request's buffers.
func cloneAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
