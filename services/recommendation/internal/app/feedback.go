package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	recommendationeventsv1 "github.com/affinity-platform/affinity/proto/recommendation/events/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// Source is the events' source attribute.
const Source = "recommendation"

// FeedbackKind is what a customer did with a served item.
type FeedbackKind int

// Feedback kinds, numbered as recommendation.v1.FeedbackKind.
const (
	FeedbackUnspecified FeedbackKind = iota
	Impression
	Click
	AddToCart
	Purchase
	Dismiss
	Return
)

// interactionKind is the interaction a feedback kind stores for
// personalization: dismissals and returns count against the item; an
// impression is not interest, and purchases arrive with the order.
func (k FeedbackKind) interactionKind() (interaction.Kind, bool) {
	switch k {
	case Click:
		return interaction.Click, true
	case AddToCart:
		return interaction.AddToCart, true
	case Dismiss:
		return interaction.Dismiss, true
	case Return:
		return interaction.Refund, true
	}
	return 0, false
}

// Feedback is one action on one served item.
type Feedback struct {
	Kind             FeedbackKind
	ProductID        string
	RecommendationID string
	Position         int
	Placement        recommend.Placement
	// PlacementNumber is the API's placement enum value, stored for reports.
	PlacementNumber int
	At              time.Time
}

// FeedbackBatch is feedback from one customer or visitor.
type FeedbackBatch struct {
	CustomerID, AnonymousID string
	Feedback                []Feedback
}

// RecordFeedback stores feedback in tx with the experiment variant the
// customer is in, stores the interactions it implies (a dismissal or return
// counts against the item from the next request on), and announces clicks on
// recommendation.events.v1 through the outbox. It returns how many entries
// were recorded.
func (a *App) RecordFeedback(ctx context.Context, tx pgx.Tx, b FeedbackBatch) (int, error) {
	key := b.CustomerID
	if key == "" {
		if b.AnonymousID == "" {
			return 0, domain.Invalid("customer_id", "customer_id or anonymous_id is required")
		}
		key = AnonymousKey(b.AnonymousID)
	}
	s := store.New(tx)
	var evs []interaction.Event
	var out []events.Event
	for i, f := range b.Feedback {
		if err := domain.ValidateID(fmt.Sprintf("feedback[%d].product_id", i), f.ProductID); err != nil {
			return 0, err
		}
		at := f.At
		if at.IsZero() {
			at = a.Now()
		}
		xid, variant := a.Variant(f.Placement, key)
		err := s.AddFeedback(ctx, store.Feedback{
			RecommendationID: f.RecommendationID, CustomerID: key, ProductID: f.ProductID, ExperimentID: xid, Variant: variant,
			Kind: int(f.Kind), Position: f.Position, Placement: f.PlacementNumber, At: at,
		})
		if err != nil {
			return 0, err
		}
		if k, ok := f.Kind.interactionKind(); ok {
			evs = append(evs, interaction.Event{CustomerID: key, ProductID: f.ProductID, Kind: k, Quantity: 1, At: at, OrderID: f.RecommendationID})
		}
		if f.Kind == Click {
			subject := b.CustomerID
			if subject == "" {
				subject = b.AnonymousID
			}
			out = append(out, events.Event{
				Topic: topics.RecommendationEvents, Source: Source, Subject: subject, Key: subject,
				Payload: &recommendationeventsv1.RecommendationEvent{Event: &recommendationeventsv1.RecommendationEvent_RecommendationClicked{
					RecommendationClicked: &recommendationeventsv1.RecommendationClicked{
						RecommendationId: f.RecommendationID, CustomerId: b.CustomerID, AnonymousId: b.AnonymousID,
						Placement: recommendationv1.Placement(f.PlacementNumber), ProductId: f.ProductID, Position: int32(f.Position),
						ExperimentId: xid, Variant: variant, OccurredAt: timestamppb.New(at),
					},
				}},
			})
		}
	}
	if err := s.AppendInteractions(ctx, evs...); err != nil {
		return 0, err
	}
	if len(out) > 0 {
		if err := outbox.Add(ctx, tx, out...); err != nil {
			return 0, fmt.Errorf("announce clicks: %w", err)
		}
	}
	return len(b.Feedback), nil
}

// VariantResult is one variant's feedback and its comparison with the
// control (the experiment's first variant).
type VariantResult struct {
	Variant string
	experiment.Counts
	Comparison experiment.Comparison
}

// ExperimentResults reports CTR and conversion per variant of a stored
// experiment (in any state) or a RECO_EXPERIMENTS one, the control first,
// from the recorded feedback.
func (a *App) ExperimentResults(ctx context.Context, experimentID string) ([]VariantResult, error) {
	x, err := a.GetExperiment(ctx, experimentID)
	if err != nil {
		return nil, err
	}
	counts, err := store.New(a.pool).ExperimentCounts(ctx, experimentID)
	if err != nil {
		return nil, err
	}
	control := counts[x.Variants[0].Name]
	out := make([]VariantResult, len(x.Variants))
	for i, v := range x.Variants {
		out[i] = VariantResult{Variant: v.Name, Counts: counts[v.Name]}
		if i > 0 {
			out[i].Comparison = experiment.Compare(control, counts[v.Name])
		}
	}
	return out, nil
}
