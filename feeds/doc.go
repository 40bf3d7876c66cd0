// Package feeds produces market data: each Feed normalizes its source into
// market.Quotes (exact decimals, one Quote per update, only the fields that
// the update names) and pushes them into a Sink, in practice the fanout
// engine's ring.
//
// Kinds: Synthetic (a deterministic random walk over equities, crypto, FX and
// futures with realistic ticks, spreads and sizes, trades at the touch),
// Replay (a recorded NDJSON fixture in the ticker.v1 format, read with
// protocol.ParseLine), and the venue adapters Binance and Coinbase (live
// streams on one reconnecting upstream session, upstream.go). Parse builds
// a Feed from a spec such as "replay:fixtures/crypto.ndjson?speed=2&loop=true".
//
// A Set owns the goroutines of its feeds: Start launches one per feed, Wait
// returns when all have ended (their context cancelled or their input
// finished). The Set also tracks readiness and per-feed counters.
package feeds
