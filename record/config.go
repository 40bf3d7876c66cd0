package record

import (
	"strings"
	"time"

	"github.com/ticker-io/ticker/internal/field"
)

// Config is what a recording writes and when it stops. Zero limits mean
// none: the recording then ends with Run's context or when every feed has
// finished.
type Config struct {
	Path     string        // the fixture file, created or truncated
	Duration time.Duration // stop this long after Run starts; 0: no limit
	Count    int           // stop after this many quotes; 0: no limit
	// Header is written first, one "# " comment line each (a replay skips
	// them): where the recording came from.
	Header []string
}

// DefaultConfig is a recording without limits; Path must still be set.
func DefaultConfig() Config { return Config{} }

// Validate names the first field out of range, as a *field.Error.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return field.New("Path", `""`, "a file to write")
	case c.Duration < 0:
		return field.New("Duration", c.Duration, "0 (no limit) or more")
	case c.Count < 0:
		return field.New("Count", c.Count, "0 (no limit) or more")
	}
	for _, h := range c.Header {
		if strings.ContainsAny(h, "\r\n") {
			return field.New("Header", h, "lines without line breaks")
		}
	}
	return nil
}
