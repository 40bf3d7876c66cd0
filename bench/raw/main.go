// Command raw is the machine's limit that bench measures ticker against:
// a trivial server that writes one pre-built frame of --frame-bytes to
// every connection once per --window, one write each, and nothing else.
// No encoding, no compression, no queues: what is left is the cost of the
// writes themselves. bench runs it with the same load generator, the same
// connection count and a frame the size of ticker's average wire message
// in the same run (`go run ./bench --vs-raw`).
//
// It speaks just enough of ticker.v1 for the load generator: /ws (the
// handshake; whatever the client sends is read and dropped), /api/symbols,
// /readyz and /metrics. Its frame is an "update" with no quotes, padded.
// It serves loopback only; it stops on SIGTERM or SIGINT.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ticker-io/ticker/ws"
)

type server struct {
	frame   []byte
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	writes  atomic.Uint64
	failed  atomic.Uint64
	symbols []string
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !ws.ValidKey(key) || !ws.HasToken(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", ws.AcceptKey(key))
	if err := brw.Flush(); err != nil {
		nc.Close()
		return
	}
	s.mu.Lock()
	s.conns[nc] = struct{}{}
	s.mu.Unlock()
	io.Copy(io.Discard, bufio.NewReader(brw)) // the client's messages, dropped; ends when it goes
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	nc.Close()
}

// tick writes the frame once to every connection, spread over as many
// goroutines as there are cores, each with its share.
func (s *server) tick() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for part := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := part; i < len(conns); i += n {
				c := conns[i]
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(s.frame); err != nil {
					s.failed.Add(1)
					continue
				}
				s.writes.Add(1)
			}
		}()
	}
	wg.Wait()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address (loopback)")
	frameBytes := flag.Int("frame-bytes", 850, "wire size of the frame written to every connection each window")
	window := flag.Duration("window", 50*time.Millisecond, "how often every connection gets the frame")
	symbols := flag.Int("symbols", 500, "symbols listed at /api/symbols (the load generator picks from them)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("raw: --addr %s: loopback only", *addr)
	}
	s := &server{conns: map[net.Conn]struct{}{}}
	for i := range *symbols {
		s.symbols = append(s.symbols, fmt.Sprintf("SYM%04d", i+1))
	}
	head := `{"type":"update","time":0,"quotes":[],"pad":"`
	payload := head + strings.Repeat("x", max(0, *frameBytes-ws.HeaderLen(*frameBytes)-len(head)-2)) + `"}`
	s.frame = ws.AppendFrame(nil, ws.BitFin|ws.OpText, []byte(payload))

	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	mux.HandleFunc("/api/symbols", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"symbols":["%s"]}`, strings.Join(s.symbols, `","`))
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "raw_writes_total %d\nraw_write_failures_total %d\nticker_drops_total 0\n", s.writes.Load(), s.failed.Load())
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t := time.NewTicker(*window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			hs.Close()
			s.mu.Lock()
			for c := range s.conns {
				c.Close()
			}
			s.mu.Unlock()
			return
		case <-t.C:
			s.tick()
		}
	}
}
