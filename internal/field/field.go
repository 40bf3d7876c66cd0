// Package field is the error a package's Config.Validate returns: it names
// the Go field, so that whoever filled the Config (main, from flags) can
// name its own source of the value.
package field

import "fmt"

// Error is one field of a Config out of range, or two that do not go
// together (Other set).
type Error struct {
	Field string // the Go field's name, e.g. "QueueBytes"
	Value any    // its value
	Want  string // what it should be, e.g. "at least 1024"

	Other      string // the field Field does not go with, e.g. "IdleTimeout"; "" for one field
	OtherValue any    // its value
}

func (e *Error) Error() string {
	if e.Other != "" {
		return fmt.Sprintf("%s %v and %s %v: want %s", e.Field, e.Value, e.Other, e.OtherValue, e.Want)
	}
	return fmt.Sprintf("%s %v: want %s", e.Field, e.Value, e.Want)
}

// Pair returns the Error of two fields, each in range, that do not go
// together: neither alone is wrong, so both are named.
func Pair(name string, value any, other string, otherValue any, want string) error {
	return &Error{Field: name, Value: value, Want: want, Other: other, OtherValue: otherValue}
}

// New returns the Error of field, holding value, wanting want.
func New(name string, value any, want string) error {
	return &Error{Field: name, Value: value, Want: want}
}
