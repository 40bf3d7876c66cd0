package fanout

import (
	"context"
	"time"
)

type cmdKind uint8

const (
	cmdRegister cmdKind = iota
	cmdUnregister
	cmdSubscribe
	cmdUnsubscribe
	cmdPromote
	cmdDemote
	cmdRebase
	cmdReply
	cmdClose
)

type command struct {
	kind    cmdKind
	floors  map[string]uint64 // cmdPromote
	epoch   uint64            // cmdPromote
	c       *Client
	id      []byte
	symbols []string
	payload []byte        // cmdReply
	every   time.Duration // cmdSubscribe
	code    int           // cmdClose
	reason  string        // cmdClose
	counted bool          // sent by sendPending: handling it lowers c.pending
}

func (e *Engine) send(ctx context.Context, cmd command) error {
	select {
	case <-e.done:
		return ErrStopped
	default:
	}
	select {
	case e.cmds <- cmd:
		return nil
	case <-e.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Register adds a client. Its frames start with the replies to its first
// subscribe.
func (e *Engine) Register(ctx context.Context, c *Client) error {
	return e.send(ctx, command{kind: cmdRegister, c: c})
}

// Unregister removes a client and all its subscriptions.
func (e *Engine) Unregister(ctx context.Context, c *Client) error {
	return e.send(ctx, command{kind: cmdUnregister, c: c})
}

// Subscribe subscribes c to symbols ("*" for every symbol, present and
// future, that Restrict allows). The client receives, in order: an error
// per kind of refused symbol (forbidden, unknown_symbol, too_many_symbols),
// a "subscribed" ack listing the
// accepted symbols, and a "subscribe" snapshot of the newly subscribed
// symbols that have a quote. id is the request's raw JSON id, or nil.
// A symbol listed twice counts, and is acked, once.
func (e *Engine) Subscribe(ctx context.Context, c *Client, id []byte, symbols []string) error {
	return e.SubscribeEvery(ctx, c, id, symbols, 0)
}

// SubscribeEvery is Subscribe with an interval: every, when not zero, sets
// the cadence of c's whole subscription (a multiple of the window, at most
// protocol.MaxEvery; otherwise the request is refused with a bad_request
// error and nothing is subscribed). At an interval longer than the window,
// c gets at most one update per symbol per interval, carrying the net
// change since the last (conflated: each entry says the first seq it
// covers, "from"); the window itself is every window, as without it. A
// change of interval sends a "subscribe" snapshot of all c's symbols, from
// which the updates at the new interval continue. Zero keeps c's interval.
func (e *Engine) SubscribeEvery(ctx context.Context, c *Client, id []byte, symbols []string, every time.Duration) error {
	return e.sendPending(ctx, command{kind: cmdSubscribe, c: c, id: id, symbols: symbols, every: every})
}

// Unsubscribe removes symbols from c's subscriptions and acks them all, each
// once (unsubscribing what is not subscribed is not an error).
func (e *Engine) Unsubscribe(ctx context.Context, c *Client, id []byte, symbols []string) error {
	return e.sendPending(ctx, command{kind: cmdUnsubscribe, c: c, id: id, symbols: symbols})
}

// sendPending sends a command whose replies later replies must follow.
func (e *Engine) sendPending(ctx context.Context, cmd command) error {
	cmd.counted = true
	cmd.c.pending.Add(1)
	err := e.send(ctx, cmd)
	if err != nil {
		cmd.c.pending.Add(-1)
	}
	return err
}

// Reply queues payload (a pong or an error built with this package's
// Append functions) for c, after the replies to every subscribe and
// unsubscribe of c sent before it, so that a client gets its replies in the
// order of its requests. With none of them waiting, it is queued at once,
// without the engine; it must be called from the goroutine that sends c's
// Subscribe and Unsubscribe.
func (e *Engine) Reply(ctx context.Context, c *Client, payload []byte) error {
	if c.pending.Load() == 0 {
		e.reply(c, payload)
		return nil
	}
	// counted, so that a later reply cannot overtake this one by going direct
	return e.sendPending(ctx, command{kind: cmdReply, c: c, payload: payload})
}

// CloseAfterReplies closes c with code and reason once every reply owed to
// it has been queued: the replies to its earlier requests still in the
// engine, as Reply orders them. Its queued market data is dropped; its
// queued replies go out before the close frame. Like Reply, it must be
// called from the goroutine that sends c's requests.
func (e *Engine) CloseAfterReplies(ctx context.Context, c *Client, code int, reason string) {
	if c.pending.Load() == 0 {
		c.closeAfterReplies(code, reason)
		return
	}
	if e.sendPending(ctx, command{kind: cmdClose, c: c, code: code, reason: reason}) != nil {
		c.closeAfterReplies(code, reason) // the engine is gone: nothing more is owed
	}
}

func (e *Engine) handle(cmd command) {
	c := cmd.c
	switch cmd.kind {
	case cmdRegister:
		c.registered = true
		e.clients[c] = struct{}{}
		e.stats.Clients.Add(1)
	case cmdUnregister:
		if !c.registered {
			return
		}
		c.registered = false
		for s := range c.subs {
			e.dropSub(c, s)
		}
		clear(c.subs)
		if c.wildcard {
			e.dropWildcard(c)
		}
		e.setCadence(c, nil)
		delete(e.resyncing, c)
		delete(e.clients, c)
		e.stats.Clients.Add(-1)
	case cmdSubscribe:
		if c.registered {
			e.subscribe(c, cmd.id, unique(cmd.symbols), cmd.every)
		}
		if cmd.counted {
			c.pending.Add(-1)
		}
	case cmdUnsubscribe:
		if c.registered {
			e.unsubscribe(c, cmd.id, unique(cmd.symbols))
		}
		if cmd.counted {
			c.pending.Add(-1)
		}
	case cmdReply:
		if c.registered {
			e.reply(c, cmd.payload)
		}
		c.pending.Add(-1)
	case cmdClose:
		c.closeAfterReplies(cmd.code, cmd.reason)
		c.pending.Add(-1)
	case cmdPromote:
		e.promote(cmd.floors, cmd.epoch)
	case cmdDemote:
		if e.vers != nil {
			e.src = replicaOf(e.cfg)
			for _, s := range e.byID {
				s.jump = false // a version from elsewhere continues it now
			}
		}
	case cmdRebase:
		e.rebase(cmd.floors)
	}
}

// unique returns names without repeats, in first-seen order; it reuses
// names' array.
func unique(names []string) []string {
	if len(names) < 2 {
		return names
	}
	seen := make(map[string]struct{}, len(names))
	out := names[:0]
	for _, n := range names {
		if _, dup := seen[n]; !dup {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	return out
}
