// Package profile is the customer profile of the segmentation service: the
// facts gathered from every channel about one customer and the traits
// computed from them.
//
// A profile must come out the same whatever order its events arrive in and
// however often each is delivered (Kafka redelivers, topics are consumed
// independently). So a profile stores facts, not running totals: each fact is
// keyed by its own identity (order id, refund id, event id) and merging the
// same fact twice is a no-op, and single-valued attributes are last-writer-
// wins registers ordered by (event time, event id). Every trait is then a pure
// function of the facts and the evaluation time (see ComputeTraits). The
// merge is commutative, associative and idempotent, which the tests check by
// applying shuffled, duplicated event sequences.
package profile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned by a Repository when no profile exists for the id.
var ErrNotFound = errors.New("profile: not found")

// ValidationError says which field of an incoming event is invalid, so that
// the ports layer can return InvalidArgument with a field violation.
type ValidationError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// Register is a last-writer-wins value. Writes are ordered by event time and
// then event id, so two replicas that saw the same writes agree on the
// winner whatever the order of delivery.
type Register[T any] struct {
	Value   T
	At      time.Time
	EventID string
	Set     bool
}

// Write merges a write into the register and reports whether it won. Two
// writes with the same time and event id (a redelivery that was altered in
// between, which should not happen but must not make replicas diverge) are
// ordered by their printed value.
func (r *Register[T]) Write(v T, at time.Time, eventID string) bool {
	if r.Set {
		if at.Equal(r.At) && eventID == r.EventID {
			if fmt.Sprint(v) <= fmt.Sprint(r.Value) {
				return false
			}
		} else if !newer(at, eventID, r.At, r.EventID) {
			return false
		}
	}
	*r = Register[T]{Value: v, At: at, EventID: eventID, Set: true}
	return true
}

// newer orders writes by (time, event id).
// Callers break exact ties by content, see winsTie.
func newer(at time.Time, id string, thanAt time.Time, thanID string) bool {
	if !at.Equal(thanAt) {
		return at.After(thanAt)
	}
	return id > thanID
}

// Profile is everything known about one customer. Fields are exported so the
// adapters can persist them; mutate only through the Apply methods so the
// merge stays order-independent.
type Profile struct {
	CustomerID string

	// Identity and attributes from commerce.customers.v1 and identify calls.
	SignedUpAt       Register[time.Time]
	Country          Register[string]
	Birthday         Register[time.Time]
	SignupChannel    Register[string]
	PreferredChannel Register[string] // the channel the customer asked to be reached on
	Consents         map[string]Register[bool]
	Attributes       map[string]Register[string]

	Orders       map[string]Order        // by order id
	Refunds      map[string]Refund       // by refund id
	Interactions map[string]Interaction  // by event id
	Surveys      map[string]SurveyAnswer // by answer id

	// Facts from the loyalty and referral services.
	Tier          Register[string]
	PointsBalance Register[int64]
	Referrals     map[string]Referral // by referral id

	// RFM is written by the scheduled population scoring (see package rfm);
	// it is a register so that a late recompute never overwrites a newer one.
	RFM Register[RFMScore]

	// NotifiedCarts holds the keys of abandoned carts already announced, so
	// CartAbandoned is emitted once per cart (see AbandonedCart.Key).
	NotifiedCarts map[string]time.Time
}

// RFMScore is the stored result of the last population scoring.
type RFMScore struct {
	R, F, M int
	Group   string
}

// New returns an empty profile for the customer.
func New(customerID string) *Profile {
	return &Profile{
		CustomerID:    customerID,
		Consents:      map[string]Register[bool]{},
		Attributes:    map[string]Register[string]{},
		Orders:        map[string]Order{},
		Refunds:       map[string]Refund{},
		Interactions:  map[string]Interaction{},
		Surveys:       map[string]SurveyAnswer{},
		Referrals:     map[string]Referral{},
		NotifiedCarts: map[string]time.Time{},
	}
}

// Repository stores profiles. Update runs fn on the current profile (a new
// one when none exists) inside one transaction with the row locked, and
// saves it only when fn returns nil.
type Repository interface {
	Get(ctx context.Context, customerID string) (*Profile, error)
	Update(ctx context.Context, customerID string, fn func(p *Profile) error) error
}

// CustomerUpdate is an identity/attribute event. Nil or empty fields mean
// "not mentioned", so a partial update never erases an attribute.
type CustomerUpdate struct {
	EventID          string
	At               time.Time
	SignedUpAt       time.Time
	Country          string
	Birthday         time.Time
	SignupChannel    string
	PreferredChannel string
	Consents         map[string]bool
	Attributes       map[string]string
}

// ApplyCustomer merges an identity/attribute event.
func (p *Profile) ApplyCustomer(u CustomerUpdate) error {
	if err := checkEvent(u.EventID, u.At); err != nil {
		return err
	}
	if u.Country != "" && !isCountry(u.Country) {
		return invalid("country", "must be an ISO 3166-1 alpha-2 code")
	}
	if !u.SignedUpAt.IsZero() {
		p.SignedUpAt.Write(u.SignedUpAt.UTC(), u.At, u.EventID)
	}
	if u.Country != "" {
		p.Country.Write(strings.ToUpper(u.Country), u.At, u.EventID)
	}
	if !u.Birthday.IsZero() {
		p.Birthday.Write(u.Birthday.UTC(), u.At, u.EventID)
	}
	if u.SignupChannel != "" {
		p.SignupChannel.Write(u.SignupChannel, u.At, u.EventID)
	}
	if u.PreferredChannel != "" {
		p.PreferredChannel.Write(u.PreferredChannel, u.At, u.EventID)
	}
	for k, v := range u.Consents {
		r := p.Consents[k]
		r.Write(v, u.At, u.EventID)
		p.Consents[k] = r
	}
	for k, v := range u.Attributes {
		r := p.Attributes[k]
		r.Write(v, u.At, u.EventID)
		p.Attributes[k] = r
	}
	return nil
}

func checkEvent(id string, at time.Time) error {
	if id == "" {
		return invalid("event_id", "is required")
	}
	if at.IsZero() {
		return invalid("time", "is required")
	}
	return nil
}

func isCountry(c string) bool {
	if len(c) != 2 {
		return false
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// LoyaltyUpdate carries the loyalty facts the profile mirrors. Empty tier or
// a nil balance means "not mentioned".
type LoyaltyUpdate struct {
	EventID string
	At      time.Time
	Tier    string
	Balance *int64
}

// ApplyLoyalty merges a loyalty event.
func (p *Profile) ApplyLoyalty(u LoyaltyUpdate) error {
	if err := checkEvent(u.EventID, u.At); err != nil {
		return err
	}
	if u.Tier != "" {
		p.Tier.Write(u.Tier, u.At, u.EventID)
	}
	if u.Balance != nil {
		p.PointsBalance.Write(*u.Balance, u.At, u.EventID)
	}
	return nil
}

// Referral is a referral this customer made. Converted is monotone: once a
// referral converted it stays converted whatever event comes later.
type Referral struct {
	ID        string
	At        time.Time
	Converted bool
}

// ApplyReferral merges a referral fact (attributed or converted).
func (p *Profile) ApplyReferral(r Referral) error {
	if r.ID == "" {
		return invalid("referral_id", "is required")
	}
	if r.At.IsZero() {
		return invalid("time", "is required")
	}
	old, ok := p.Referrals[r.ID]
	if ok {
		if old.At.Before(r.At) {
			r.At = old.At // keep the first time we heard of it
		}
		r.Converted = r.Converted || old.Converted
	}
	p.Referrals[r.ID] = r
	return nil
}

// SetRFM stores the result of a population scoring made at the given time.
func (p *Profile) SetRFM(s RFMScore, at time.Time) {
	p.RFM.Write(s, at, "rfm")
}

// winsTie orders two versions of one fact that carry the same time and
// event id by their printed content, so every replica keeps the same one.
func winsTie(a, b any) bool { return fmt.Sprintf("%+v", a) > fmt.Sprintf("%+v", b) }
