package ports

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/validate"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// CheckSegmentMembership implements segmentationv1.SegmentationServiceServer.
func (s *server) CheckSegmentMembership(ctx context.Context, req *segmentationv1.CheckSegmentMembershipRequest) (*segmentationv1.CheckSegmentMembershipResponse, error) {
	m, err := s.app.CheckMembership(ctx, req.GetSegmentId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &segmentationv1.CheckSegmentMembershipResponse{Member: m.Member}
	if m.Member {
		out.EnteredAt = timestamppb.New(m.EnteredAt)
	}
	return out, nil
}

// Export page sizes: large pages, so a million members take 20 calls.
const (
	exportDefaultPage = 10_000
	exportMaxPage     = 50_000
)

// ExportSegmentMembers implements segmentationv1.SegmentationServiceServer:
// a keyset-paged export (by customer id). A customer entering or leaving
// during the export appears according to the page it falls in when read;
// every customer who is a member throughout appears exactly once.
func (s *server) ExportSegmentMembers(ctx context.Context, req *segmentationv1.ExportSegmentMembersRequest) (*segmentationv1.ExportSegmentMembersResponse, error) {
	size := pageSize(req.GetPageSize(), exportDefaultPage, exportMaxPage)
	pg, err := s.app.ExportMembers(ctx, req.GetSegmentId(), req.GetPageToken(), size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	rows := pg.Members
	out := &segmentationv1.ExportSegmentMembersResponse{SegmentSize: pg.SegmentSize, Members: make([]*segmentationv1.SegmentMember, 0, min(len(rows), size))}
	if len(rows) > size {
		rows = rows[:size]
		out.NextPageToken = rows[size-1].CustomerID
	}
	for _, r := range rows {
		out.Members = append(out.Members, &segmentationv1.SegmentMember{CustomerId: r.CustomerID, EnteredAt: timestamppb.New(r.EnteredAt)})
	}
	return out, nil
}

// timeRange applies the defaults of a [start, end) request: end is now,
// start is back from end.
func timeRange(now time.Time, start, end *timestamppb.Timestamp, back func(time.Time) time.Time) (time.Time, time.Time) {
	to := now
	if end != nil {
		to = end.AsTime().UTC()
	}
	from := back(to)
	if start != nil {
		from = start.AsTime().UTC()
	}
	return from, to
}

// ListSegmentSizes implements segmentationv1.SegmentationServiceServer.
func (s *server) ListSegmentSizes(ctx context.Context, req *segmentationv1.ListSegmentSizesRequest) (*segmentationv1.ListSegmentSizesResponse, error) {
	interval := req.GetInterval()
	if interval == "" {
		interval = "day"
	}
	from, to := timeRange(s.app.Now(), req.GetStartTime(), req.GetEndTime(), func(t time.Time) time.Time { return t.AddDate(0, 0, -30) })
	if err := checkRange(interval, from, to); err != nil {
		return nil, err
	}
	if req.GetEndTime() == nil {
		to = time.Time{} // until now, with the current size as the last point
	}
	points, err := s.app.SizeSeries(ctx, req.GetSegmentId(), interval, from, to)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &segmentationv1.ListSegmentSizesResponse{Interval: interval}
	for _, p := range points {
		out.Points = append(out.Points, &segmentationv1.SegmentSizePoint{PeriodStartTime: timestamppb.New(p.Start), Size: p.Size,
			MinSize: p.Min, MaxSize: p.Max, MeasuredAt: timestamppb.New(p.MeasuredAt)})
	}
	return out, nil
}

// checkRange validates a time range after the defaults were applied
// (validators see only the request, not the defaults).
func checkRange(interval string, from, to time.Time) error {
	var vs validate.Violations
	if !from.Before(to) {
		vs.Add("start_time", "must be before end_time")
	} else if n := app.PeriodCount(interval, from, to); n > app.MaxPeriods {
		vs.Add("start_time", "the range spans more than "+strconv.Itoa(app.MaxPeriods)+" "+interval+" periods; use a longer interval or a shorter range")
	}
	if len(vs) > 0 {
		return validate.InvalidArgument(vs...)
	}
	return nil
}

func templatePB(t segment.Template) *segmentationv1.SegmentTemplate {
	return &segmentationv1.SegmentTemplate{TemplateId: t.ID, Name: t.Name, Description: t.Description, Rule: t.Rule}
}

// ListSegmentTemplates implements segmentationv1.SegmentationServiceServer.
func (s *server) ListSegmentTemplates(context.Context, *segmentationv1.ListSegmentTemplatesRequest) (*segmentationv1.ListSegmentTemplatesResponse, error) {
	out := &segmentationv1.ListSegmentTemplatesResponse{}
	for _, t := range segment.Templates {
		out.Templates = append(out.Templates, templatePB(t))
	}
	return out, nil
}

// CreateSegmentFromTemplate implements segmentationv1.SegmentationServiceServer.
func (s *server) CreateSegmentFromTemplate(ctx context.Context, req *segmentationv1.CreateSegmentFromTemplateRequest) (*segmentationv1.CreateSegmentFromTemplateResponse, error) {
	t, ok := app.Template(req.GetTemplateId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "segment template %q not found", req.GetTemplateId())
	}
	seg := segment.Segment{ID: t.ID, Name: t.Name, Description: t.Description, Rule: t.Rule, TemplateID: t.ID}
	if id := req.GetSegmentId(); id != "" {
		seg.ID = id
	}
	if n := req.GetName(); n != "" {
		seg.Name = n
	}
	var stored sqlc.Segment
	resp, replayed, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_CreateSegmentFromTemplate_FullMethodName, req.GetIdempotencyKey(), req,
		func(tx pgx.Tx) (*segmentationv1.CreateSegmentFromTemplateResponse, error) {
			var err error
			stored, err = s.app.CreateSegment(ctx, tx, seg)
			return &segmentationv1.CreateSegmentFromTemplateResponse{Segment: segmentPB(stored)}, err
		})
	if err != nil {
		return nil, toStatus(err)
	}
	if !replayed {
		resp.Segment = s.refresh(ctx, stored)
	}
	return resp, nil
}

func groupSizesPB[N int | int64](sizes map[rfm.Group]N) []*segmentationv1.RfmGroupSize {
	out := make([]*segmentationv1.RfmGroupSize, 0, len(rfm.Groups))
	for _, g := range rfm.Groups {
		out = append(out, &segmentationv1.RfmGroupSize{Group: rfmGroupPB(string(g)), Customers: int64(sizes[g])})
	}
	return out
}

// RecomputeRfm implements segmentationv1.SegmentationServiceServer. The
// scoring runs inside the idempotency transaction, so a retry with the same
// key returns the first run's result instead of scoring again.
func (s *server) RecomputeRfm(ctx context.Context, req *segmentationv1.RecomputeRfmRequest) (*segmentationv1.RecomputeRfmResponse, error) {
	resp, _, err := mutate(ctx, s.pool, segmentationv1.SegmentationService_RecomputeRfm_FullMethodName, req.GetIdempotencyKey(), req,
		func(pgx.Tx) (*segmentationv1.RecomputeRfmResponse, error) {
			rep, err := s.app.RecomputeRFM(ctx)
			if err != nil {
				return nil, err
			}
			return &segmentationv1.RecomputeRfmResponse{ScoredAt: timestamppb.New(rep.ScoredAt), Population: int64(rep.Population), Groups: groupSizesPB(rep.Sizes)}, nil
		})
	return resp, toStatus(err)
}

// GetRfmGrid implements segmentationv1.SegmentationServiceServer.
func (s *server) GetRfmGrid(ctx context.Context, _ *segmentationv1.GetRfmGridRequest) (*segmentationv1.GetRfmGridResponse, error) {
	g, err := s.app.RFMGridNow(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	cur := s.app.Currency()
	out := &segmentationv1.GetRfmGridResponse{Population: g.Population, Groups: groupSizesPB(g.Groups)}
	if g.ScoredAt != nil {
		out.ScoredAt = timestamppb.New(*g.ScoredAt)
	}
	for _, c := range g.Cells {
		out.Cells = append(out.Cells, &segmentationv1.RfmCell{Recency: int32(c.R), Frequency: int32(c.F), Customers: c.Customers,
			AverageMonetary: &commercev1.Money{AmountMinor: c.AverageMonetary, Currency: cur}})
	}
	return out, nil
}

// GetPopulationStats implements segmentationv1.SegmentationServiceServer.
func (s *server) GetPopulationStats(ctx context.Context, req *segmentationv1.GetPopulationStatsRequest) (*segmentationv1.GetPopulationStatsResponse, error) {
	interval := req.GetInterval()
	if interval == "" {
		interval = "month"
	}
	from, to := timeRange(s.app.Now(), req.GetStartTime(), req.GetEndTime(), func(t time.Time) time.Time { return t.AddDate(-1, 0, 0) })
	if err := checkRange(interval, from, to); err != nil {
		return nil, err
	}
	st, err := s.app.Population(ctx, interval, from, to)
	if err != nil {
		return nil, toStatus(err)
	}
	money := func(v int64) *commercev1.Money { return &commercev1.Money{AmountMinor: v, Currency: st.Currency} }
	t := st.Totals
	out := &segmentationv1.GetPopulationStatsResponse{Interval: interval, ComputedAt: timestamppb.New(st.ComputedAt),
		Totals: &segmentationv1.PopulationTotals{Customers: t.Customers, Buyers: t.Buyers, ActiveCustomers_30D: t.Active30d,
			RepeatPurchaseRate: ratio(t.RepeatBuyers, t.Buyers), AverageOrderValue: money(div(t.Revenue, t.Orders)), Orders: t.Orders, Revenue: money(t.Revenue)}}
	for _, p := range st.Periods {
		out.Periods = append(out.Periods, &segmentationv1.PopulationPeriod{PeriodStartTime: timestamppb.New(p.Start), PeriodEndTime: timestamppb.New(p.End),
			CustomersAtStart: p.CustomersAtStart, NewCustomers: p.NewCustomers, CustomersAtEnd: p.CustomersAtEnd, RetentionRate: p.RetentionRate(),
			ActiveCustomers: p.ActiveCustomers, Orders: p.Orders, Revenue: money(p.Revenue), AverageOrderValue: money(div(p.Revenue, p.Orders)),
			RepeatPurchaseRate: ratio(p.RepeatByEnd, p.BuyersByEnd)})
	}
	return out, nil
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// div is a/b rounded half away from zero, 0 when b is 0 (money in minor units).
func div(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	q, r := a/b, a%b
	if 2*r >= b {
		q++
	}
	return q
}

// reportValidators checks the requests of this file's RPCs.
func reportValidators(r *validate.Registry, key func(*validate.Violations, string)) {
	interval := func(vs *validate.Violations, v string) {
		if v != "" && !app.ValidInterval(v) {
			vs.Add("interval", "must be day, week or month")
		}
	}
	times := func(vs *validate.Violations, start, end *timestamppb.Timestamp) {
		if start != nil && !start.IsValid() {
			vs.Add("start_time", "must be a valid time")
		}
		if end != nil && !end.IsValid() {
			vs.Add("end_time", "must be a valid time")
		}
		if start.IsValid() && end.IsValid() && !start.AsTime().Before(end.AsTime()) {
			vs.Add("start_time", "must be before end_time")
		}
	}
	validate.Register(r, func(req *segmentationv1.CheckSegmentMembershipRequest) error {
		var vs validate.Violations
		if req.GetSegmentId() == "" {
			vs.Add("segment_id", "is required")
		}
		if req.GetCustomerId() == "" {
			vs.Add("customer_id", "is required")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.ExportSegmentMembersRequest) error {
		var vs validate.Violations
		if req.GetSegmentId() == "" {
			vs.Add("segment_id", "is required")
		}
		if req.GetPageSize() < 0 {
			vs.Add("page_size", "must not be negative")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.ListSegmentSizesRequest) error {
		var vs validate.Violations
		if req.GetSegmentId() == "" {
			vs.Add("segment_id", "is required")
		}
		interval(&vs, req.GetInterval())
		times(&vs, req.GetStartTime(), req.GetEndTime())
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.CreateSegmentFromTemplateRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		if req.GetTemplateId() == "" {
			vs.Add("template_id", "is required")
		}
		if id := req.GetSegmentId(); id != "" && !segment.ValidID(id) {
			vs.Add("segment_id", "must be lower-case letters, digits, '-' or '_', starting with a letter, at most 63 characters")
		}
		if len(req.GetName()) > 200 {
			vs.Add("name", "must be at most 200 characters")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.RecomputeRfmRequest) error {
		var vs validate.Violations
		key(&vs, req.GetIdempotencyKey())
		return vs.Err()
	})
	validate.Register(r, func(req *segmentationv1.GetPopulationStatsRequest) error {
		var vs validate.Violations
		interval(&vs, req.GetInterval())
		times(&vs, req.GetStartTime(), req.GetEndTime())
		return vs.Err()
	})
}
