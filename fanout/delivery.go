package fanout

import (
	"slices"
	"time"

	"github.com/ticker-io/ticker/market"
)

func (e *Engine) flush(now time.Time) {
	start := time.Now()
	if !e.lastFlush.IsZero() {
		e.stats.Interval.Observe(start.Sub(e.lastFlush))
	}
	e.lastFlush = start
	e.held = e.holding.Load()
	e.epoch++
	changed := e.changed[:0]
	var d market.Quote
	again := e.again[:0]
	for _, s := range e.dirty {
		s.dirty = false
		if len(s.queue) > 0 {
			changed = e.nextVersion(s, changed)
			if len(s.queue) > 0 {
				s.dirty = true
				again = append(again, s)
			}
			continue
		}
		var wait bool
		if changed, wait = e.src.publish(e, s, &d, changed); wait {
			s.dirty = true
			again = append(again, s)
		}
	}
	clear(e.dirty)
	e.dirty, e.again = append(e.dirty[:0], again...), again[:0]
	slices.SortFunc(changed, func(a, b *symbol) int { return a.id - b.id })
	e.changed = changed
	if len(changed) > 0 || len(e.repaired) > 0 {
		e.stats.Versions.Add(uint64(len(changed)))
		e.pubMu.Lock()
		for _, s := range changed {
			e.pub[s.name] = s.state.Published()
		}
		for _, s := range e.repaired {
			e.pub[s.name] = s.state.Published()
		}
		e.pubMu.Unlock()
	}
	if t := e.cfg.Tap; t != nil && e.src.tapped(e) {
		for _, s := range changed {
			t.Version(s.delta, s.state.PublishedRef())
		}
		t.Window(now)
	}
	changed = e.jumped(changed)
	e.changed = changed

	tm := now.UnixMicro()
	if e.newStream {
		// each client's one snapshot holds all it has of the new stream,
		// this window's versions included, so no update follows it now
		e.newStream = false
		e.sendEpoch(tm)
		e.cadences.reset()
		e.stats.Flush.Observe(time.Since(start))
		return
	}
	e.cadences.repaired(e.repaired)
	e.sendRepaired(tm)
	touched := bySubscriber(e.touched[:0], changed, func(s *symbol) map[*Client]struct{} { return s.subs }, e.epoch)
	for _, c := range touched {
		e.deliver(c, c.windowSyms, tm, now)
	}
	if len(changed) > 0 {
		for c := range e.wildcards {
			if c.cad != nil {
				continue // a conflated cadence's: its updates come at its tick
			}
			c.mark = e.epoch
			if c.allow != nil {
				e.deliver(c, e.filtered.allowed(c, changed, e.epoch), tm, now) // a restricted "*": its symbols only
				continue
			}
			e.deliver(c, changed, tm, now)
		}
	}
	e.tickCadences(changed, tm, now)
	for c := range e.resyncing {
		if c.mark != e.epoch {
			e.deliver(c, nil, tm, now)
		}
	}
	e.compressDeferred()
	e.dropFrames()
	e.filtered.trim(len(e.wildcards))
	clear(touched)
	e.touched = touched[:0]
	e.stats.Flush.Observe(time.Since(start))
}

func (e *Engine) deliver(c *Client, syms []*symbol, tm int64, now time.Time) {
	if c.closing.Load() {
		return // its connection is going: build nothing for it
	}
	if c.resync {
		e.resync(c, tm, now)
		return
	}
	if len(syms) == 0 {
		return
	}
	f := e.updateFrame(syms, tm)
	if e.deferOffer(c, f) {
		return
	}
	e.offerData(c, f, &e.stats.UpdatesQueued)
}

// offerData queues a snapshot or update, first building the form the client
// needs, and marks the client for resync when its queue overflows.
func (e *Engine) offerData(c *Client, f *Frame, counter interface{ Add(uint64) uint64 }) bool {
	e.prepare(f, c.deflate)
	if c.offer(f) {
		counter.Add(1)
		return true
	}
	e.stats.Drops.Add(uint64(c.takeDropped()))
	if !c.resync && !c.Closing() {
		c.resync = true
		c.resyncSince = time.Now()
		e.resyncing[c] = struct{}{}
	}
	return false
}

// bySubscriber groups syms by explicit subscriber (a "*" subscriber gets
// its own message): each client subscribed to some of them, by subsOf,
// gets them in windowSyms, in syms' order, marked with epoch, and is
// appended to touched once.
func bySubscriber(touched []*Client, syms []*symbol, subsOf func(*symbol) map[*Client]struct{}, epoch uint64) []*Client {
	for _, s := range syms {
		for c := range subsOf(s) {
			if c.wildcard {
				continue
			}
			if c.mark != epoch {
				c.mark = epoch
				c.windowSyms = c.windowSyms[:0]
				touched = append(touched, c)
			}
			c.windowSyms = append(c.windowSyms, s)
		}
	}
	return touched
}
