package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Compressing a window's distinct updates is most of a flush's work when
// subscribers are many and their symbol sets differ (each gets a message
// of its own). With more than one core, the flush hands those messages to
// workers, one compressor each, and queues them once all are done: a
// window's updates for deflate clients are deferred (deliver), compressed
// side by side (compressDeferred), then offered in the order they were
// delivered. With one worker (on one or two cores by default, or
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
// Config.CompressWorkers, or one per core Go runs on but one, left to the
// connections' writers (bench/RESULTS.md: on 2 cores, compressing on both
// made p99 worse and delivered no more).
func compressWorkers(configured int) int {
	if configured > 0 {
		return configured
	}
	return max(runtime.GOMAXPROCS(0)-1, 1)
}

// deferOffer reports whether f's offer to c waits for compressDeferred (and
// records it).
func (e *Engine) deferOffer(c *Client, f *Frame) bool {
	if len(e.comps) == 0 || !c.deflate || f.deflated != nil {
		return false
	}
	if !f.jobbed {
		f.jobbed, f.job = true, len(e.jobs)
		e.jobs = append(e.jobs, f)
	}
	e.deferred = append(e.deferred, deferredOffer{c, f})
	return true
}

// compressDeferred compresses the window's deferred frames, on every
// worker when there are enough of them, and offers each deferred update to
// its client as soon as its frame is ready: the frames go in batches, so
// that writers start on the first clients' messages while the later ones
// are compressed.
func (e *Engine) compressDeferred() {
	jobs, offers := e.jobs, e.deferred
	if len(jobs) > 0 {
		jobs[0].src.spliced(e, jobs[0].timeMicros) // sealed here, before the workers share it
	}
	offered := 0
	for done := 0; done < len(jobs); {
		batch := jobs[done:min(done+deferBatch, len(jobs))]
		e.compressBatch(batch)
		for _, f := range batch {
			f.jobbed = false
		}
		done += len(batch)
		// the offers whose frames are ready: jobs are appended in the order
		// offers first need them, so they are a prefix of the offers
		for offered < len(offers) && offers[offered].f.job < done {
			d := offers[offered]
			e.offerData(d.c, d.f, &e.stats.UpdatesQueued)
			offered++
		}
	}
	clear(e.jobs)
	e.jobs = e.jobs[:0]
	clear(e.deferred)
	e.deferred = e.deferred[:0]
}

// deferBatch is how many frames are compressed before the ready offers are
// queued.
const deferBatch = 512

// compressBatch compresses batch on as many workers as it is worth.
func (e *Engine) compressBatch(batch []*Frame) {
	workers := min(len(e.comps)+1, max(len(batch)/parallelMin, 1))
	var next atomic.Int64
	work := func(comp *compressor) {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(batch) {
				return
			}
			if f := batch[i]; f.src == nil || !e.splice(f, comp) {
				e.deflateWhole(f, comp)
			}
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(comp *compressor) { defer wg.Done(); work(comp) }(e.comps[w-1])
	}
	work(e.comp)
	wg.Wait()
}
