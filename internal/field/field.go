// Package field is the error a package's Config.Validate returns: it names
// the Go field, so that whoever filled the Config (main, from flags) can
// name its own source of the value.
package field

import "fmt"

// Error is one field of a Config out of range.
type Error struct {
	Field string // the Go field's name, e.g. "QueueBytes"
	Value any    // its value
	Want  string // what it should be, e.g. "at least 1024"
}

func (e *Error) Error() string { return fmt.Sprintf("%s %v: want %s", e.Field, e.Value, e.Want) }

// New returns the Error of field, holding value, wanting want.
func New(name string, value any, want string) error {
	return &Error{Field: name, Value: value, Want: want}
}
