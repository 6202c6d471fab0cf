package latent

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// Strengths turns a customer's events into the model's interaction
// strengths: each purchase (one per order line) counts 1, fading with the
// half-life so that what customers bought recently shapes their vector more
// than what they bought a season ago; a refund takes the purchase back.
// Views and other signals are left out: on purchase data they add noise
// rather than evidence of what will be bought. Training and folding in use
// the same function, so a customer folded in at request time gets the
// vector a training pass would give them.
func Strengths(events []interaction.Event, halfLife time.Duration, now time.Time) []Weighted {
	d := interaction.Decay{HalfLife: halfLife}
	by := make(map[string]float64, len(events))
	var order []string
	for _, e := range events {
		var v float64
		switch e.Kind {
		case interaction.Purchase:
			v = d.Factor(e.At, now)
		case interaction.Refund:
			v = -d.Factor(e.At, now)
		default:
			continue
		}
		if _, ok := by[e.ProductID]; !ok {
			order = append(order, e.ProductID)
		}
		by[e.ProductID] += v
	}
	out := make([]Weighted, 0, len(order))
	for _, id := range order {
		if by[id] > 0 {
			out = append(out, Weighted{ProductID: id, Strength: by[id]})
		}
	}
	return out
}

// TrainEvents trains on every customer's events as of now (see Strengths).
func TrainEvents(ctx context.Context, cfg Config, customers map[string][]interaction.Event, now time.Time) (*Model, error) {
	// Sorted, so the same events always train the same model: the random
	// start vectors are assigned in order of first appearance.
	ids := make([]string, 0, len(customers))
	for c := range customers {
		ids = append(ids, c)
	}
	slices.Sort(ids)
	var data []Interaction
	for _, c := range ids {
		for _, w := range Strengths(customers[c], cfg.HalfLife, now) {
			data = append(data, Interaction{Customer: c, Product: w.ProductID, Strength: w.Strength})
		}
	}
	return Train(ctx, cfg, data)
}

// Holder publishes the current model to concurrent readers; periodic
// training swaps in a new one without stopping requests. The zero value
// holds no model.
type Holder struct{ p atomic.Pointer[Model] }

// Load returns the current model, or nil before the first training.
func (h *Holder) Load() *Model {
	if h == nil {
		return nil
	}
	return h.p.Load()
}

// Store replaces the current model.
func (h *Holder) Store(m *Model) { h.p.Store(m) }

// UserVector is the vector used to answer a customer: the one trained for
// them, or, for a customer the model has not seen, one folded in from
// their events.
func (m *Model) UserVector(customerID string, events []interaction.Event, now time.Time) []float32 {
	if v := m.Customer(customerID); v != nil {
		return v
	}
	return m.FoldIn(Strengths(events, m.cfg.HalfLife, now))
}

// Similarity is the dot product of two products' vectors (0 when either is
// unknown): how alike the customers who buy them are.
func (m *Model) Similarity(a, b string) float64 {
	return VectorSimilarity(m.ProductVector(a), m.ProductVector(b))
}
