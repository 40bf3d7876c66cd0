package api

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/feeds/venuetest"
)

// blackhole is a TCP relay on loopback that can freeze: it stops moving
// bytes in both directions but keeps both sockets open, as a peer that
// vanished without a FIN (power cut, dropped route) looks to the server.
type blackhole struct {
	ln     net.Listener
	frozen atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	done   chan struct{} // closed when the test ends
}

func newBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, done: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			b.mu.Lock()
			b.conns = append(b.conns, c, s)
			b.mu.Unlock()
			b.wg.Add(2)
			go b.pipe(c, s)
			go b.pipe(s, c)
		}
	}()
	t.Cleanup(func() {
		close(b.done)
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *blackhole) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for b.frozen.Load() { // holding the bytes: nothing reads or writes any more
			select {
			case <-b.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestHalfOpenClientIsCleanedUp: a client whose path goes silent without a
// FIN is found by the ping and idle timers and removed (connection,
// subscription, engine client), while a direct client keeps streaming.
func TestHalfOpenClientIsCleanedUp(t *testing.T) {
	ts := startServer(t, Config{PingInterval: 50 * time.Millisecond, IdleTimeout: 400 * time.Millisecond},
		fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=1")
	hole := newBlackhole(t, ts.addr)
	ghost := dial(t, "ws://"+hole.ln.Addr().String()+"/ws?symbols=*", true, nil)
	ghost.expect("update", 5*time.Second)
	direct := dial(t, ts.wsURL("?symbols=*"), true, nil)
	direct.expect("update", 5*time.Second)
	waitConns(t, ts, 2)

	hole.frozen.Store(true)
	start := time.Now()
	waitConns(t, ts, 1)
	t.Logf("half-open connection removed %v after its path froze", time.Since(start).Round(time.Millisecond))
	if n := ts.engine.Stats().Clients.Load(); n != 1 {
		t.Errorf("engine still has %d clients", n)
	}
	_, m := ts.get("/metrics")
	if got := metric(m, `ticker_closes_total{code="1008"}`); got < 1 {
		t.Errorf("no idle-timeout close counted: %v", got)
	}
	for i := 0; i < 5; i++ {
		direct.expect("update", 5*time.Second)
	}
}

// TestFaultyFeedDoesNotStallFanout: one feed floods (a fake venue sends as
// fast as it can), then drops its connection, then goes silent, while the
// subscriber of both feeds' symbols keeps getting updates of the healthy
// feed's symbols every few windows, gapless (the client checks every seq);
// /readyz and the metrics show each fault.
func TestFaultyFeedDoesNotStallFanout(t *testing.T) {
	venue := venuetest.Start(t, 1)
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond},
		"binance:btcusdt?url="+venue.URL("/stream")+"&silence=500ms",
		"synthetic:?symbols=5&rate=200&seed=1")
	c := venue.Next(t, 5*time.Second)

	const flood = 100000
	var sent atomic.Int64
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for i := 0; i < flood; i++ {
			msg := []byte(`{"stream":"btcusdt@bookTicker","data":{"u":` + itoa(i+1) + `,"s":"BTCUSDT","b":"9725` + itoa(i%10) + `.01","B":"1.5","a":"97260.02","A":"0.004"}}`)
			if c.Send(msg) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	waitReady(t, ts, 200)
	for _, s := range []string{"AAPL", "MSFT", "BTC-USD"} {
		waitQuote(t, ts, s) // ready means delivered; the snapshot needs the engine to have them
	}
	sub := dial(t, ts.wsURL("?symbols=AAPL,MSFT,BTC-USD"), true, nil)
	sub.expect("snapshot", 5*time.Second)

	// quiet counts updates that carry the healthy feed's symbols, reading
	// for d; a stalled engine would make read time out.
	quiet := func(d time.Duration) (updates, btc int) {
		t.Helper()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			m := sub.expect("update", 2*time.Second)
			for _, raw := range m.Quotes {
				q, _ := decodeQuote(raw)
				if q["s"] == "BTC-USD" {
					btc++
				} else {
					updates++
				}
			}
		}
		return
	}
	during, btc := 0, 0
	for {
		select {
		case <-flooding:
		default:
			u, b := quiet(100 * time.Millisecond)
			during, btc = during+u, btc+b
			continue
		}
		break
	}
	if sent.Load() != flood {
		t.Fatalf("flood cut short at %d", sent.Load())
	}
	if during < 5 || btc < 1 {
		t.Errorf("during the flood: %d updates of the healthy feed's symbols, %d of BTC-USD", during, btc)
	}
	if code, _ := ts.get("/readyz"); code != 200 {
		t.Errorf("/readyz during a flood: %d", code)
	}
	_, m := ts.get("/metrics")
	if got := metric(m, `ticker_feed_messages_total{feed="binance:btcusdt"}`); got < flood/2 {
		t.Errorf("flood not visible in metrics: %v", got)
	}
	t.Logf("flood: %d venue messages; meanwhile %d healthy-feed and %d BTC-USD symbol updates reached the subscriber, gapless", sent.Load(), during, btc)

	// Disconnect: the venue cuts the TCP connection and refuses nothing, but
	// the next session is not served for a while (Next is not called).
	c.Drop()
	waitReady(t, ts, 503)
	_, m = ts.get("/metrics")
	if got := metric(m, `ticker_feed_connected{feed="binance:btcusdt"}`); got != 0 {
		t.Errorf("ticker_feed_connected after a drop: %v", got)
	}
	if u, _ := quiet(300 * time.Millisecond); u < 3 {
		t.Errorf("only %d healthy-feed updates while the venue was down", u)
	}

	// Stall: the feed reconnects, delivers, then the venue goes silent; the
	// silence limit (500 ms) reconnects it, and meanwhile nothing stalls.
	c = venue.Next(t, 10*time.Second)
	if err := c.Send([]byte(`{"stream":"btcusdt@bookTicker","data":{"u":` + itoa(flood+1) + `,"s":"BTCUSDT","b":"97000.01","B":"1","a":"97000.02","A":"1"}}`)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ts, 200)
	if u, _ := quiet(1200 * time.Millisecond); u < 10 {
		t.Errorf("only %d healthy-feed updates while the venue was silent", u)
	}
	c.WaitGone(t, 5*time.Second) // the silence limit closed it
	_, m = ts.get("/metrics")
	if got := metric(m, `ticker_feed_reconnects_total{feed="binance:btcusdt"}`); got < 2 {
		t.Errorf("reconnects after a drop and a stall: %v", got)
	}
	t.Logf("drop and stall: /readyz went 503 and back, reconnects %v", metric(m, `ticker_feed_reconnects_total{feed="binance:btcusdt"}`))
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
