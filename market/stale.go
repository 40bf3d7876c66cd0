package market

// Staleness is whether a symbol's feed is down, as a Quote states it.
//
// In a feed's update, Stale is the mark a feed sets when it loses its
// source (the update then carries no field), and anything else is a live
// quote, which makes the symbol fresh again. In a published full quote it is
// Stale or Unstated (fresh). In a delta it is Unstated when the staleness
// did not change, and Stale or Fresh when it did: a client told a symbol
// was stale needs the explicit Fresh to clear it.
type Staleness uint8

// The values of Staleness.
const (
	Unstated Staleness = iota // nothing said: fresh in a full quote, unchanged in a delta, live in a feed's update
	Fresh                     // turned fresh (in a delta)
	Stale                     // the feed is down: the values are the last it gave
)

// IsStale reports whether q says its symbol is stale.
func (q *Quote) IsStale() bool { return q.Staleness == Stale }

// staleChange is what a delta from prev to next says of staleness.
func staleChange(prev, next *Quote) Staleness {
	switch {
	case prev.IsStale() == next.IsStale():
		return Unstated
	case next.IsStale():
		return Stale
	}
	return Fresh
}

// appendStale appends the "stale" key of q, if it states one.
func (q *Quote) appendStale(dst []byte) []byte {
	switch q.Staleness {
	case Stale:
		return append(dst, `,"stale":true`...)
	case Fresh:
		return append(dst, `,"stale":false`...)
	}
	return dst
}
