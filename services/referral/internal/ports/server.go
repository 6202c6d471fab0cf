package ports

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/stats"
)

// server implements referralv1.ReferralServiceServer on the app.
type server struct {
	referralv1.UnimplementedReferralServiceServer
	app    *app.App
	log    *slog.Logger
	clicks *clickLimiter
}

// idempotencyKey is the request's key, or the Idempotency-Key header that
// the REST gateway forwards as metadata.
func idempotencyKey(ctx context.Context, field string) string {
	if field != "" {
		return field
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("idempotency-key"); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// scope separates idempotency keys per method and caller, so two callers
// can never replay each other's answers.
func scope(ctx context.Context, method string) string {
	if c, ok := auth.ClaimsFrom(ctx); ok {
		return method + ":" + c.Subject
	}
	return method
}

// mutate runs a mutating RPC once per idempotency key: the work, its
// events and the stored answer commit in one transaction.
func mutate[Resp proto.Message](ctx context.Context, s *server, method, key string, req proto.Message, fn func(t *app.Tx) (Resp, error)) (Resp, error) {
	var resp Resp
	err := s.app.InTx(ctx, func(t *app.Tx) error {
		r, _, err := idempotency.Do(ctx, t.Pgx(), scope(ctx, method), idempotencyKey(ctx, key), req, func() (Resp, error) { return fn(t) })
		resp = r
		return err
	})
	if err != nil {
		var zero Resp
		return zero, toStatus(ctx, s.log, err)
	}
	return resp, nil
}

// read runs a query in a transaction.
func read[Resp any](ctx context.Context, s *server, fn func(t *app.Tx) (Resp, error)) (Resp, error) {
	var resp Resp
	err := s.app.InTx(ctx, func(t *app.Tx) error {
		var err error
		resp, err = fn(t)
		return err
	})
	if err != nil {
		var zero Resp
		return zero, toStatus(ctx, s.log, err)
	}
	return resp, nil
}

// CreateCampaign creates a draft campaign.
func (s *server) CreateCampaign(ctx context.Context, req *referralv1.CreateCampaignRequest) (*referralv1.CreateCampaignResponse, error) {
	p := campaignParams(req.GetCampaign())
	return mutate(ctx, s, referralv1.ReferralService_CreateCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.CreateCampaignResponse, error) {
		c, err := s.app.CreateCampaign(ctx, t, p)
		if err != nil {
			// The domain names fields relative to the campaign.
			return nil, nestCampaign(err)
		}
		return &referralv1.CreateCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// UpdateCampaign replaces a campaign's terms.
func (s *server) UpdateCampaign(ctx context.Context, req *referralv1.UpdateCampaignRequest) (*referralv1.UpdateCampaignResponse, error) {
	p := campaignParams(req.GetCampaign())
	return mutate(ctx, s, referralv1.ReferralService_UpdateCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.UpdateCampaignResponse, error) {
		c, err := s.app.UpdateCampaign(ctx, t, req.GetCampaignId(), p)
		if err != nil {
			return nil, nestCampaign(err)
		}
		return &referralv1.UpdateCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// nestCampaign names the domain's campaign fields as request fields under
// "campaign"; other errors pass unchanged.
func nestCampaign(err error) error {
	var ve *validation.Error
	if !errors.As(err, &ve) {
		return err
	}
	var col validation.Collector
	col.Nest("campaign", ve)
	return col.Err()
}

// ListCampaigns pages campaigns newest first.
func (s *server) ListCampaigns(ctx context.Context, req *referralv1.ListCampaignsRequest) (*referralv1.ListCampaignsResponse, error) {
	return read(ctx, s, func(t *app.Tx) (*referralv1.ListCampaignsResponse, error) {
		cs, next, err := s.app.ListCampaigns(ctx, t, statusFromProto[req.GetStatus()], pageSize(req.GetPageSize()), req.GetPageToken())
		if err != nil {
			return nil, err
		}
		out := &referralv1.ListCampaignsResponse{NextPageToken: next}
		now := s.app.Now()
		for _, c := range cs {
			out.Campaigns = append(out.Campaigns, toCampaign(c, now))
		}
		return out, nil
	})
}

// GetCampaign returns one campaign.
func (s *server) GetCampaign(ctx context.Context, req *referralv1.GetCampaignRequest) (*referralv1.GetCampaignResponse, error) {
	return read(ctx, s, func(t *app.Tx) (*referralv1.GetCampaignResponse, error) {
		c, err := s.app.GetCampaign(ctx, t, req.GetCampaignId())
		if err != nil {
			return nil, err
		}
		return &referralv1.GetCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// ActivateCampaign starts or resumes a campaign.
func (s *server) ActivateCampaign(ctx context.Context, req *referralv1.ActivateCampaignRequest) (*referralv1.ActivateCampaignResponse, error) {
	return mutate(ctx, s, referralv1.ReferralService_ActivateCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.ActivateCampaignResponse, error) {
		c, err := s.app.ApplyCampaignAction(ctx, t, req.GetCampaignId(), campaign.ActionActivate)
		if err != nil {
			return nil, err
		}
		return &referralv1.ActivateCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// PauseCampaign pauses a campaign.
func (s *server) PauseCampaign(ctx context.Context, req *referralv1.PauseCampaignRequest) (*referralv1.PauseCampaignResponse, error) {
	return mutate(ctx, s, referralv1.ReferralService_PauseCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.PauseCampaignResponse, error) {
		c, err := s.app.ApplyCampaignAction(ctx, t, req.GetCampaignId(), campaign.ActionPause)
		if err != nil {
			return nil, err
		}
		return &referralv1.PauseCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// ScheduleCampaign plans a draft campaign to start at starts_at.
func (s *server) ScheduleCampaign(ctx context.Context, req *referralv1.ScheduleCampaignRequest) (*referralv1.ScheduleCampaignResponse, error) {
	return mutate(ctx, s, referralv1.ReferralService_ScheduleCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.ScheduleCampaignResponse, error) {
		c, err := s.app.ScheduleCampaign(ctx, t, req.GetCampaignId(), fromTime(req.GetStartsAt()))
		if err != nil {
			return nil, err
		}
		return &referralv1.ScheduleCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// EndCampaign ends a campaign for good.
func (s *server) EndCampaign(ctx context.Context, req *referralv1.EndCampaignRequest) (*referralv1.EndCampaignResponse, error) {
	return mutate(ctx, s, referralv1.ReferralService_EndCampaign_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.EndCampaignResponse, error) {
		c, err := s.app.ApplyCampaignAction(ctx, t, req.GetCampaignId(), campaign.ActionEnd)
		if err != nil {
			return nil, err
		}
		return &referralv1.EndCampaignResponse{Campaign: toCampaign(c, s.app.Now())}, nil
	})
}

// AddCouponCodes uploads codes into a coupon pool.
func (s *server) AddCouponCodes(ctx context.Context, req *referralv1.AddCouponCodesRequest) (*referralv1.AddCouponCodesResponse, error) {
	return mutate(ctx, s, referralv1.ReferralService_AddCouponCodes_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.AddCouponCodesResponse, error) {
		u, err := s.app.AddCouponCodes(ctx, t, req.GetPool(), req.GetCodes())
		if err != nil {
			return nil, err
		}
		return &referralv1.AddCouponCodesResponse{Added: int32(u.Added), Available: u.Available, WaitingRewards: u.Waiting}, nil
	})
}

// GetCouponPool reads a coupon pool's level.
func (s *server) GetCouponPool(ctx context.Context, req *referralv1.GetCouponPoolRequest) (*referralv1.GetCouponPoolResponse, error) {
	return read(ctx, s, func(t *app.Tx) (*referralv1.GetCouponPoolResponse, error) {
		l, err := s.app.CouponPool(ctx, t, req.GetPool())
		if err != nil {
			return nil, err
		}
		return &referralv1.GetCouponPoolResponse{Pool: &referralv1.CouponPool{Pool: req.GetPool(), Available: l.Available, Given: l.Given, WaitingRewards: l.Waiting}}, nil
	})
}

// CreateReferralCode returns a customer's (or a partner's) code.
func (s *server) CreateReferralCode(ctx context.Context, req *referralv1.CreateReferralCodeRequest) (*referralv1.CreateReferralCodeResponse, error) {
	in := app.IssueCodeInput{CampaignID: req.GetCampaignId(), CustomerID: req.GetCustomerId(), PartnerID: req.GetPartnerId(), Vanity: req.GetVanityCode()}
	if in.PartnerID != "" {
		// Partner deals are commercial terms: only marketers set them.
		if c, ok := auth.ClaimsFrom(ctx); !ok || !(c.Has(auth.RoleMarketer) || c.Has(auth.RoleAdmin)) {
			return nil, statusPermission("partner codes need the marketer role")
		}
		in.Partner = &code.PartnerTerms{PartnerReward: fromSpec(req.GetPartnerReward()), FriendReward: fromSpec(req.GetPartnerFriendReward())}
	}
	return mutate(ctx, s, referralv1.ReferralService_CreateReferralCode_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.CreateReferralCodeResponse, error) {
		c, err := s.app.IssueCode(ctx, t, in)
		if err != nil {
			return nil, err
		}
		return &referralv1.CreateReferralCodeResponse{Code: toCode(c)}, nil
	})
}

// trustedTime is a caller-given event time, honoured only for platform
// systems (service, partner, admin) that backfill or relay events. Anyone
// else gets the server's clock: a friend who could date their own sign-up
// before their earlier orders would slip past the existing-customer rule.
func trustedTime(ctx context.Context, ts *timestamppb.Timestamp) time.Time {
	if c, ok := auth.ClaimsFrom(ctx); ok && (c.Has(auth.RoleService) || c.Has(auth.RolePartner) || c.Has(auth.RoleAdmin)) {
		return fromTime(ts)
	}
	return time.Time{}
}

// RecordClick records a share-link visit.
func (s *server) RecordClick(ctx context.Context, req *referralv1.RecordClickRequest) (*referralv1.RecordClickResponse, error) {
	if err := s.clicks.checkClick(ctx, req.GetDeviceId(), req.GetIpHash()); err != nil {
		return nil, err
	}
	in := app.ClickInput{
		Code: req.GetCode(), DeviceID: req.GetDeviceId(), IPHash: req.GetIpHash(), UserAgent: req.GetUserAgent(),
		LandingURL: req.GetLandingUrl(), At: trustedTime(ctx, req.GetOccurredAt()),
	}
	return mutate(ctx, s, referralv1.ReferralService_RecordClick_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.RecordClickResponse, error) {
		c, err := s.app.RecordClick(ctx, t, in)
		if err != nil {
			return nil, err
		}
		return &referralv1.RecordClickResponse{ClickId: c.ID, CampaignId: c.CampaignID}, nil
	})
}

// CreateAttribution attributes a friend's sign-up to a code.
func (s *server) CreateAttribution(ctx context.Context, req *referralv1.CreateAttributionRequest) (*referralv1.CreateAttributionResponse, error) {
	in := app.SignUpInput{
		Code: req.GetCode(), FriendID: req.GetCustomerId(), ClickID: req.GetClickId(), EmailHash: req.GetEmailHash(),
		PhoneHash: req.GetPhoneHash(), EmailDomain: req.GetEmailDomain(), DeviceID: req.GetDeviceId(), IPHash: req.GetIpHash(),
		At: trustedTime(ctx, req.GetSignedUpAt()),
	}
	return mutate(ctx, s, referralv1.ReferralService_CreateAttribution_FullMethodName, req.GetIdempotencyKey(), req, func(t *app.Tx) (*referralv1.CreateAttributionResponse, error) {
		a, err := s.app.Attribute(ctx, t, in)
		if err != nil {
			return nil, err
		}
		return &referralv1.CreateAttributionResponse{Attribution: toAttribution(a)}, nil
	})
}

// GetCampaignStats returns a campaign's funnel.
func (s *server) GetCampaignStats(ctx context.Context, req *referralv1.GetCampaignStatsRequest) (*referralv1.GetCampaignStatsResponse, error) {
	top := int(req.GetTopReferrersLimit())
	if top == 0 {
		top = 10
	}
	return read(ctx, s, func(t *app.Tx) (*referralv1.GetCampaignStatsResponse, error) {
		st, err := s.app.Stats(ctx, t, req.GetCampaignId(), fromTime(req.GetStartTime()), fromTime(req.GetEndTime()), top)
		if err != nil {
			return nil, err
		}
		f := st.Funnel
		out := &referralv1.CampaignStats{
			CampaignId: req.GetCampaignId(), Clicks: int64(f.Clicks), Signups: int64(f.SignUps), Conversions: int64(f.Conversions),
			Rejections: int64(f.Rejected), RewardsPaid: int64(f.RewardsPaid), PointsCost: f.CostPoints,
			DiscountCost: toMoney(f.CostMoney), Revenue: toMoney(st.Revenue),
			ConversionRate: f.ConversionRate, ViralCoefficient: f.ViralCoefficient,
			BudgetPointsCommitted: st.Budget.SpentPoints, BudgetValueCommitted: toMoney(st.Budget.SpentMoney),
		}
		if len(st.RejectionsByReason) > 0 {
			out.RejectionsByReason = make(map[string]int64, len(st.RejectionsByReason))
			for reason, n := range st.RejectionsByReason {
				out.RejectionsByReason[reason] = int64(n)
			}
		}
		for _, r := range st.Top {
			out.TopReferrers = append(out.TopReferrers, toReferrerStats(r))
		}
		for _, r := range st.Partners {
			out.TopPartners = append(out.TopPartners, toReferrerStats(r))
		}
		return &referralv1.GetCampaignStatsResponse{Stats: out}, nil
	})
}

func toReferrerStats(r stats.Referrer) *referralv1.ReferrerStats {
	return &referralv1.ReferrerStats{CustomerId: r.ID, Partner: r.Partner, Signups: int64(r.SignUps), Conversions: int64(r.Conversions), PointsRewarded: r.CostPoints}
}

// ListCampaignReferrals pages a campaign's referrals with their decisions.
func (s *server) ListCampaignReferrals(ctx context.Context, req *referralv1.ListCampaignReferralsRequest) (*referralv1.ListCampaignReferralsResponse, error) {
	return read(ctx, s, func(t *app.Tx) (*referralv1.ListCampaignReferralsResponse, error) {
		rs, next, err := s.app.CampaignReferrals(ctx, t, req.GetCampaignId(), stageFromProto[req.GetStatus()], pageSize(req.GetPageSize()), req.GetPageToken())
		if err != nil {
			return nil, err
		}
		out := &referralv1.ListCampaignReferralsResponse{NextPageToken: next}
		for _, r := range rs {
			out.Attributions = append(out.Attributions, toAttribution(app.Attributed{Referral: r}))
		}
		return out, nil
	})
}

// ListCustomerReferrals returns a referrer's friends and their progress.
func (s *server) ListCustomerReferrals(ctx context.Context, req *referralv1.ListCustomerReferralsRequest) (*referralv1.ListCustomerReferralsResponse, error) {
	return read(ctx, s, func(t *app.Tx) (*referralv1.ListCustomerReferralsResponse, error) {
		v, err := s.app.CustomerReferrals(ctx, t, req.GetCustomerId(), req.GetCampaignId(), pageSize(req.GetPageSize()), req.GetPageToken())
		if err != nil {
			return nil, err
		}
		out := &referralv1.ListCustomerReferralsResponse{NextPageToken: v.NextPage}
		for _, f := range v.Friends {
			out.Referrals = append(out.Referrals, toReferral(f))
		}
		for _, m := range v.Milestones {
			pm := &referralv1.MilestoneProgress{CampaignId: m.CampaignID, Conversions: int32(m.Conversions)}
			if m.HasNext {
				pm.NextStepConversions, pm.NextStepReward = int32(m.Next.MinConversions), toSpec(m.Next.Reward)
			}
			out.Milestones = append(out.Milestones, pm)
		}
		return out, nil
	})
}
