// Package domain holds the vocabulary every part of the recommendation
// domain shares: identifier rules and the error types that the ports layer
// maps to gRPC codes in one place. The sub-packages hold the actual rules
// (catalog, interaction, cooccur, trending, replenish, recommend,
// experiment, evaluation); keeping the errors here means a handler can map
// any of them without knowing which rule produced it.
package domain

import (
	"errors"
	"fmt"
)

// ErrNotFound marks a lookup of something that does not exist (a product,
// an experiment). Ports map it to codes.NotFound.
var ErrNotFound = errors.New("not found")

// ValidationError says which input field is wrong and why. Ports map it to
// codes.InvalidArgument with a BadRequest field violation, so the field name
// uses the protobuf (snake_case) spelling of the request field.
type ValidationError struct {
	Field  string
	Reason string
	// Err is an optional underlying sentinel (for example
	// recommend.ErrUnknownStrategy) so callers can still use errors.Is.
	Err error
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Unwrap exposes the underlying sentinel, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// Invalid builds a *ValidationError; it exists so rule code reads as a
// sentence: return domain.Invalid("limit", "must be between 1 and 100").
func Invalid(field, reason string) error {
	return &ValidationError{Field: field, Reason: reason}
}

// InvalidWrap builds a *ValidationError that also wraps a sentinel error.
func InvalidWrap(field string, err error) error {
	return &ValidationError{Field: field, Reason: err.Error(), Err: err}
}

// MaxIDLength bounds identifiers so that a hostile request cannot make the
// service hash or store megabyte-long keys.
const MaxIDLength = 128

// ValidateID checks a product, customer, segment or experiment identifier:
// 1 to MaxIDLength bytes of letters, digits and the separators . _ : / - @ +.
// Retail SKUs ("85123A", "POST-42") and UUIDs both fit; whitespace, control
// characters and non-ASCII are rejected because ids end up in Kafka keys,
// page tokens and URLs, where they would need escaping.
func ValidateID(field, id string) error {
	if id == "" {
		return Invalid(field, "must not be empty")
	}
	if len(id) > MaxIDLength {
		return Invalid(field, fmt.Sprintf("must be at most %d bytes, got %d", MaxIDLength, len(id)))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '/', c == '-', c == '@', c == '+':
		default:
			return Invalid(field, fmt.Sprintf("contains character %q at byte %d; allowed are letters, digits and . _ : / - @ +", c, i))
		}
	}
	return nil
}
