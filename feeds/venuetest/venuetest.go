// Package venuetest is a fake exchange for tests: a real WebSocket server
// on loopback that accepts connections, reads the client's subscribe
// requests, and hands each connection to the test to script (replay a
// fixture, drop the connection, go silent, send garbage). The server owns a
// goroutine per connection and stops them all in Close.
package venuetest

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// Server is a fake venue.
type Server struct {
	// Conns receives each accepted connection once its subscribe requests
	// have been read.
	Conns chan *Conn

	subscribes int
	ln         net.Listener
	srv        *http.Server
	mu         sync.Mutex
	open       []*Conn
	wg         sync.WaitGroup
}

// Conn is one client connection to the fake venue.
type Conn struct {
	// Subscribes are the client's first messages, as sent.
	Subscribes [][]byte
	// Pongs receives the payload of every pong the client sends.
	Pongs chan string
	// Gone is closed when the client has closed or dropped the connection.
	Gone chan struct{}

	ws *websocket.Conn
	wm sync.Mutex
}

// Start listens on 127.0.0.1 and expects each client to send subscribes
// messages before anything else. The server is closed when t ends.
func Start(t testing.TB, subscribes int) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Conns: make(chan *Conn, 16), subscribes: subscribes, ln: ln}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &Conn{ws: ws, Pongs: make(chan string, 16), Gone: make(chan struct{})}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < s.subscribes; i++ {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				ws.Close()
				return
			}
			c.Subscribes = append(c.Subscribes, msg)
		}
		ws.SetReadDeadline(time.Time{})
		ws.SetPongHandler(func(p string) error {
			select {
			case c.Pongs <- p:
			default:
			}
			return nil
		})
		s.mu.Lock()
		s.open = append(s.open, c)
		s.wg.Add(1)
		s.mu.Unlock()
		go func() { // reads until the client goes, so pongs and closes are seen
			defer s.wg.Done()
			defer close(c.Gone)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					ws.Close()
					return
				}
			}
		}()
		select {
		case s.Conns <- c:
		default:
			ws.Close()
		}
	})}
	go s.srv.Serve(ln)
	t.Cleanup(s.Close)
	return s
}

// URL returns the server's ws:// URL with path.
func (s *Server) URL(path string) string { return "ws://" + s.ln.Addr().String() + path }

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.srv.Close()
	s.mu.Lock()
	for _, c := range s.open {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Next waits for the next connection.
func (s *Server) Next(t testing.TB, within time.Duration) *Conn {
	t.Helper()
	select {
	case c := <-s.Conns:
		return c
	case <-time.After(within):
		t.Fatalf("no connection to the fake venue within %v", within)
		return nil
	}
}

// Send writes one text message.
func (c *Conn) Send(msg []byte) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// SendBinary writes one binary message.
func (c *Conn) SendBinary(msg []byte) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.BinaryMessage, msg)
}

// Ping sends a ping control frame with payload.
func (c *Conn) Ping(payload string) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	return c.ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(5*time.Second))
}

// Replay sends every line of a fixture file as one message.
func (c *Conn) Replay(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := c.Send(sc.Bytes()); err != nil {
			return n, err
		}
		n++
	}
	return n, sc.Err()
}

// Close ends the connection as a venue that closes cleanly does: a close
// frame with code and reason, then the TCP connection.
func (c *Conn) Close(code int, reason string) {
	c.wm.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(5*time.Second))
	c.wm.Unlock()
	c.ws.Close()
}

// Drop cuts the TCP connection without a close frame, as a venue that
// crashes or a network that fails does.
func (c *Conn) Drop() { c.ws.UnderlyingConn().Close() }

// WaitGone waits until the client has left the connection.
func (c *Conn) WaitGone(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-c.Gone:
	case <-time.After(within):
		t.Fatalf("client still connected after %v", within)
	}
}
