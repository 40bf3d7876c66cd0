package fanout

import (
	"time"

	"github.com/ticker-io/ticker/ws"
)

// resync sends c a snapshot of everything it subscribes to once its writer
// has made progress since the overflow (building snapshots for a writer that
// is still blocked would only overflow again), or closes it if the writer
// has been stuck past the limit.
func (e *Engine) resync(c *Client, tm int64, now time.Time) {
	if c.Closing() {
		delete(e.resyncing, c)
		return
	}
	idle, progressed := c.sinceTake(now, c.resyncSince)
	if idle > e.cfg.StuckTimeout {
		if c.Close(ws.ClosePolicy, "slow consumer") {
			e.stats.SlowClosed.Add(1)
		}
		delete(e.resyncing, c)
		e.log.Info("closed slow consumer", "stuck", idle.Round(time.Millisecond))
		return
	}
	if !progressed {
		return
	}
	syms := e.subscribed(c)
	f := e.snapshotFrame(syms, "resync", tm)
	c.resync = false // offerData sets it again on overflow
	c.cad.joined(c, syms)
	if f == nil {
		delete(e.resyncing, c)
		return
	}
	if e.offerData(c, f, &e.stats.Resyncs) {
		delete(e.resyncing, c)
	}
	f.release()
}
