// Package cluster lets several ticker nodes share one stream over NATS.
//
// An ingest node runs the feeds and the one engine that versions quotes;
// its Publisher (a fanout.Tap) publishes every version's Delta on the
// symbol's subject and keeps the symbol's latest full Quote in a JetStream
// key-value bucket. Edge nodes run replica engines (fanout.Config.Replica)
// fed by a Receiver: it subscribes to the subjects of the symbols the
// edge's clients want (or to all of them while a client wants "*"), passes
// each symbol's deltas on in seq order, and when it sees a gap, joins late,
// or comes back after a NATS reconnect, fetches the symbol's full Quote
// from the bucket, which the replica turns into a resync snapshot for its
// clients. Versioning happens once, at ingest, so seq is the same on every
// node.
//
// Subjects and keys (see Token for the escaping of symbols):
//
//	ticker.q.<token>            a Delta, as ticker.v1 writes it (seq included)
//	ticker.symbols              a symbol published for the first time
//	ticker.bars                 request/reply: a symbol's bars, answered by the ingest leader (ServeBars, BarClient)
//	KV bucket ticker_quotes     key <token>: the symbol's latest full Quote
//
// Goroutines: a Publisher has none (it runs on the engine's goroutine);
// a Receiver's Run owns its loop and its fetch workers and returns when its
// context ends.
package cluster
