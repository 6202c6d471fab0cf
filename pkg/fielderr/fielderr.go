// Package fielderr carries field-level input errors out of a domain layer so
// that the ports layer can map them, in one place, to gRPC InvalidArgument
// with one BadRequest field violation per problem. All violations of a value
// are collected at once so a caller can fix a request in one round trip.
package fielderr

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched by every *Error through errors.Is, so callers that
// only need "was this bad input" do not have to use errors.As.
var ErrInvalid = errors.New("invalid argument")

// Violation is one invalid field. Field is the dotted snake_case path of the
// request field (e.g. "rule.cap.period") so it lines up with the proto names
// the client sent.
type Violation struct {
	Field   string
	Message string
}

// Error is a non-empty set of violations; it is always returned as *Error.
type Error struct {
	Violations []Violation
}

// Error lists every violation.
func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Message
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true for every validation error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Fields returns the names of the invalid fields, in the order found.
func (e *Error) Fields() []string {
	out := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Field
	}
	return out
}

// Field returns an error with a single violation.
func Field(field, format string, args ...any) *Error {
	return &Error{Violations: []Violation{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// Collector accumulates violations while a value is checked. The zero value
// is ready to use.
type Collector struct {
	violations []Violation
}

// Add records a violation of field.
func (c *Collector) Add(field, format string, args ...any) {
	c.violations = append(c.violations, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check records a violation of field when ok is false; it keeps validation
// code a flat list of conditions.
func (c *Collector) Check(ok bool, field, format string, args ...any) {
	if !ok {
		c.Add(field, format, args...)
	}
}

// Nest merges err, when it is a validation error, under prefix (joined with
// a dot) so nested values can validate themselves and still report the full
// path. Any other non-nil error is recorded against prefix itself.
func (c *Collector) Nest(prefix string, err error) {
	if err == nil {
		return
	}
	var ve *Error
	if !errors.As(err, &ve) {
		c.Add(prefix, "%v", err)
		return
	}
	for _, v := range ve.Violations {
		f := v.Field
		switch {
		case prefix == "":
		case f == "":
			f = prefix
		default:
			f = prefix + "." + f
		}
		c.violations = append(c.violations, Violation{Field: f, Message: v.Message})
	}
}

// Err returns the collected violations as *Error, or nil when there are none.
func (c *Collector) Err() error {
	if len(c.violations) == 0 {
		return nil
	}
	return &Error{Violations: append([]Violation(nil), c.violations...)}
}

// Fields lists the fields named by err when it is a validation error, for
// tests and logs; it returns nil otherwise.
func Fields(err error) []string {
	var ve *Error
	if !errors.As(err, &ve) {
		return nil
	}
	return ve.Fields()
}
