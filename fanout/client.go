package fanout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticker-io/ticker/ws"
)

// Client is one connection as the engine sees it: an outbound queue bounded
// in bytes, drained by the connection's writer, and subscription state owned
// by the engine goroutine.
//
// Overflow policy: when a data frame (snapshot or update) does not fit, every
// data frame still queued is dropped and the engine marks the client for a
// resync snapshot; replies (acks, errors, pongs) are kept. A reply that does
// not fit even then closes the client with 1008 "slow consumer".
type Client struct {
	deflate  bool
	maxBytes int

	mu         sync.Mutex
	q          []*Frame
	inflight   []*Frame // frames whose bytes the last Take handed to the writer
	control    [][]byte // control frames (ping, pong) to send first
	qBytes     int
	closeFrame []byte      // set once by Close
	closed     bool        // writer has taken closeFrame
	closing    atomic.Bool // closeFrame is set; read by the engine without the lock
	lastTake   time.Time
	dropped    int    // data frames dropped, since the engine last looked
	notify     func() // called, under mu, when there is something to write (SetNotify)

	// pending counts the client's subscribe and unsubscribe commands sent
	// to the engine and not yet handled (see Engine.Reply).
	pending atomic.Int32

	// Owned by the engine goroutine.
	registered  bool
	wildcard    bool
	subs        map[*symbol]struct{}
	resync      bool
	resyncSince time.Time
	mark        uint64             // window epoch the client was last touched in
	windowSyms  []*symbol          // scratch: its symbols that changed this window
	cad         *cadence           // the conflated cadence it gets updates at; nil: every window
	joined      map[*symbol]uint64 // seqs of snapshots sent since its cadence's last tick (cadence.go)

	allow Restriction // Restrict's, set before Register; nil: every symbol
}

// NewClient returns a client whose queue holds at most queueBytes of frames
// (one frame is always accepted into an empty queue, whatever its size).
// deflate says whether the connection negotiated permessage-deflate.
func NewClient(deflate bool, queueBytes int) *Client {
	return &Client{deflate: deflate, maxBytes: queueBytes,
		lastTake: time.Now(), subs: map[*symbol]struct{}{}}
}

// Deflate reports whether the client gets compressed frames.
func (c *Client) Deflate() bool { return c.deflate }

// SetNotify makes the client call f whenever it gains something to write
// (a frame, a control frame, a close): the writer's cue. f runs
// with the client's lock held: it must not block or call back into the
// client; starting a goroutine is fine. Call it before the client is used.
func (c *Client) SetNotify(f func()) { c.notify = f }

// Restriction is the set of symbols a client may see (its token's
// entitlements, access.Grant). Its methods are called on the engine's
// goroutine: they must be fast, and never change their answers.
type Restriction interface {
	Allows(symbol string) bool
	// Key names the set: two restrictions with the same key must allow the
	// same symbols. The engine filters a window's symbols once per key.
	Key() string
}

// Restrict limits the client to the symbols r allows: a subscribe to any
// other gets a forbidden error, and "*" delivers only the allowed symbols,
// present and future. Call it before the client is registered; nil allows
// everything.
func (c *Client) Restrict(r Restriction) { c.allow = r }

// allowed returns the symbols of syms that c may see, in c.windowSyms.
func (c *Client) allowed(syms []*symbol) []*symbol {
	out := c.windowSyms[:0]
	for _, s := range syms {
		if c.allow.Allows(s.name) {
			out = append(out, s)
		}
	}
	c.windowSyms = out
	return out
}

func (c *Client) signal() {
	if c.notify != nil {
		c.notify()
	}
}

// Pending reports whether Take would return something.
func (c *Client) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && (len(c.q) > 0 || len(c.control) > 0 || c.closeFrame != nil)
}

// QueuedBytes returns the bytes waiting to be written.
func (c *Client) QueuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.qBytes
}

// offer queues a frame. It reports false when a data frame overflowed the
// queue (the queued data was dropped; the caller must resync the client) or
// a reply could not fit (the client is now closing).
func (c *Client) offer(f *Frame) bool {
	n := f.size(c.deflate)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeFrame != nil {
		return true // closing: nothing more is sent, and nothing needs repair
	}
	if c.qBytes+n > c.maxBytes && len(c.q) > 0 {
		c.dropped += c.dropData()
		if f.kind == kindData {
			c.dropped++
			return false
		}
		if c.qBytes+n > c.maxBytes && len(c.q) > 0 {
			c.closeLocked(ws.ClosePolicy, "slow consumer")
			return false
		}
	}
	f.retain()
	c.q = append(c.q, f)
	c.qBytes += n
	c.signal()
	return true
}

// OfferControl queues a control frame (ping, pong) ahead of other frames.
// Control frames are tiny and bounded by the reader's rate; at most 16 wait.
func (c *Client) OfferControl(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeFrame != nil || len(c.control) >= 16 {
		return
	}
	c.control = append(c.control, frame)
	c.signal()
}

// Close asks the writer to send a close frame with code and reason and stop;
// queued frames are discarded. Only the first call to Close, Abort or
// Engine.CloseAfterReplies counts: Close reports whether it was that one.
func (c *Client) Close(code int, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeLocked(code, reason)
}

func (c *Client) closeLocked(code int, reason string) bool {
	if c.closeFrame != nil {
		return false
	}
	c.closeFrame = ws.CloseFrame(code, reason)
	c.closing.Store(true)
	c.dropQueue()
	c.signal()
	return true
}

// closeAfterReplies is Close, except that the replies already queued (acks,
// errors, pongs) are kept and written before the close frame; only market
// data is dropped.
func (c *Client) closeAfterReplies(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeFrame != nil {
		return
	}
	c.dropData()
	c.closeFrame = ws.CloseFrame(code, reason)
	c.closing.Store(true)
	c.signal()
}

// Abort stops the writer without sending a close frame: for a connection
// whose close frame was already sent by someone else (the WebSocket library
// answering a protocol error) or whose socket is gone.
func (c *Client) Abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeFrame != nil {
		return
	}
	c.closeFrame = []byte{}
	c.closing.Store(true)
	c.dropQueue()
	c.signal()
}

// dropData releases and forgets the queued data frames (snapshots and
// updates), keeping the replies in order, and returns how many it dropped.
// c.mu is held.
func (c *Client) dropData() int {
	kept := c.q[:0]
	bytes, dropped := 0, 0
	for _, f := range c.q {
		if f.kind == kindData {
			dropped++
			f.release()
			continue
		}
		kept = append(kept, f)
		bytes += f.size(c.deflate)
	}
	clear(c.q[len(kept):])
	c.q, c.qBytes = kept, bytes
	return dropped
}

// dropQueue releases and forgets the queued frames. c.mu is held.
func (c *Client) dropQueue() {
	for _, f := range c.q {
		f.release()
	}
	clear(c.q)
	c.q, c.qBytes = c.q[:0], 0
}

// CloseCode returns the code of the close frame Close or CloseAfterReplies
// set, or 0 (still open, or aborted without one).
func (c *Client) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.closeFrame) < 4 {
		return 0
	}
	return int(c.closeFrame[2])<<8 | int(c.closeFrame[3])
}

// Progressed tells the client that its writer, still inside one long
// write, has got bytes through: for the slow-consumer policy it counts as
// taking (a writer that is slow but moving is not stuck).
func (c *Client) Progressed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastTake = time.Now()
}

// Closing reports whether Close or Abort has been called.
func (c *Client) Closing() bool { return c.closing.Load() }

// Take appends the wire bytes of everything queued to dst, control frames
// first, and empties the queue. When the client is closing, the close frame
// comes last and closing is true; after that Take returns nothing.
//
// The bytes stay valid until the next call to Take, which is how the writer
// says it has written them: frames are pooled, and Take gives back the ones
// it handed out the time before.
func (c *Client) Take(dst [][]byte) (bufs [][]byte, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastTake = time.Now()
	for _, f := range c.inflight {
		f.release()
	}
	clear(c.inflight)
	c.inflight = c.inflight[:0]
	if c.closed {
		return dst, true
	}
	dst = append(dst, c.control...)
	clear(c.control)
	c.control = c.control[:0]
	for _, f := range c.q { // after Close or Abort, only the replies CloseAfterReplies kept
		dst = append(dst, f.Wire(c.deflate))
	}
	c.q, c.inflight = c.inflight, c.q // the frames are now the writer's until the next Take
	c.qBytes = 0
	if c.closeFrame != nil {
		c.closed = true
		if len(c.closeFrame) == 0 { // aborted
			return dst, true
		}
		return append(dst, c.closeFrame), true
	}
	return dst, false
}

// sinceTake returns how long the writer has not taken anything, and whether
// it has taken something after t.
func (c *Client) sinceTake(now, t time.Time) (idle time.Duration, tookAfter bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Sub(c.lastTake), c.lastTake.After(t)
}

// takeDropped returns and resets the count of dropped data frames.
func (c *Client) takeDropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.dropped
	c.dropped = 0
	return n
}
