package ports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// server implements recommendationv1.RecommendationServiceServer over the app.
type server struct {
	recommendationv1.UnimplementedRecommendationServiceServer
	app *app.App
	log *slog.Logger
	// products are the answers' shared product messages.
	products productMessages
}

// GetRecommendations answers from memory and the customer's stored state.
func (s *server) GetRecommendations(ctx context.Context, req *recommendationv1.GetRecommendationsRequest) (*recommendationv1.GetRecommendationsResponse, error) {
	q := app.Query{
		Request: recommend.Request{
			CustomerID: req.GetCustomerId(), ProductIDs: req.GetProductIds(),
			Placement: placements[req.GetPlacement()], Strategy: strategies[req.GetStrategy()],
			Limit: int(req.GetLimit()), PageToken: req.GetPageToken(), ExcludeIDs: req.GetExcludeProductIds(),
			IncludeCategories: req.GetIncludeCategories(), ExcludeCategories: req.GetExcludeCategories(),
		},
		AnonymousID: req.GetAnonymousId(),
	}
	res, err := s.app.Recommend(ctx, q)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &recommendationv1.GetRecommendationsResponse{
		RecommendationId: res.ID, Strategy: strategyToProto(res.Strategy), Variant: res.Variant,
		NextPageToken: res.NextPageToken, Items: make([]*recommendationv1.RecommendedItem, len(res.Items)),
	}
	// One allocation per kind of message for the whole page rather than
	// four per item: the messages are only read (marshalled) after this.
	items := make([]recommendationv1.RecommendedItem, len(res.Items))
	reasons := make([]recommendationv1.Reason, len(res.Items))
	for i := range res.Items {
		it := &res.Items[i]
		reasonInto(&reasons[i], it.Reason)
		items[i].ProductId, items[i].Score, items[i].Reason = it.ProductID, it.Score, &reasons[i]
		out.Items[i] = &items[i]
	}
	if req.GetView() != recommendationv1.ItemView_ITEM_VIEW_BASIC {
		for i := range res.Items {
			setItemProduct(&items[i], s.products.itemField(res.Items[i].Product))
		}
	}
	return out, nil
}

// RecordFeedback stores a batch of feedback once per idempotency key.
func (s *server) RecordFeedback(ctx context.Context, req *recommendationv1.RecordFeedbackRequest) (*recommendationv1.RecordFeedbackResponse, error) {
	b := app.FeedbackBatch{CustomerID: req.GetCustomerId(), AnonymousID: req.GetAnonymousId()}
	for _, f := range req.GetFeedback() {
		fb := app.Feedback{
			Kind: app.FeedbackKind(f.GetKind()), ProductID: f.GetProductId(), RecommendationID: f.GetRecommendationId(),
			Position: int(f.GetPosition()), Placement: placements[f.GetPlacement()], PlacementNumber: int(f.GetPlacement()),
		}
		if f.GetOccurredAt() != nil {
			fb.At = f.GetOccurredAt().AsTime()
		}
		b.Feedback = append(b.Feedback, fb)
	}
	var resp *recommendationv1.RecordFeedbackResponse
	err := s.app.Tx(ctx, func(tx pgx.Tx) error {
		r, _, err := idempotency.Do(ctx, tx, scope(ctx, recommendationv1.RecommendationService_RecordFeedback_FullMethodName), req.GetIdempotencyKey(), req,
			func() (*recommendationv1.RecordFeedbackResponse, error) {
				n, err := s.app.RecordFeedback(ctx, tx, b)
				return &recommendationv1.RecordFeedbackResponse{RecordedCount: int32(n)}, err
			})
		resp = r
		return err
	})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	key := req.GetCustomerId()
	if key == "" {
		key = app.AnonymousKey(req.GetAnonymousId())
	}
	// The feedback committed; if this replica cannot reload the customer
	// now, its tailer does within RECO_POLL_INTERVAL.
	if err := s.app.SyncCustomers(ctx, key); err != nil {
		s.log.WarnContext(ctx, "reload customer after feedback", "customer", key, "err", err)
	}
	return resp, nil
}

// BatchUpsertProducts stores products once per idempotency key and makes
// them visible to the next request on this replica.
func (s *server) BatchUpsertProducts(ctx context.Context, req *recommendationv1.BatchUpsertProductsRequest) (*recommendationv1.BatchUpsertProductsResponse, error) {
	now := s.app.Now()
	ps := make([]catalog.Product, len(req.GetProducts()))
	for i, p := range req.GetProducts() {
		ps[i] = productFromProto(p, now)
	}
	var resp *recommendationv1.BatchUpsertProductsResponse
	err := s.app.Tx(ctx, func(tx pgx.Tx) error {
		r, _, err := idempotency.Do(ctx, tx, scope(ctx, recommendationv1.RecommendationService_BatchUpsertProducts_FullMethodName), req.GetIdempotencyKey(), req,
			func() (*recommendationv1.BatchUpsertProductsResponse, error) {
				created, updated, err := s.app.UpsertProducts(ctx, tx, ps...)
				return &recommendationv1.BatchUpsertProductsResponse{CreatedCount: int32(created), UpdatedCount: int32(updated)}, err
			})
		resp = r
		return err
	})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := s.app.CatchUp(ctx); err != nil {
		// Stored and committed; the background fold will pick it up.
		s.log.WarnContext(ctx, "fold upserted products", "err", err)
	}
	return resp, nil
}

// scope keeps one caller's idempotency keys apart from another's.
func scope(ctx context.Context, method string) string {
	if c, ok := auth.ClaimsFrom(ctx); ok {
		return method + ":" + c.Subject
	}
	return method
}

// GetExperimentResults reports CTR and conversion per variant of a
// configured experiment, with the CTR lift against the control.
func (s *server) GetExperimentResults(ctx context.Context, req *recommendationv1.GetExperimentResultsRequest) (*recommendationv1.GetExperimentResultsResponse, error) {
	rs, err := s.app.ExperimentResults(ctx, req.GetExperimentId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &recommendationv1.GetExperimentResultsResponse{ExperimentId: req.GetExperimentId()}
	for i, r := range rs {
		v := &recommendationv1.VariantResults{
			Variant: r.Variant, Impressions: r.Impressions, Clicks: r.Clicks, Conversions: r.Conversions,
			Ctr: r.CTR(), ConversionRate: r.ConversionRate(), PValue: 1,
		}
		if i > 0 {
			v.CtrLift, v.PValue, v.Significant = r.Comparison.Lift, r.Comparison.PValue, r.Comparison.Significant
		}
		resp.Variants = append(resp.Variants, v)
	}
	return resp, nil
}

// toStatus maps domain and foundation errors to gRPC codes, in one place.
func (s *server) toStatus(ctx context.Context, err error) error {
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &ve):
		return validate.InvalidArgument(validate.Violation{Field: protoField(ve.Field), Description: ve.Reason})
	case errors.Is(err, idempotency.ErrMissingKey), errors.Is(err, idempotency.ErrKeyTooLong):
		return validate.InvalidArgument(validate.Violation{Field: "idempotency_key", Description: err.Error()})
	case errors.Is(err, idempotency.ErrKeyReused):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, domain.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, app.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, app.ErrReadOnly):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	s.log.ErrorContext(ctx, "request failed", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// protoField renames the engine's field names to the request's.
func protoField(f string) string {
	switch f {
	case "exclude_ids":
		return "exclude_product_ids"
	}
	return f
}
