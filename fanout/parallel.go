package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Compressing a window's distinct updates is most of a flush's work when
// subscribers are many and their symbol sets differ (each gets a message
// of its own). With more than one core, the flush hands those messages to
// workers, one compressor each, and queues them once all are done: a
// window's updates for deflate clients are deferred (deliver), compressed
// side by side (compressDeferred), then offered in the order they were
// delivered. With one worker (one core, GOMAXPROCS=1, or
// Config.CompressWorkers 1) nothing is deferred and the engine compresses
// each message as it queues it.

// parallelMin is the fewest distinct messages worth sharing among workers:
// below it, starting them costs more than it saves.
const parallelMin = 16

// deferredOffer is an update owed to a deflate client, queued once its
// frame is compressed.
type deferredOffer struct {
	c *Client
	f *Frame
}

// compressWorkers is the number of compressors a flush may use:
// Config.CompressWorkers, or the cores Go runs on when the engine is built.
func compressWorkers(configured int) int {
	if configured > 0 {
		return configured
	}
	return max(runtime.GOMAXPROCS(0), 1)
}

// deferOffer reports whether f's offer to c waits for compressDeferred (and
// records it).
func (e *Engine) deferOffer(c *Client, f *Frame) bool {
	if len(e.comps) == 0 || !c.deflate || f.deflated != nil {
		return false
	}
	if !f.jobbed {
		f.jobbed = true
		e.jobs = append(e.jobs, f)
	}
	e.deferred = append(e.deferred, deferredOffer{c, f})
	return true
}

// compressDeferred compresses the window's deferred frames, on every
// worker when there are enough of them, within the window's compression
// budget (what is left of it is assembled from pieces, on the engine's
// goroutine), then offers each deferred update to its client.
func (e *Engine) compressDeferred() {
	jobs := e.jobs
	if len(jobs) > 0 {
		workers := min(len(e.comps)+1, max(len(jobs)/parallelMin, 1))
		var next atomic.Int64
		spent := atomic.Int64{}
		spent.Store(int64(e.compressSpent))
		budget := int64(e.compressBudget)
		work := func(comp *compressor) {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) || spent.Load() >= budget {
					return
				}
				f := jobs[i]
				e.buildPlain(f)
				t0 := time.Now()
				comp.deflate(f)
				spent.Add(int64(time.Since(t0)))
				e.stats.FramesDeflated.Add(1)
				e.stats.DeflateIn.Add(uint64(len(f.Payload())))
				e.stats.DeflateOut.Add(uint64(len(f.deflated)))
			}
		}
		var wg sync.WaitGroup
		for w := 1; w < workers; w++ {
			wg.Add(1)
			go func(comp *compressor) { defer wg.Done(); work(comp) }(e.comps[w-1])
		}
		work(e.comp)
		wg.Wait()
		e.compressSpent = time.Duration(spent.Load())
		for _, f := range jobs {
			f.jobbed = false
			if f.deflated == nil {
				e.assemble(f) // the budget ran out
			}
		}
	}
	for _, d := range e.deferred {
		e.offerData(d.c, d.f, &e.stats.UpdatesQueued)
	}
	clear(e.jobs)
	e.jobs = e.jobs[:0]
	clear(e.deferred)
	e.deferred = e.deferred[:0]
}
