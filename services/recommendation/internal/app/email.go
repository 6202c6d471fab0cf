package app

import (
	"context"

	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// segmentPage is how many members are read per query.
const segmentPage = 500

// SegmentRecommendations answers q for every current member of a segment,
// in customer id order, calling fn with each member's result: the e-mail
// placement's batch for a campaign. q's CustomerID is replaced per member;
// its placement defaults to e-mail. fn returning an error stops the run.
func (a *App) SegmentRecommendations(ctx context.Context, segmentID string, q Query, fn func(customerID string, r Result) error) error {
	if err := domain.ValidateID("segment_id", segmentID); err != nil {
		return err
	}
	if q.Placement == recommend.PlacementUnspecified {
		q.Placement = recommend.Email
	}
	s := store.New(a.pool)
	after := ""
	for {
		ids, err := s.SegmentMembers(ctx, segmentID, after, segmentPage)
		if err != nil {
			return err
		}
		for _, id := range ids {
			mq := q
			mq.CustomerID, mq.AnonymousID = id, ""
			r, err := a.Recommend(ctx, mq)
			if err != nil {
				return err
			}
			if err := fn(id, r); err != nil {
				return err
			}
		}
		if len(ids) < segmentPage {
			return nil
		}
		after = ids[len(ids)-1]
	}
}
