// Package validation carries field-level input errors out of the domain so
// that the ports layer can map them, in one place, to gRPC InvalidArgument
// with a BadRequest field violation per problem. Collecting every violation
// at once (instead of failing on the first) lets a caller fix a form in one
// round trip.
package validation

import (
	"errors"
	"fmt"
	"strings"
)

// Violation is one invalid field. Field uses the dotted snake_case path of
// the request (e.g. "referrer_reward.points") so it lines up with the proto
// field names the client sent.
type Violation struct {
	Field   string
	Message string
}

// Error is a non-empty set of violations. It is returned as *Error; use
// errors.As to reach the violations.
type Error struct {
	Violations []Violation
}

// Error implements error by listing every violation.
func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Message
	}
	return "invalid argument: " + strings.Join(parts, "; ")
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

// Nest merges err, when it is a validation error, under the prefix (joined
// with a dot), so nested value objects can validate themselves and still
// report the full path. A non-validation error is recorded against prefix.
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
		field := v.Field
		switch {
		case prefix == "":
		case field == "":
			field = prefix
		default:
			field = prefix + "." + field
		}
		c.violations = append(c.violations, Violation{Field: field, Message: v.Message})
	}
}

// Err returns nil when nothing was recorded, else an *Error with a copy of
// the violations in the order they were found.
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
	out := make([]string, len(ve.Violations))
	for i, v := range ve.Violations {
		out[i] = v.Field
	}
	return out
}
