// Package fanout turns a stream of quotes into the ticker.v1 messages each
// subscriber receives.
//
// The Engine pops feed updates from a market.Ring and folds them into one
// market.State per symbol. Every coalescing window it publishes the symbols
// that changed (seq + 1 each), encodes each symbol's delta once, and builds
// for every subscriber the one `update` message holding the deltas of its
// symbols. Identical messages are built once per window, as complete
// WebSocket frames, and compressed once (permessage-deflate, no context
// takeover, klauspost/compress): every subscriber that gets the message gets
// the same bytes.
//
// A client that asked for an interval ("every", a multiple of the window)
// belongs to a cadence instead (cadence.go): the clients on one interval,
// who get, every k windows, one update of the net change of each of their
// symbols since the last, its entries saying the first seq they cover
// ("from"). A cadence's updates are built and compressed once per tick,
// as a window's are.
//
// A Client is one connection's side of the engine: its subscriptions
// (engine-owned) and its bounded outbound queue, which the connection's
// writer drains. When the queue overflows, its pending market data is
// dropped, never blocking the engine, and the client's next message is a
// `snapshot` with reason "resync"; a client that stays stuck is closed with
// 1008 "slow consumer".
//
// Goroutines: Engine.Run is the only long-lived one, run and stopped by the
// caller through its context; with more than one compressor
// (Config.CompressWorkers, parallel.go) a flush starts workers that end
// before it returns. All subscription state belongs to it; other
// goroutines reach it through commands (Subscribe, Unsubscribe, Register,
// Unregister) and read published quotes through a lock held briefly at each
// flush.
package fanout
