// Package market holds the data model shared by every other package of ticker:
// exact decimals (Decimal), a symbol's quote (Quote), its versioned state with
// delta computation (State), and the lock-free ring (Ring) that carries quotes
// from the feeds to the fanout engine.
//
// Data flows one way: feeds build Quotes and push them into a Ring; the fanout
// engine pops them, folds them into one State per symbol and publishes each
// window's deltas. market starts no goroutines and imports no other package of
// ticker but internal/field (the error CheckRingCapacity returns).
package market
