package feeds

import (
	"time"

	"github.com/ticker-io/ticker/internal/field"
)

// Config is what a Set applies to all its feeds.
type Config struct {
	// StaleAfter is how long a venue feed may be down (its connection
	// lost, no quote from a new one yet) before every symbol it delivered
	// is marked stale; 0 marks them at once. A reconnect that brings a
	// quote sooner is not shown to clients.
	StaleAfter time.Duration
}

// Limits of Config.StaleAfter.
const (
	MaxStaleAfter = 10 * time.Minute
)

// DefaultConfig returns the defaults: StaleAfter 2 s, longer than a
// reconnect that succeeds at once takes (backoff up to 0.5 s, the dial, the
// first quote), short enough that a client soon knows.
func DefaultConfig() Config { return Config{StaleAfter: 2 * time.Second} }

// Validate checks c; its errors are *field.Error.
func (c Config) Validate() error {
	if c.StaleAfter < 0 || c.StaleAfter > MaxStaleAfter {
		return field.New("StaleAfter", c.StaleAfter, "0 to "+MaxStaleAfter.String())
	}
	return nil
}
