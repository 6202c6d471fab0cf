package profile

import (
	"time"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
)

// Snapshot is a profile's computed state as stored beside its facts: the
// traits, the counted orders and the interactions rules read, and what the
// time-dependent traits are computed from. A full recompute over the whole
// population reads snapshots and calls Refresh instead of recomputing every
// trait from the raw facts, which is what makes it fast enough for millions
// of profiles; only events rebuild a snapshot from the facts.
type Snapshot struct {
	Traits       Traits        `json:"t"`
	Orders       []OrderFact   `json:"o,omitempty"`
	Interactions []Interaction `json:"i,omitempty"`
	SignedUpAt   time.Time     `json:"su,omitzero"`
	Birthday     time.Time     `json:"bd,omitzero"`
	CartItems    []CartItem    `json:"ci,omitempty"`
	CartActivity time.Time     `json:"ca,omitzero"`
	// At is the evaluation time of the traits.
	At time.Time `json:"at"`
}

// TakeSnapshot computes the traits of p at now and keeps what Refresh needs.
func TakeSnapshot(p *Profile, now time.Time, cfg Config, model *clv.Model) Snapshot {
	s := Snapshot{
		Traits:       ComputeTraits(p, now, cfg, model),
		Orders:       p.OrderFacts(cfg.Currency),
		Interactions: p.SortedInteractions(),
		At:           now,
	}
	if p.SignedUpAt.Set {
		s.SignedUpAt = p.SignedUpAt.Value
	}
	if p.Birthday.Set {
		s.Birthday = p.Birthday.Value
	}
	if items, last, ok := p.OpenCart(); ok {
		s.CartItems, s.CartActivity = items, last.At
	}
	return s
}

// Refresh recomputes the time-dependent traits at now (and with a newer
// model). The result equals ComputeTraits on the same facts at now.
func (s *Snapshot) Refresh(now time.Time, cfg Config, model *clv.Model) {
	c := clock{orders: s.Orders, signedUpAt: s.SignedUpAt, birthday: s.Birthday, cartItems: s.CartItems, cartActivity: s.CartActivity}
	c.apply(&s.Traits, now, cfg, model)
	s.At = now
}
