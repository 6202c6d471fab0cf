package ports

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/pkg/validate"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// server implements segmentationv1.SegmentationServiceServer on the app.
type server struct {
	segmentationv1.UnimplementedSegmentationServiceServer
	app  *app.App
	pool *pgxpool.Pool
}

// toStatus maps application and domain errors to gRPC codes, once, here.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ce *segment.CompileError
	var sv *segment.ValidationError
	var pv *profile.ValidationError
	switch {
	case errors.As(err, &ce):
		vs := make([]validate.Violation, len(ce.Issues))
		for i, is := range ce.Issues {
			vs[i] = validate.Violation{Field: "rule", Description: is.String()}
		}
		return validate.InvalidArgument(vs...)
	case errors.As(err, &sv):
		return validate.InvalidArgument(validate.Violation{Field: "segment." + fieldName(sv.Field), Description: sv.Reason})
	case errors.As(err, &pv):
		return validate.InvalidArgument(validate.Violation{Field: pv.Field, Description: pv.Reason})
	case errors.Is(err, segment.ErrCycle), errors.Is(err, segment.ErrUnknownSegment):
		return validate.InvalidArgument(validate.Violation{Field: "segment.rule", Description: err.Error()})
	case errors.Is(err, segment.ErrNotFound), errors.Is(err, app.ErrProfileNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, segment.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, segment.ErrInUse):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, app.ErrScoringRunning):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, idempotency.ErrKeyReused):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, idempotency.ErrMissingKey), errors.Is(err, idempotency.ErrKeyTooLong):
		return validate.InvalidArgument(validate.Violation{Field: "idempotency_key", Description: err.Error()})
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func fieldName(f string) string {
	if f == "id" {
		return "segment_id"
	}
	return f
}

// scope is the idempotency scope of a call: the method and the caller, so
// two callers never share keys.
func scope(ctx context.Context, method string) string {
	c, _ := auth.ClaimsFrom(ctx)
	return method + ":" + c.Subject
}

// mutate runs fn once per idempotency key in one transaction.
func mutate[T proto.Message](ctx context.Context, pool *pgxpool.Pool, method, key string, req proto.Message, fn func(tx pgx.Tx) (T, error)) (T, bool, error) {
	var resp T
	var replayed bool
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		resp, replayed, err = idempotency.Do(ctx, tx, scope(ctx, method), key, req, func() (T, error) { return fn(tx) })
		return err
	})
	return resp, replayed, err
}

func segmentPB(s sqlc.Segment) *segmentationv1.Segment {
	out := &segmentationv1.Segment{SegmentId: s.SegmentID, Name: s.Name, Description: s.Description, Rule: s.Rule, Size: s.Size, TemplateId: s.TemplateID,
		CreatedAt: timestamppb.New(s.CreatedAt), UpdatedAt: timestamppb.New(s.UpdatedAt)}
	if s.EvaluatedAt != nil {
		out.EvaluatedAt = timestamppb.New(*s.EvaluatedAt)
	}
	return out
}

// refresh re-reads a segment after its membership was computed, so the
// response carries the size.
func (s *server) refresh(ctx context.Context, seg sqlc.Segment) *segmentationv1.Segment {
	if _, err := s.app.RecomputeSegments(ctx, seg.SegmentID); err != nil {
		// The scheduled pass finds the segment not evaluated and catches up.
		return segmentPB(seg)
	}
	if cur, err := s.app.GetSegment(ctx, seg.SegmentID); err == nil {
		return segmentPB(cur)
	}
	return segmentPB(seg)
}

// CreateSegment implements segmentationv1.SegmentationServiceServer.
func (s *server) CreateSegment(ctx context.Context, req *segmentationv1.CreateSegmentRequest) (*segmentationv1.CreateSegmentResponse, error) {
	in := req.GetSegment()
	id := in.GetSegmentId()
	if id == "" {
		id = app.SlugID(in.GetName())
	}
	seg := segment.Segment{ID: id, Name: in.GetName(), Description: in.GetDescription(), Rule: in.GetRule()}
	var stored sqlc.Segment
	resp, replayed, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_CreateSegment_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.CreateSegmentResponse, error) {
			var err error
			stored, err = s.app.CreateSegment(ctx, tx, seg)
			return &segmentationv1.CreateSegmentResponse{Segment: segmentPB(stored)}, err
		})
	if err != nil {
		return nil, toStatus(err)
	}
	if !replayed {
		resp.Segment = s.refresh(ctx, stored)
	}
	return resp, nil
}

// ListSegments implements segmentationv1.SegmentationServiceServer.
func (s *server) ListSegments(ctx context.Context, req *segmentationv1.ListSegmentsRequest) (*segmentationv1.ListSegmentsResponse, error) {
	size := pageSize(req.GetPageSize(), 50, 500)
	segs, err := s.app.ListSegments(ctx, req.GetPageToken(), size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &segmentationv1.ListSegmentsResponse{}
	if len(segs) > size {
		segs = segs[:size]
		out.NextPageToken = segs[size-1].SegmentID
	}
	for _, sg := range segs {
		out.Segments = append(out.Segments, segmentPB(sg))
	}
	return out, nil
}

func pageSize(asked int32, def, most int) int {
	if asked <= 0 {
		return def
	}
	return min(int(asked), most)
}

// GetSegment implements segmentationv1.SegmentationServiceServer.
func (s *server) GetSegment(ctx context.Context, req *segmentationv1.GetSegmentRequest) (*segmentationv1.GetSegmentResponse, error) {
	sg, err := s.app.GetSegment(ctx, req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.GetSegmentResponse{Segment: segmentPB(sg)}, nil
}

// UpdateSegment implements segmentationv1.SegmentationServiceServer.
func (s *server) UpdateSegment(ctx context.Context, req *segmentationv1.UpdateSegmentRequest) (*segmentationv1.UpdateSegmentResponse, error) {
	in := req.GetSegment()
	var p app.SegmentPatch
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = []string{"name", "description", "rule"}
	}
	for _, f := range paths {
		switch f {
		case "name":
			p.Name = proto.String(in.GetName())
		case "description":
			p.Description = proto.String(in.GetDescription())
		case "rule":
			p.Rule = proto.String(in.GetRule())
		}
	}
	var stored sqlc.Segment
	resp, replayed, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_UpdateSegment_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.UpdateSegmentResponse, error) {
			var err error
			stored, err = s.app.UpdateSegment(ctx, tx, in.GetSegmentId(), p)
			return &segmentationv1.UpdateSegmentResponse{Segment: segmentPB(stored)}, err
		})
	if err != nil {
		return nil, toStatus(err)
	}
	if !replayed {
		resp.Segment = s.refresh(ctx, stored)
	}
	return resp, nil
}

// DeleteSegment implements segmentationv1.SegmentationServiceServer.
func (s *server) DeleteSegment(ctx context.Context, req *segmentationv1.DeleteSegmentRequest) (*segmentationv1.DeleteSegmentResponse, error) {
	resp, _, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_DeleteSegment_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.DeleteSegmentResponse, error) {
			return &segmentationv1.DeleteSegmentResponse{}, s.app.DeleteSegment(ctx, tx, req.GetSegmentId())
		})
	return resp, toStatus(err)
}

// PreviewSegment implements segmentationv1.SegmentationServiceServer.
func (s *server) PreviewSegment(ctx context.Context, req *segmentationv1.PreviewSegmentRequest) (*segmentationv1.PreviewSegmentResponse, error) {
	p, err := s.app.PreviewRule(ctx, req.GetRule(), pageSize(req.GetSampleSize(), 20, 100))
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.PreviewSegmentResponse{Size: p.Size, SampleCustomerIds: p.Sample, Population: p.Population}, nil
}

// ListSegmentMembers implements segmentationv1.SegmentationServiceServer.
func (s *server) ListSegmentMembers(ctx context.Context, req *segmentationv1.ListSegmentMembersRequest) (*segmentationv1.ListSegmentMembersResponse, error) {
	size := pageSize(req.GetPageSize(), 100, 1000)
	rows, err := s.app.Members(ctx, req.GetSegmentId(), req.GetPageToken(), size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &segmentationv1.ListSegmentMembersResponse{}
	if len(rows) > size {
		rows = rows[:size]
		out.NextPageToken = rows[size-1].CustomerID
	}
	for _, r := range rows {
		out.Members = append(out.Members, &segmentationv1.SegmentMember{CustomerId: r.CustomerID, EnteredAt: timestamppb.New(r.EnteredAt)})
	}
	return out, nil
}

// GetCustomerProfile implements segmentationv1.SegmentationServiceServer.
func (s *server) GetCustomerProfile(ctx context.Context, req *segmentationv1.GetCustomerProfileRequest) (*segmentationv1.GetCustomerProfileResponse, error) {
	v, err := s.app.Customer(ctx, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.GetCustomerProfileResponse{Profile: profilePB(v)}, nil
}

// Track implements segmentationv1.SegmentationServiceServer: the
// interaction goes to commerce.interactions.v1 through the outbox, and
// reaches the profile through the consumer like every other interaction.
func (s *server) Track(ctx context.Context, req *segmentationv1.TrackRequest) (*segmentationv1.TrackResponse, error) {
	ev := proto.Clone(req.GetEvent()).(*commercev1.InteractionEvent)
	ev.CustomerId, ev.AnonymousId = req.GetCustomerId(), req.GetAnonymousId()
	if ev.OccurredAt == nil {
		ev.OccurredAt = timestamppb.New(s.app.Now())
	}
	key := ev.GetCustomerId()
	if key == "" {
		key = ev.GetAnonymousId()
	}
	resp, _, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_Track_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.TrackResponse, error) {
			id, err := events.NewID()
			if err != nil {
				return nil, err
			}
			return &segmentationv1.TrackResponse{EventId: id}, outbox.Add(ctx, tx, events.Event{ID: id, Topic: topics.CommerceInteractions, Source: app.Source,
				Subject: key, Key: key, Time: ev.OccurredAt.AsTime(), Payload: ev})
		})
	return resp, toStatus(err)
}

// Identify implements segmentationv1.SegmentationServiceServer.
func (s *server) Identify(ctx context.Context, req *segmentationv1.IdentifyRequest) (*segmentationv1.IdentifyResponse, error) {
	c := &commercev1.Customer{}
	if req.GetCustomer() != nil {
		c = proto.Clone(req.GetCustomer()).(*commercev1.Customer)
	}
	c.CustomerId = req.GetCustomerId()
	if a := req.GetAnonymousId(); a != "" && !containsString(c.AnonymousIds, a) {
		c.AnonymousIds = append(c.AnonymousIds, a)
	}
	now := timestamppb.New(s.app.Now())
	resp, _, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_Identify_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.IdentifyResponse, error) {
			id, err := events.NewID()
			if err != nil {
				return nil, err
			}
			return &segmentationv1.IdentifyResponse{EventId: id}, outbox.Add(ctx, tx, events.Event{ID: id, Topic: topics.CommerceCustomers, Source: app.Source,
				Subject: c.CustomerId, Key: c.CustomerId, Time: now.AsTime(),
				Payload: &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED, Customer: c, OccurredAt: now}})
		})
	return resp, toStatus(err)
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// profilePB renders a profile with its traits and segments.
func profilePB(v app.CustomerView) *segmentationv1.Profile {
	p, t := v.Profile, v.Traits
	c := &commercev1.Customer{CustomerId: p.CustomerID, Country: p.Country.Value}
	if p.SignedUpAt.Set {
		c.SignedUpAt = timestamppb.New(p.SignedUpAt.Value)
	}
	if p.Birthday.Set {
		b := p.Birthday.Value
		c.Birthday = &commercev1.Date{Year: int32(b.Year()), Month: int32(b.Month()), Day: int32(b.Day())}
	}
	if len(p.Consents) > 0 {
		c.Consent = &commercev1.Consent{EmailMarketing: p.Consents["email"].Value, SmsMarketing: p.Consents["sms"].Value, PushMarketing: p.Consents["push"].Value,
			Personalization: p.Consents["personalization"].Value, PartnerSharing: p.Consents["partner_sharing"].Value}
	}
	if p.SignupChannel.Set {
		c.SignupChannel = commercev1.Channel(commercev1.Channel_value["CHANNEL_"+strings.ToUpper(p.SignupChannel.Value)])
	}
	if p.PreferredChannel.Set {
		c.PreferredContactChannel = commercev1.ContactChannel(commercev1.ContactChannel_value["CONTACT_CHANNEL_"+strings.ToUpper(p.PreferredChannel.Value)])
	}
	if len(t.Attributes) > 0 {
		c.Attributes = t.Attributes
	}
	money := func(v int64) *commercev1.Money { return &commercev1.Money{AmountMinor: v, Currency: t.Currency} }
	tr := &segmentationv1.Traits{OrderCount: int64(t.OrderCount), TotalSpend: money(t.TotalSpend), AverageOrderValue: money(t.AverageOrderValue),
		RecencyDays: int32(t.RecencyDays), FavouriteCategories: t.FavouriteCategories, TierId: t.Tier, PointsBalance: t.PointsBalance,
		ReferralsMade: int64(t.ReferralsMade), LifecycleStage: lifecyclePB(t.Lifecycle), PredictedClv: money(t.CLV), ChurnRisk: t.ChurnRisk,
		HasAbandonedCart: t.HasAbandonedCart,
		Satisfaction:     &segmentationv1.Satisfaction{Csat: surveyPB(p, profile.CSAT, t.CSAT), Nps: surveyPB(p, profile.NPS, t.NPS), Ces: surveyPB(p, profile.CES, t.CES)}}
	if !t.FirstOrderAt.IsZero() {
		tr.FirstOrderAt, tr.LastOrderAt = timestamppb.New(t.FirstOrderAt), timestamppb.New(t.LastOrderAt)
		if t.AvgDaysBetweenOrders > 0 {
			tr.PurchaseFrequency = 30 / t.AvgDaysBetweenOrders
		}
	}
	for _, ch := range t.ChannelsUsed {
		tr.Channels = append(tr.Channels, commercev1.Channel(commercev1.Channel_value["CHANNEL_"+strings.ToUpper(ch)]))
	}
	tr.PreferredChannel = commercev1.ContactChannel(commercev1.ContactChannel_value["CONTACT_CHANNEL_"+strings.ToUpper(t.PreferredChannel)])
	if t.RFM.Group != "" {
		tr.Rfm = &segmentationv1.Rfm{Recency: int32(t.RFM.R), Frequency: int32(t.RFM.F), Monetary: int32(t.RFM.M), Group: rfmGroupPB(t.RFM.Group)}
		if v.RFMAt != nil {
			tr.Rfm.ScoredAt = timestamppb.New(*v.RFMAt)
		}
	}
	out := &segmentationv1.Profile{CustomerId: p.CustomerID, Customer: c, Traits: tr, UpdatedAt: timestamppb.New(v.UpdatedAt)}
	for _, m := range v.Segments {
		out.Segments = append(out.Segments, &segmentationv1.SegmentMembership{SegmentId: m.SegmentID, Name: m.Name, EnteredAt: timestamppb.New(m.EnteredAt)})
	}
	return out
}

func lifecyclePB(s profile.Stage) segmentationv1.LifecycleStage {
	switch s {
	case profile.StageNew:
		return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_NEW
	case profile.StageActive:
		return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_ACTIVE
	case profile.StageAtRisk:
		return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK
	case profile.StageLapsed:
		return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_LAPSED
	case profile.StageWonBack:
		return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_WON_BACK
	}
	return segmentationv1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED
}

// rfmGroupPB maps "Can't Lose Them" to RFM_GROUP_CANT_LOSE_THEM.
func rfmGroupPB(g string) segmentationv1.RfmGroup {
	name := "RFM_GROUP_" + strings.ToUpper(strings.NewReplacer(" ", "_", "'", "").Replace(g))
	return segmentationv1.RfmGroup(segmentationv1.RfmGroup_value[name])
}

// surveyPB shows the latest answer and the one before it.
func surveyPB(p *profile.Profile, kind profile.SurveyKind, t profile.SurveyTrait) *segmentationv1.SatisfactionScore {
	if t.Count == 0 {
		return nil
	}
	out := &segmentationv1.SatisfactionScore{Latest: int32(t.Latest), AnsweredAt: timestamppb.New(t.At)}
	var prev profile.SurveyAnswer
	for _, a := range p.Surveys {
		if a.Kind == kind && a.At.Before(t.At) && a.At.After(prev.At) {
			prev = a
		}
	}
	if !prev.At.IsZero() {
		out.Previous = int32(prev.Score)
	}
	return out
}

// validators check requests before the handlers run, naming each bad field.
func validators(c *segment.Compiler) *validate.Registry {
	r := validate.NewRegistry()
	key := func(vs *validate.Violations, k string) {
		switch {
		case k == "":
			vs.Add("idempotency_key", "is required")
		case len(k) > idempotency.MaxKeyLength:
			vs.Add("idempotency_key", "must be at most "+strconv.Itoa(idempotency.MaxKeyLength)+" bytes")
		}
	}
	rule := func(vs *validate.Violations, field, src string) {
		if _, err := c.Compile(src); err != nil {
			var ce *segment.CompileError
			if errors.As(err, &ce) {
				for _, is := range ce.Issues {
					vs.Add(field, is.String())
				}
				return
			}
			vs.Add(field, err.Error())
		}
	}
	validate.Register(r, func(req *segmentationv1.CreateSegmentRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		s := req.GetSegment()
		if s == nil {
			vs.Add("segment", "is required")
			return vs.Err()
		}
		if id := s.GetSegmentId(); id != "" && !segment.ValidID(id) {
			vs.Add("segment.segment_id", "must be lower-case letters, digits, '-' or '_', starting with a letter, at most 63 characters")
		}
		if n := strings.TrimSpace(s.GetName()); n == "" || len(n) > 200 {
			vs.Add("segment.name", "must be 1–200 characters")
		}
		if len(s.GetDescription()) > 2000 {
			vs.Add("segment.description", "must be at most 2000 characters")
		}
		rule(&vs, "segment.rule", s.GetRule())
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.UpdateSegmentRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		s := req.GetSegment()
		if s.GetSegmentId() == "" {
			vs.Add("segment.segment_id", "is required")
		}
		paths := req.GetUpdateMask().GetPaths()
		for _, p := range paths {
			if p != "name" && p != "description" && p != "rule" {
				vs.Add("update_mask", fmt.Sprintf("%q cannot be changed (name, description or rule)", p))
			}
		}
		if len(paths) == 0 || containsString(paths, "rule") {
			rule(&vs, "segment.rule", s.GetRule())
		}
		if len(paths) == 0 || containsString(paths, "name") {
			if n := strings.TrimSpace(s.GetName()); n == "" || len(n) > 200 {
				vs.Add("segment.name", "must be 1–200 characters")
			}
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.DeleteSegmentRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		if req.GetSegmentId() == "" {
			vs.Add("segment_id", "is required")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.GetSegmentRequest) error {
		if req.GetSegmentId() == "" {
			return validate.Violations{{Field: "segment_id", Description: "is required"}}
		}
		return nil
	})
	validate.Register(r, func(req *segmentationv1.ListSegmentMembersRequest) error {
		var vs validate.Violations
		if req.GetSegmentId() == "" {
			vs.Add("segment_id", "is required")
		}
		if req.GetPageSize() < 0 {
			vs.Add("page_size", "must not be negative")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.ListSegmentsRequest) error {
		if req.GetPageSize() < 0 {
			return validate.Violations{{Field: "page_size", Description: "must not be negative"}}
		}
		return nil
	})
	validate.Register(r, func(req *segmentationv1.PreviewSegmentRequest) error {
		var vs validate.Violations
		rule(&vs, "rule", req.GetRule())
		if req.GetSampleSize() < 0 {
			vs.Add("sample_size", "must not be negative")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.GetCustomerProfileRequest) error {
		if req.GetCustomerId() == "" {
			return validate.Violations{{Field: "customer_id", Description: "is required"}}
		}
		return nil
	})
	validate.Register(r, func(req *segmentationv1.TrackRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		if req.GetCustomerId() == "" && req.GetAnonymousId() == "" {
			vs.Add("anonymous_id", "is required when customer_id is empty")
		}
		ev := req.GetEvent()
		if ev == nil {
			vs.Add("event", "is required")
			return vs.Err()
		}
		if c := ev.GetCustomerId(); c != "" && c != req.GetCustomerId() {
			vs.Add("event.customer_id", "must be empty or equal to customer_id")
		}
		if a := ev.GetAnonymousId(); a != "" && a != req.GetAnonymousId() {
			vs.Add("event.anonymous_id", "must be empty or equal to anonymous_id")
		}
		switch ev.GetKind() {
		case commercev1.InteractionEvent_KIND_UNSPECIFIED:
			vs.Add("event.kind", "is required")
		case commercev1.InteractionEvent_KIND_ADD_TO_CART, commercev1.InteractionEvent_KIND_REMOVE_FROM_CART:
			if ev.GetSku() == "" && ev.GetProductId() == "" {
				vs.Add("event.sku", "is required for cart events (or product_id)")
			}
		case commercev1.InteractionEvent_KIND_SURVEY_ANSWER:
			s := ev.GetSurvey()
			lo, hi := int32(1), int32(7)
			if s.GetKind() == commercev1.SurveyAnswer_KIND_NPS {
				lo, hi = 0, 10
			}
			if s.GetKind() == commercev1.SurveyAnswer_KIND_UNSPECIFIED {
				vs.Add("event.survey.kind", "is required")
			} else if s.GetScore() < lo || s.GetScore() > hi {
				vs.Add("event.survey.score", fmt.Sprintf("must be within %d..%d", lo, hi))
			}
		}
		if ev.GetQuantity() < 0 {
			vs.Add("event.quantity", "must not be negative")
		}
		if ev.GetUnitPrice().GetAmountMinor() < 0 {
			vs.Add("event.unit_price.amount_minor", "must not be negative")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.IdentifyRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		if req.GetCustomerId() == "" {
			vs.Add("customer_id", "is required")
		}
		c := req.GetCustomer()
		if id := c.GetCustomerId(); id != "" && id != req.GetCustomerId() {
			vs.Add("customer.customer_id", "must be empty or equal to customer_id")
		}
		if cc := c.GetCountry(); cc != "" && (len(cc) != 2 || strings.ToUpper(cc) != cc) {
			vs.Add("customer.country", "must be an ISO 3166-1 alpha-2 code such as DE")
		}
		if b := c.GetBirthday(); b != nil && (b.GetMonth() < 1 || b.GetMonth() > 12 || b.GetDay() < 1 || b.GetDay() > 31) {
			vs.Add("customer.birthday", "must be a valid month and day")
		}
		return vs.Err()
	})
	reportValidators(r, key)
	return r
}
