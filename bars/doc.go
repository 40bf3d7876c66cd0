// Package bars keeps, per symbol, rolling OHLCV bars of the published
// stream, so that a chart opens with the last minutes of history.
//
// An Aggregator is a fanout.Tap: it is handed every version the engine
// publishes (the symbol's full quote) and folds it into two bounded ring
// buffers per symbol, one bar a second for the last 15 minutes (900 bars)
// and one a minute for the last 24 hours (1440 bars). A bar's prices are
// those of the trades (a version whose last, last_size or volume changed:
// its last price, its last_size added to the bar's volume); a symbol that
// has never traded gets bars of its mid price, (bid + ask) / 2, with no
// volume. Every value is an exact market.Decimal. A bar is keyed by the
// event time (ts) of the versions it holds; a version older than the
// symbol's latest bar is folded into that bar rather than rewriting history.
//
// Memory is bounded: at most 2340 bars of about 180 bytes per symbol
// (≈ 420 KB for a symbol that trades every second all day). Seconds
// without a trade have no bar.
//
// Goroutines: none. Version runs on the engine's goroutine; Bars may be
// called from any goroutine (each symbol's rings have their own lock).
package bars
