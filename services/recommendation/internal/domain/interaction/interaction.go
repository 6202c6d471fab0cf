// Package interaction models what customers do with products (view, add to
// cart, purchase, refund, dismiss, ...) and turns a history of such events
// into per-product affinity weights with time decay. Personalized
// recommendations, negative feedback and trending all read these weights, so
// the weighting lives in one place and can be tuned per deployment.
package interaction

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Kind is the type of interaction.
type Kind int

// Interaction kinds. Remove, Refund and Dismiss carry negative weight: a
// returned or dismissed item counts against itself and its neighbours.
const (
	KindUnspecified Kind = iota
	View
	SearchClick
	AddToCart
	RemoveFromCart
	Purchase
	Refund
	Dismiss
	// Click is a click on a served recommendation (feedback API).
	Click
)

var kindNames = [...]string{"unspecified", "view", "search_click", "add_to_cart", "remove_from_cart", "purchase", "refund", "dismiss", "click"}

// String returns the snake_case name used in configuration and metrics.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKind is the inverse of String; it rejects "unspecified".
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), nil
		}
	}
	return KindUnspecified, domain.Invalid("kind", fmt.Sprintf("unknown interaction kind %q", s))
}

// Event is one interaction of a customer with a product.
type Event struct {
	CustomerID string
	ProductID  string
	Kind       Kind
	// Quantity scales purchase and refund weights; 0 is read as 1.
	Quantity int
	At       time.Time
	// OrderID groups purchases into baskets and lets refunds find them.
	OrderID string
}

// Validate checks the fields every consumer and the feedback API rely on.
func (e Event) Validate() error {
	if err := domain.ValidateID("customer_id", e.CustomerID); err != nil {
		return err
	}
	if err := domain.ValidateID("product_id", e.ProductID); err != nil {
		return err
	}
	if e.Kind <= KindUnspecified || int(e.Kind) >= len(kindNames) {
		return domain.Invalid("kind", fmt.Sprintf("unknown interaction kind %d", e.Kind))
	}
	if e.Quantity < 0 {
		return domain.Invalid("quantity", fmt.Sprintf("must not be negative, got %d", e.Quantity))
	}
	if e.At.IsZero() {
		return domain.Invalid("time", "must be set")
	}
	return nil
}

// Weights maps each kind to how much it says about interest. Missing kinds
// weigh zero.
type Weights map[Kind]float64

// DefaultWeights are starting values: a purchase says five times as much as
// a view, and a refund or dismissal says as much against an item as the
// purchase said for it.
func DefaultWeights() Weights {
	return Weights{
		View:           1,
		SearchClick:    1.5,
		Click:          1.5,
		AddToCart:      3,
		RemoveFromCart: -1,
		Purchase:       5,
		Refund:         -5,
		Dismiss:        -4,
	}
}

// Decay halves an interaction's weight every HalfLife, so last week's views
// matter more than last year's. A zero HalfLife disables decay.
type Decay struct {
	HalfLife time.Duration
}

// Factor is the multiplier for an event that happened at `at`, seen at
// `now`. Events in the future (clock skew between producers) count fully
// rather than more than fully.
func (d Decay) Factor(at, now time.Time) float64 {
	if d.HalfLife <= 0 {
		return 1
	}
	age := now.Sub(at)
	if age <= 0 {
		return 1
	}
	return math.Exp2(-float64(age) / float64(d.HalfLife))
}

// Weight is the decayed weight of one event.
func (w Weights) Weight(e Event, d Decay, now time.Time) float64 {
	q := 1.0
	if (e.Kind == Purchase || e.Kind == Refund) && e.Quantity > 1 {
		// Log-scaled so a wholesale order of 500 units does not drown
		// everything else the customer did.
		q = 1 + math.Log2(float64(e.Quantity))
	}
	return w[e.Kind] * q * d.Factor(e.At, now)
}

// Affinity is a customer's net decayed interest in one product, and the
// strongest signal behind it (for the "because you bought W" reason).
type Affinity struct {
	ProductID string
	Weight    float64
	// Strongest is the kind that contributed most to Weight in absolute
	// value.
	Strongest Kind
	// Last is the time of the newest event for the product.
	Last time.Time
}

// Affinities sums the decayed weights per product. The result is
// independent of the order of events, which matters because consumers see
// orders and interactions from different topics in no fixed order.
func (w Weights) Affinities(events []Event, d Decay, now time.Time) map[string]Affinity {
	out := make(map[string]Affinity, len(events))
	w.AffinitiesInto(out, make(map[string]float64, len(events)), events, d, now)
	return out
}

// AffinitiesInto is Affinities into out, which must be empty; strongest is
// empty scratch. (The engine's request path keeps its affinities by
// product ref instead, counting each event with Affinity.Count.)
func (w Weights) AffinitiesInto(out map[string]Affinity, strongest map[string]float64, events []Event, d Decay, now time.Time) {
	for i := range events {
		e := &events[i]
		a := out[e.ProductID]
		s := strongest[e.ProductID]
		a.Count(e, w.Weight(*e, d, now), &s)
		out[e.ProductID], strongest[e.ProductID] = a, s
	}
}

// Count adds e, an event for a's product whose weight is v
// (Weights.Weight), to a. strongest is the largest weight in absolute value
// of a single event counted so far, which the caller keeps beside a (0
// before the first event); ties go to the later kind.
func (a *Affinity) Count(e *Event, v float64, strongest *float64) {
	a.ProductID = e.ProductID
	a.Weight += v
	if abs := math.Abs(v); abs > *strongest || (abs == *strongest && e.Kind > a.Strongest) {
		*strongest = abs
		a.Strongest = e.Kind
	}
	if e.At.After(a.Last) {
		a.Last = e.At
	}
}

// Repository stores interactions; the app layer reads a customer's recent
// history to personalize and to decide buy-again and durable repeats.
type Repository interface {
	// Append stores events, ignoring ones already stored (same customer,
	// product, kind, time and order), so redelivered events are harmless.
	Append(ctx context.Context, events ...Event) error
	// Recent returns up to limit of the customer's newest events.
	Recent(ctx context.Context, customerID string, limit int) ([]Event, error)
}
