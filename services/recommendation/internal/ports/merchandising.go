package ports

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// List page sizes.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxVariants     = 20
)

func encodeToken(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeToken(t string) string {
	b, _ := base64.RawURLEncoding.DecodeString(t) // validated before
	return string(b)
}

func pageSize(n int32) int {
	if n <= 0 {
		return defaultPageSize
	}
	return int(n)
}

func checkPage(vs *validate.Violations, size int32, token string) {
	if size < 0 || size > maxPageSize {
		vs.Add("page_size", fmt.Sprintf("must be within 0..%d, got %d", maxPageSize, size))
	}
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) > domain.MaxIDLength {
		vs.Add("page_token", "is not a token this service issued")
	}
}

// withPrefix names a domain validation error's field inside the request
// message (rule.name), so the console can put the message beside the input.
func withPrefix(err error, prefix string) error {
	var ve *domain.ValidationError
	if errors.As(err, &ve) && ve.Field != "update_mask" && !strings.HasPrefix(ve.Field, prefix) {
		return &domain.ValidationError{Field: prefix + ve.Field, Reason: ve.Reason, Err: ve.Err}
	}
	return err
}

// maskPaths returns the mask's paths without the message prefix ("rule.name"
// and "name" both name the rule's name).
func maskPaths(m *fieldmaskpb.FieldMask, prefix string) []string {
	out := make([]string, 0, len(m.GetPaths()))
	for _, p := range m.GetPaths() {
		out = append(out, strings.TrimPrefix(p, prefix))
	}
	return out
}

func ruleFromProto(r *recommendationv1.MerchandisingRule) recommend.Rule {
	out := recommend.Rule{
		ID: r.GetRuleId(), Name: r.GetName(), Kind: recommend.RuleKind(r.GetKind()), ProductIDs: r.GetProductIds(), Categories: r.GetCategories(),
		Segment: r.GetSegmentId(), Tier: r.GetTierId(), Multiplier: r.GetMultiplier(), MarginWeight: r.GetMarginWeight(), Paused: r.GetPaused(),
	}
	if r.GetStartTime() != nil {
		out.From = r.GetStartTime().AsTime()
	}
	if r.GetEndTime() != nil {
		out.Until = r.GetEndTime().AsTime()
	}
	return out
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func ruleToProto(r recommend.Rule) *recommendationv1.MerchandisingRule {
	return &recommendationv1.MerchandisingRule{
		RuleId: r.ID, Name: r.Name, Kind: recommendationv1.MerchandisingRuleKind(r.Kind), ProductIds: r.ProductIDs, Categories: r.Categories,
		SegmentId: r.Segment, TierId: r.Tier, Multiplier: r.Multiplier, MarginWeight: r.MarginWeight, Paused: r.Paused,
		StartTime: tsOrNil(r.From), EndTime: tsOrNil(r.Until), CreateTime: tsOrNil(r.Created), UpdateTime: tsOrNil(r.Updated),
	}
}

// experimentPlacement maps the API's placements to an experiment's: home
// requests are the engine's unspecified placement, so an experiment on the
// home page has its own name, and an unspecified one runs everywhere.
func experimentPlacement(p recommendationv1.Placement) string {
	if p == recommendationv1.Placement_PLACEMENT_HOME {
		return app.HomePlacement
	}
	return string(placements[p])
}

func experimentPlacementToProto(p string) recommendationv1.Placement {
	if p == app.HomePlacement {
		return recommendationv1.Placement_PLACEMENT_HOME
	}
	for k, v := range placements {
		if string(v) == p && k != recommendationv1.Placement_PLACEMENT_HOME {
			return k
		}
	}
	return recommendationv1.Placement_PLACEMENT_UNSPECIFIED
}

func experimentFromProto(x *recommendationv1.Experiment) store.ExperimentRecord {
	out := store.ExperimentRecord{
		Experiment: experiment.Experiment{ID: x.GetExperimentId(), Placement: experimentPlacement(x.GetPlacement())},
		Name:       x.GetName(), State: int(x.GetState()),
	}
	if x.GetEndTime() != nil {
		out.End = x.GetEndTime().AsTime()
	}
	for _, v := range x.GetVariants() {
		ev := experiment.Variant{Name: v.GetName(), Weight: int(v.GetWeight()), Params: v.GetParams()}
		if s := strategies[v.GetStrategy()]; s != recommend.Auto {
			ev.Strategy = string(s)
		}
		out.Variants = append(out.Variants, ev)
	}
	return out
}

func experimentToProto(x app.Experiment) *recommendationv1.Experiment {
	out := &recommendationv1.Experiment{
		ExperimentId: x.ID, Name: x.Name, Placement: experimentPlacementToProto(x.Placement), State: recommendationv1.ExperimentState(x.State),
		StartTime: tsOrNil(x.Start), EndTime: tsOrNil(x.End), ManagedByEnvironment: x.ManagedByEnvironment,
		CreateTime: tsOrNil(x.Created), UpdateTime: tsOrNil(x.Updated),
	}
	for _, v := range x.Variants {
		st, _ := recommend.ParseStrategy(v.Strategy)
		out.Variants = append(out.Variants, &recommendationv1.ExperimentVariant{
			Name: v.Name, Weight: int32(v.Weight), Strategy: strategyToProto(st), Params: v.Params,
		})
	}
	return out
}

// mutate runs fn in a transaction once per idempotency key, then reloads
// the marketer's configuration on this replica so the caller's next request
// here sees the change (other replicas reload within RECO_POLL_INTERVAL).
func mutate[Resp proto.Message](ctx context.Context, s *server, method string, req keyed, fn func(tx pgx.Tx) (Resp, error)) (Resp, error) {
	var resp Resp
	err := s.app.Tx(ctx, func(tx pgx.Tx) error {
		r, _, err := idempotency.Do(ctx, tx, scope(ctx, method), req.GetIdempotencyKey(), req, func() (Resp, error) { return fn(tx) })
		resp = r
		return err
	})
	if err != nil {
		var zero Resp
		return zero, s.toStatus(ctx, err)
	}
	if err := s.app.ReloadMerchandising(ctx, true); err != nil {
		s.log.WarnContext(ctx, "reload merchandising after a change", "err", err)
	}
	return resp, nil
}

// keyed is a mutating request: it carries an idempotency key.
type keyed interface {
	proto.Message
	GetIdempotencyKey() string
}

// CreateMerchandisingRule stores a rule once per idempotency key.
func (s *server) CreateMerchandisingRule(ctx context.Context, req *recommendationv1.CreateMerchandisingRuleRequest) (*recommendationv1.CreateMerchandisingRuleResponse, error) {
	return mutate(ctx, s, recommendationv1.RecommendationService_CreateMerchandisingRule_FullMethodName, req,
		func(tx pgx.Tx) (*recommendationv1.CreateMerchandisingRuleResponse, error) {
			r, err := s.app.CreateRule(ctx, tx, ruleFromProto(req.GetRule()))
			if err != nil {
				return nil, withPrefix(err, "rule.")
			}
			return &recommendationv1.CreateMerchandisingRuleResponse{Rule: ruleToProto(r)}, nil
		})
}

// UpdateMerchandisingRule changes the fields of a rule named by update_mask.
func (s *server) UpdateMerchandisingRule(ctx context.Context, req *recommendationv1.UpdateMerchandisingRuleRequest) (*recommendationv1.UpdateMerchandisingRuleResponse, error) {
	return mutate(ctx, s, recommendationv1.RecommendationService_UpdateMerchandisingRule_FullMethodName, req,
		func(tx pgx.Tx) (*recommendationv1.UpdateMerchandisingRuleResponse, error) {
			r, err := s.app.UpdateRule(ctx, tx, ruleFromProto(req.GetRule()), maskPaths(req.GetUpdateMask(), "rule."))
			if err != nil {
				return nil, withPrefix(err, "rule.")
			}
			return &recommendationv1.UpdateMerchandisingRuleResponse{Rule: ruleToProto(r)}, nil
		})
}

// DeleteMerchandisingRule removes a rule once per idempotency key.
func (s *server) DeleteMerchandisingRule(ctx context.Context, req *recommendationv1.DeleteMerchandisingRuleRequest) (*recommendationv1.DeleteMerchandisingRuleResponse, error) {
	return mutate(ctx, s, recommendationv1.RecommendationService_DeleteMerchandisingRule_FullMethodName, req,
		func(tx pgx.Tx) (*recommendationv1.DeleteMerchandisingRuleResponse, error) {
			if err := s.app.DeleteRule(ctx, tx, req.GetRuleId()); err != nil {
				return nil, err
			}
			return &recommendationv1.DeleteMerchandisingRuleResponse{RuleId: req.GetRuleId()}, nil
		})
}

// ListMerchandisingRules pages through the stored rules in id order.
func (s *server) ListMerchandisingRules(ctx context.Context, req *recommendationv1.ListMerchandisingRulesRequest) (*recommendationv1.ListMerchandisingRulesResponse, error) {
	size := pageSize(req.GetPageSize())
	rs, err := s.app.Rules(ctx, decodeToken(req.GetPageToken()), size+1)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &recommendationv1.ListMerchandisingRulesResponse{}
	if len(rs) > size {
		rs = rs[:size]
		resp.NextPageToken = encodeToken(rs[size-1].ID)
	}
	for _, r := range rs {
		resp.Rules = append(resp.Rules, ruleToProto(r))
	}
	return resp, nil
}

// CreateExperiment stores an experiment once per idempotency key.
func (s *server) CreateExperiment(ctx context.Context, req *recommendationv1.CreateExperimentRequest) (*recommendationv1.CreateExperimentResponse, error) {
	return mutate(ctx, s, recommendationv1.RecommendationService_CreateExperiment_FullMethodName, req,
		func(tx pgx.Tx) (*recommendationv1.CreateExperimentResponse, error) {
			x, err := s.app.CreateExperiment(ctx, tx, experimentFromProto(req.GetExperiment()))
			if err != nil {
				return nil, withPrefix(err, "experiment.")
			}
			return &recommendationv1.CreateExperimentResponse{Experiment: experimentToProto(x)}, nil
		})
}

// UpdateExperiment starts, stops or changes an experiment.
func (s *server) UpdateExperiment(ctx context.Context, req *recommendationv1.UpdateExperimentRequest) (*recommendationv1.UpdateExperimentResponse, error) {
	return mutate(ctx, s, recommendationv1.RecommendationService_UpdateExperiment_FullMethodName, req,
		func(tx pgx.Tx) (*recommendationv1.UpdateExperimentResponse, error) {
			x, err := s.app.UpdateExperiment(ctx, tx, experimentFromProto(req.GetExperiment()), maskPaths(req.GetUpdateMask(), "experiment."))
			if err != nil {
				return nil, withPrefix(err, "experiment.")
			}
			return &recommendationv1.UpdateExperimentResponse{Experiment: experimentToProto(x)}, nil
		})
}

// GetExperiment returns one experiment.
func (s *server) GetExperiment(ctx context.Context, req *recommendationv1.GetExperimentRequest) (*recommendationv1.GetExperimentResponse, error) {
	x, err := s.app.GetExperiment(ctx, req.GetExperimentId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &recommendationv1.GetExperimentResponse{Experiment: experimentToProto(x)}, nil
}

// ListExperiments pages through the experiments in id order.
func (s *server) ListExperiments(ctx context.Context, req *recommendationv1.ListExperimentsRequest) (*recommendationv1.ListExperimentsResponse, error) {
	size := pageSize(req.GetPageSize())
	xs, err := s.app.Experiments(ctx, decodeToken(req.GetPageToken()), size+1)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &recommendationv1.ListExperimentsResponse{}
	if len(xs) > size {
		xs = xs[:size]
		resp.NextPageToken = encodeToken(xs[size-1].ID)
	}
	for _, x := range xs {
		resp.Experiments = append(resp.Experiments, experimentToProto(x))
	}
	return resp, nil
}

// ExportRecommendations streams every segment member's list; the same code
// as the `recommendation export` subcommand (app.SegmentRecommendations).
func (s *server) ExportRecommendations(req *recommendationv1.ExportRecommendationsRequest, stream grpc.ServerStreamingServer[recommendationv1.ExportRecommendationsResponse]) error {
	ctx := stream.Context()
	q := app.Query{Request: recommend.Request{Placement: recommend.Email, Strategy: strategies[req.GetStrategy()], Limit: int(req.GetLimit())}}
	err := s.app.SegmentRecommendations(ctx, req.GetSegmentId(), q, func(id string, r app.Result) error {
		out := &recommendationv1.ExportRecommendationsResponse{
			CustomerId: id, RecommendationId: r.ID, Variant: r.Variant, Items: make([]*recommendationv1.RecommendedItem, len(r.Items)),
		}
		for i, it := range r.Items {
			out.Items[i] = &recommendationv1.RecommendedItem{
				ProductId: it.ProductID, Score: it.Score, Reason: reasonToProto(it.Reason), Product: s.products.of(it.Product),
			}
		}
		return stream.Send(out)
	})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return nil
}

func validateCreateMerchandisingRule(req *recommendationv1.CreateMerchandisingRuleRequest) error {
	var vs validate.Violations
	checkKey(&vs, req.GetIdempotencyKey())
	if req.GetRule() == nil {
		vs.Add("rule", "is required")
	} else {
		checkRuleShape(&vs, req.GetRule())
	}
	return vs.Err()
}

func validateUpdateMerchandisingRule(req *recommendationv1.UpdateMerchandisingRuleRequest) error {
	var vs validate.Violations
	checkKey(&vs, req.GetIdempotencyKey())
	if req.GetRule() == nil {
		vs.Add("rule", "is required")
	} else {
		checkID(&vs, "rule.rule_id", req.GetRule().GetRuleId(), true)
		checkRuleShape(&vs, req.GetRule())
	}
	return vs.Err()
}

// checkRuleShape checks what the domain cannot see after conversion: enum
// numbers and timestamps. The rule's own checks run in the app.
func checkRuleShape(vs *validate.Violations, r *recommendationv1.MerchandisingRule) {
	if _, ok := recommendationv1.MerchandisingRuleKind_name[int32(r.GetKind())]; !ok {
		vs.Add("rule.kind", fmt.Sprintf("unknown kind %d", r.GetKind()))
	}
	for _, f := range []struct {
		name string
		ts   *timestamppb.Timestamp
	}{{"rule.start_time", r.GetStartTime()}, {"rule.end_time", r.GetEndTime()}} {
		if f.ts != nil && !f.ts.IsValid() {
			vs.Add(f.name, "is not a valid timestamp")
		}
	}
}

func validateDeleteMerchandisingRule(req *recommendationv1.DeleteMerchandisingRuleRequest) error {
	var vs validate.Violations
	checkKey(&vs, req.GetIdempotencyKey())
	checkID(&vs, "rule_id", req.GetRuleId(), true)
	return vs.Err()
}

func validateListMerchandisingRules(req *recommendationv1.ListMerchandisingRulesRequest) error {
	var vs validate.Violations
	checkPage(&vs, req.GetPageSize(), req.GetPageToken())
	return vs.Err()
}

func validateListExperiments(req *recommendationv1.ListExperimentsRequest) error {
	var vs validate.Violations
	checkPage(&vs, req.GetPageSize(), req.GetPageToken())
	return vs.Err()
}

func validateGetExperiment(req *recommendationv1.GetExperimentRequest) error {
	var vs validate.Violations
	checkID(&vs, "experiment_id", req.GetExperimentId(), true)
	return vs.Err()
}

func validateCreateExperiment(req *recommendationv1.CreateExperimentRequest) error {
	var vs validate.Violations
	checkKey(&vs, req.GetIdempotencyKey())
	if req.GetExperiment() == nil {
		vs.Add("experiment", "is required")
	} else {
		checkID(&vs, "experiment.experiment_id", req.GetExperiment().GetExperimentId(), false)
		checkExperimentShape(&vs, req.GetExperiment())
	}
	return vs.Err()
}

func validateUpdateExperiment(req *recommendationv1.UpdateExperimentRequest) error {
	var vs validate.Violations
	checkKey(&vs, req.GetIdempotencyKey())
	if req.GetExperiment() == nil {
		vs.Add("experiment", "is required")
	} else {
		checkID(&vs, "experiment.experiment_id", req.GetExperiment().GetExperimentId(), true)
		checkExperimentShape(&vs, req.GetExperiment())
	}
	return vs.Err()
}

// checkExperimentShape checks enum numbers, timestamps and sizes; the
// definition's own rules run in the app.
func checkExperimentShape(vs *validate.Violations, x *recommendationv1.Experiment) {
	if _, ok := placements[x.GetPlacement()]; !ok {
		vs.Add("experiment.placement", fmt.Sprintf("unknown placement %d", x.GetPlacement()))
	}
	if _, ok := recommendationv1.ExperimentState_name[int32(x.GetState())]; !ok {
		vs.Add("experiment.state", fmt.Sprintf("unknown state %d", x.GetState()))
	}
	if ts := x.GetEndTime(); ts != nil && !ts.IsValid() {
		vs.Add("experiment.end_time", "is not a valid timestamp")
	}
	if len(x.GetVariants()) > maxVariants {
		vs.Add("experiment.variants", fmt.Sprintf("at most %d, got %d", maxVariants, len(x.GetVariants())))
		return
	}
	for i, v := range x.GetVariants() {
		if _, ok := strategies[v.GetStrategy()]; !ok {
			vs.Add(fmt.Sprintf("experiment.variants[%d].strategy", i), fmt.Sprintf("unknown strategy %d", v.GetStrategy()))
		}
	}
}

func validateExportRecommendations(req *recommendationv1.ExportRecommendationsRequest) error {
	var vs validate.Violations
	checkID(&vs, "segment_id", req.GetSegmentId(), true)
	if l := req.GetLimit(); l < 1 || l > MaxLimit {
		vs.Add("limit", fmt.Sprintf("must be between 1 and %d, got %d", MaxLimit, l))
	}
	if _, ok := strategies[req.GetStrategy()]; !ok {
		vs.Add("strategy", fmt.Sprintf("unknown strategy %d", req.GetStrategy()))
	}
	if req.GetStrategy() == recommendationv1.Strategy_STRATEGY_UPSELL || req.GetStrategy() == recommendationv1.Strategy_STRATEGY_CROSS_SELL {
		vs.Add("strategy", "an export has no products in context: use personalized, buy again, trending or the default")
	}
	return vs.Err()
}

func checkKey(vs *validate.Violations, key string) {
	if key == "" {
		vs.Add("idempotency_key", "is required")
	}
}
