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
// A Store keeps a node's buckets open: file-backed by default, so that they
// outlive a NATS restart, and opened again after every reconnect, since a
// server with memory storage has lost them. Every delta and bucket value
// carries the stream's epoch (see NewEpoch): it changes only when no node
// and no bucket kept the stream's state, and an edge that sees a newer one
// starts every symbol again and resyncs its clients. An Ingest leader that
// loses NATS holds its engine and takes its lease back; see Ingest.
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
// context ends; a Store's Run owns the reopening loop; an Ingest's Run runs
// its Receiver while it stands by. Each returns when its context ends.
package cluster
