package recommend

import (
	"context"
	"time"
)

// CustomerRepository holds the per-customer state Recommend reads. The
// app layer loads a Customer before each request and keeps segment and
// tier membership current from segmentation and loyalty events.
type CustomerRepository interface {
	// Customer returns the customer's recent events (at most
	// recentEvents), segments and tier; an unknown id is an empty
	// Customer with that ID, not an error, because anonymous and new
	// customers are normal traffic.
	Customer(ctx context.Context, id string, recentEvents int) (Customer, error)
	// SetSegment records entering (member=true) or leaving a segment. at
	// is the event's time; an older change than the stored one is ignored,
	// so out-of-order entered/exited events converge.
	SetSegment(ctx context.Context, customerID, segment string, member bool, at time.Time) error
	// SetTier records the customer's loyalty tier with the same ordering
	// rule.
	SetTier(ctx context.Context, customerID, tier string, at time.Time) error
}

// BoostRepository stores the marketers' boosts; the app layer reloads them
// into Config.Boosts through Engine.SetConfig when they change.
type BoostRepository interface {
	List(ctx context.Context) ([]Boost, error)
	Save(ctx context.Context, b Boost) error
	// Delete returns domain.ErrNotFound (wrapped) for an unknown name.
	Delete(ctx context.Context, name string) error
}
