package ports

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/affinity-platform/affinity/pkg/validate"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Request limits. A storefront never shows more than MaxLimit items; the
// others bound the work one request can ask for.
const (
	MaxLimit         = 100
	maxProductIDs    = 100
	maxExcludeIDs    = 1000
	maxCategories    = 100
	maxFeedback      = 1000
	maxProducts      = 1000
	maxPageTokenSize = 4096
)

// Validators checks every request before its handler runs, naming each bad
// field, so bad input never reaches the app.
func Validators() *validate.Registry {
	r := validate.NewRegistry()
	validate.Register(r, validateGetRecommendations)
	validate.Register(r, validateRecordFeedback)
	validate.Register(r, validateBatchUpsertProducts)
	validate.Register(r, validateGetExperimentResults)
	validate.Register(r, validateCreateMerchandisingRule)
	validate.Register(r, validateUpdateMerchandisingRule)
	validate.Register(r, validateDeleteMerchandisingRule)
	validate.Register(r, validateListMerchandisingRules)
	validate.Register(r, validateCreateExperiment)
	validate.Register(r, validateUpdateExperiment)
	validate.Register(r, validateGetExperiment)
	validate.Register(r, validateListExperiments)
	validate.Register(r, validateExportRecommendations)
	return r
}

func checkID(vs *validate.Violations, field, id string, required bool) {
	if id == "" && !required {
		return
	}
	if err := domain.ValidateID(field, id); err != nil {
		_, reason := fieldOf(err)
		vs.Add(field, reason)
	}
}

// checkAnonymousID leaves room for the prefix under which an anonymous
// visitor's interactions are stored (app.AnonymousKey).
func checkAnonymousID(vs *validate.Violations, id string) {
	if id == "" {
		return
	}
	if max := domain.MaxIDLength - len(app.AnonymousKey("")); len(id) > max {
		vs.Add("anonymous_id", fmt.Sprintf("must be at most %d bytes, got %d", max, len(id)))
		return
	}
	checkID(vs, "anonymous_id", id, true)
}

func checkIDs(vs *validate.Violations, field string, ids []string, limit int) {
	if len(ids) > limit {
		vs.Add(field, fmt.Sprintf("at most %d, got %d", limit, len(ids)))
		return
	}
	for i, id := range ids {
		checkID(vs, fmt.Sprintf("%s[%d]", field, i), id, true)
	}
}

func checkCategories(vs *validate.Violations, field string, cs []string) {
	if len(cs) > maxCategories {
		vs.Add(field, fmt.Sprintf("at most %d, got %d", maxCategories, len(cs)))
		return
	}
	for i, c := range cs {
		if strings.Trim(c, "/ ") == "" || len(c) > 512 {
			vs.Add(fmt.Sprintf("%s[%d]", field, i), "must be a non-empty category path of at most 512 bytes")
		}
	}
}

func validateGetRecommendations(req *recommendationv1.GetRecommendationsRequest) error {
	var vs validate.Violations
	checkID(&vs, "customer_id", req.GetCustomerId(), false)
	checkAnonymousID(&vs, req.GetAnonymousId())
	checkIDs(&vs, "product_ids", req.GetProductIds(), maxProductIDs)
	checkIDs(&vs, "exclude_product_ids", req.GetExcludeProductIds(), maxExcludeIDs)
	checkCategories(&vs, "include_categories", req.GetIncludeCategories())
	checkCategories(&vs, "exclude_categories", req.GetExcludeCategories())
	if _, ok := placements[req.GetPlacement()]; !ok {
		vs.Add("placement", fmt.Sprintf("unknown placement %d", req.GetPlacement()))
	}
	if _, ok := strategies[req.GetStrategy()]; !ok {
		vs.Add("strategy", fmt.Sprintf("unknown strategy %d", req.GetStrategy()))
	}
	if _, ok := recommendationv1.ItemView_name[int32(req.GetView())]; !ok {
		vs.Add("view", fmt.Sprintf("unknown view %d", req.GetView()))
	}
	if req.GetStrategy() == recommendationv1.Strategy_STRATEGY_UPSELL && len(req.GetProductIds()) == 0 {
		vs.Add("product_ids", "upsell needs at least one product to upgrade from")
	}
	if l := req.GetLimit(); l < 1 || l > MaxLimit {
		vs.Add("limit", fmt.Sprintf("must be between 1 and %d, got %d", MaxLimit, l))
	}
	if len(req.GetPageToken()) > maxPageTokenSize {
		vs.Add("page_token", fmt.Sprintf("at most %d bytes", maxPageTokenSize))
	}
	return vs.Err()
}

func validateRecordFeedback(req *recommendationv1.RecordFeedbackRequest) error {
	var vs validate.Violations
	if req.GetIdempotencyKey() == "" {
		vs.Add("idempotency_key", "is required")
	}
	checkID(&vs, "customer_id", req.GetCustomerId(), false)
	checkAnonymousID(&vs, req.GetAnonymousId())
	if req.GetCustomerId() == "" && req.GetAnonymousId() == "" {
		vs.Add("customer_id", "customer_id or anonymous_id is required")
	}
	fs := req.GetFeedback()
	switch {
	case len(fs) == 0:
		vs.Add("feedback", "at least one entry is required")
	case len(fs) > maxFeedback:
		vs.Add("feedback", fmt.Sprintf("at most %d, got %d", maxFeedback, len(fs)))
	}
	for i, f := range fs {
		if len(fs) > maxFeedback {
			break
		}
		if _, ok := recommendationv1.FeedbackKind_name[int32(f.GetKind())]; !ok || f.GetKind() == recommendationv1.FeedbackKind_FEEDBACK_KIND_UNSPECIFIED {
			vs.Add(fmt.Sprintf("feedback[%d].kind", i), "must be a known feedback kind")
		}
		checkID(&vs, fmt.Sprintf("feedback[%d].product_id", i), f.GetProductId(), true)
		if len(f.GetRecommendationId()) > domain.MaxIDLength {
			vs.Add(fmt.Sprintf("feedback[%d].recommendation_id", i), fmt.Sprintf("at most %d bytes", domain.MaxIDLength))
		}
		if f.GetPosition() < 0 {
			vs.Add(fmt.Sprintf("feedback[%d].position", i), "must not be negative")
		}
		if _, ok := placements[f.GetPlacement()]; !ok {
			vs.Add(fmt.Sprintf("feedback[%d].placement", i), "unknown placement")
		}
		if t := f.GetOccurredAt(); t != nil && !t.IsValid() {
			vs.Add(fmt.Sprintf("feedback[%d].occurred_at", i), "is not a valid timestamp")
		}
	}
	return vs.Err()
}

func validateBatchUpsertProducts(req *recommendationv1.BatchUpsertProductsRequest) error {
	var vs validate.Violations
	if req.GetIdempotencyKey() == "" {
		vs.Add("idempotency_key", "is required")
	}
	ps := req.GetProducts()
	switch {
	case len(ps) == 0:
		vs.Add("products", "at least one product is required")
	case len(ps) > maxProducts:
		vs.Add("products", fmt.Sprintf("at most %d, got %d", maxProducts, len(ps)))
		return vs.Err()
	}
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		if err := productFromProto(p, time.Time{}).Validate(); err != nil {
			field, reason := fieldOf(err)
			if field == "id" {
				field = "product_id"
			}
			vs.Add(fmt.Sprintf("products[%d].%s", i, field), reason)
			continue
		}
		if seen[p.GetProductId()] {
			vs.Add(fmt.Sprintf("products[%d].product_id", i), fmt.Sprintf("duplicate product %q in one request", p.GetProductId()))
		}
		seen[p.GetProductId()] = true
	}
	return vs.Err()
}

// fieldOf splits a domain validation error into field and reason.
func fieldOf(err error) (field, reason string) {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Field, ve.Reason
	}
	return "", err.Error()
}

func validateGetExperimentResults(req *recommendationv1.GetExperimentResultsRequest) error {
	var vs validate.Violations
	checkID(&vs, "experiment_id", req.GetExperimentId(), true)
	return vs.Err()
}
