package api

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Writers: a window queues a message to thousands of connections at once.
// Starting a goroutine for each (kick) costs a goroutine's creation and a
// place in the scheduler's queue per message, and with thousands of them
// queued the engine's own goroutine, once preempted, waits behind them all
// for its next turn: windows stretch. So a plain TCP connection's writes go
// first to a pool of one writer per core, which writes each socket without
// ever waiting for it (one non-blocking writev). A connection whose kernel
// buffer cannot take its whole queue then gets a flusher goroutine of its
// own for the rest, exactly as without the pool (deadlines, progress,
// slow-consumer policy: write). TLS connections and event streams always
// get their own.

// writerPool is the server's writers. Serve starts it; Shutdown stops it
// once every handler has returned.
type writerPool struct {
	ready chan *conn // bounded: a connection is in it at most once (its writing flag)
	quit  chan struct{}
	wg    sync.WaitGroup

	mu      sync.RWMutex
	running bool
}

// poolSlots is the room in the writers' queue: one per connection the
// server takes (with no limit, as many as one process may open here); a
// connection that finds it full gets a goroutine.
func poolSlots(maxConns int) int {
	if maxConns > 0 {
		return maxConns
	}
	return 20000
}

func newWriterPool(maxConns int) *writerPool {
	return &writerPool{ready: make(chan *conn, maxConns), quit: make(chan struct{})}
}

// start runs one writer per core.
func (p *writerPool) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	p.running = true
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go p.writer()
	}
}

// stop ends the writers; a connection still queued (none once the
// handlers have returned) gets a flusher of its own.
func (p *writerPool) stop() {
	p.mu.Lock()
	was := p.running
	p.running = false
	p.mu.Unlock()
	if !was {
		return
	}
	close(p.quit)
	p.wg.Wait()
	for {
		select {
		case c := <-p.ready:
			go c.flush()
		default:
			return
		}
	}
}

// submit hands c, whose flusher count is already raised, to a writer, and
// reports whether it could.
func (p *writerPool) submit(c *conn) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.running {
		return false
	}
	select {
	case p.ready <- c:
		return true
	default:
		return false
	}
}

func (p *writerPool) writer() {
	defer p.wg.Done()
	for {
		select {
		case <-p.quit:
			return
		case c := <-p.ready:
			c.run(true)
		}
	}
}

// pooled reports whether c's writes may go through the pool: a plain TCP
// WebSocket.
func (c *conn) pooled() bool {
	return c.events == nil && c.sock.raw != nil && c.sock.nc == c.sock.tcp
}

// writeNow writes c.bufs with one non-blocking writev and reports whether
// all of it went; if not, c.bufs is left holding what did not. An error is
// left to the blocking write that follows, which meets it again.
func (c *conn) writeNow() bool {
	total := 0
	for _, b := range c.bufs {
		total += len(b)
	}
	var n int
	var errno error
	err := c.sock.raw.Write(func(fd uintptr) bool {
		n, errno = unix.Writev(int(fd), c.bufs)
		return true // one attempt: never wait for the socket here
	})
	if err != nil || errno != nil || n <= 0 {
		return false
	}
	c.written.Add(uint64(n))
	c.s.bytesSent.Add(uint64(n))
	if n == total {
		return true
	}
	i := 0
	for n >= len(c.bufs[i]) {
		n -= len(c.bufs[i])
		i++
	}
	c.bufs[i] = c.bufs[i][n:]
	rest := copy(c.bufs, c.bufs[i:])
	clear(c.bufs[rest:])
	c.bufs = c.bufs[:rest]
	return false
}
