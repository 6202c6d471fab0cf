package ports

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/affinity-platform/affinity/pkg/auth"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
)

// Server implements loyaltyv1.LoyaltyServiceServer on the app.
type Server struct {
	loyaltyv1.UnimplementedLoyaltyServiceServer
	app *app.App
}

// NewServer returns the gRPC server of a.
func NewServer(a *app.App) *Server { return &Server{app: a} }

// key scopes an idempotency key to the RPC and the caller, so two callers'
// keys never collide.
func key(ctx context.Context, method, k string, req proto.Message) app.Key {
	c, _ := auth.ClaimsFrom(ctx)
	return app.Key{Scope: method + ":" + c.Subject, Key: k, Request: req}
}

// do runs a mutating RPC once per idempotency key and maps its errors. The
// key is the request's idempotency_key or, when that is empty, the
// Idempotency-Key header (gRPC metadata idempotency-key).
func do[T proto.Message](ctx context.Context, s *Server, method, k string, req proto.Message, fn func(context.Context, *app.Unit) (T, error)) (T, error) {
	if k == "" {
		if v := metadata.ValueFromIncomingContext(ctx, "idempotency-key"); len(v) > 0 {
			k = v[0]
		}
	}
	if k == "" || len(k) > idempotency.MaxKeyLength {
		var zero T
		return zero, validate.InvalidArgument(validate.Violation{Field: "idempotency_key",
			Description: fmt.Sprintf("is required (body field or Idempotency-Key header), at most %d bytes", idempotency.MaxKeyLength)})
	}
	resp, err := app.Do(ctx, s.app, key(ctx, method, k, req), fn)
	return resp, grpcError(err)
}

// nest reports domain validation errors under the request field holding
// the value ("reward.points_cost").
func nest(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var c validation.Collector
	c.Nest(prefix, err)
	if e := c.Err(); e != nil && isValidation(err) {
		return e
	}
	return err
}

func isValidation(err error) bool {
	_, ok := err.(*validation.Error)
	return ok
}

// GetMember returns a member's balance, tier progress and expiring points.
func (s *Server) GetMember(ctx context.Context, req *loyaltyv1.GetMemberRequest) (*loyaltyv1.GetMemberResponse, error) {
	v, err := s.app.Member(ctx, req.GetCustomerId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetMemberResponse{Member: memberPB(v)}, nil
}

// GetMemberOffers returns what the member gets right now.
func (s *Server) GetMemberOffers(ctx context.Context, req *loyaltyv1.GetMemberOffersRequest) (*loyaltyv1.GetMemberOffersResponse, error) {
	o, err := s.app.MemberOffers(ctx, req.GetCustomerId())
	if err != nil {
		return nil, grpcError(err)
	}
	return offersPB(o), nil
}

// GetPointsReport returns the points liability and the period's flows.
func (s *Server) GetPointsReport(ctx context.Context, req *loyaltyv1.GetPointsReportRequest) (*loyaltyv1.GetPointsReportResponse, error) {
	r, err := s.app.PointsReport(ctx, app.Period{Start: tm(req.GetStartTime()), End: tm(req.GetEndTime())})
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetPointsReportResponse{AvailablePoints: r.Available, PendingPoints: r.Pending, HeldPoints: r.Held,
		OutstandingPoints: r.Outstanding, OutstandingValue: moneyPB(r.OutstandingValue), DebtPoints: r.Debt, MembersWithPoints: r.MembersWithPoints,
		IssuedPoints: r.Issued, RedeemedPoints: r.Redeemed, ExpiredPoints: r.Expired, ReversedPoints: r.Reversed,
		BreakageRateBps: r.BreakageRateBPS, StartTime: ts(r.Start), EndTime: ts(r.End)}, nil
}

// ListRuleTotals returns what each earning rule awarded.
func (s *Server) ListRuleTotals(ctx context.Context, _ *loyaltyv1.ListRuleTotalsRequest) (*loyaltyv1.ListRuleTotalsResponse, error) {
	ts, err := s.app.RuleTotals(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListRuleTotalsResponse{}
	for _, t := range ts {
		out.Totals = append(out.Totals, &loyaltyv1.RuleTotal{RuleId: t.RuleID, Name: t.Name, Points: t.Points, Members: t.Members})
	}
	return out, nil
}

// GetPartnerSettlement returns each partner's issued and redeemed points.
func (s *Server) GetPartnerSettlement(ctx context.Context, req *loyaltyv1.GetPartnerSettlementRequest) (*loyaltyv1.GetPartnerSettlementResponse, error) {
	p, ps, err := s.app.Settlement(ctx, app.Period{Start: tm(req.GetStartTime()), End: tm(req.GetEndTime())}, req.GetPartnerId())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.GetPartnerSettlementResponse{StartTime: ts(p.Start), EndTime: ts(p.End)}
	for _, t := range ps {
		out.Partners = append(out.Partners, &loyaltyv1.PartnerSettlement{PartnerId: t.PartnerID, IssuedPoints: t.Issued,
			RedeemedPoints: t.Redeemed, ReversedPoints: t.Reversed, NetPoints: t.Net, NetValue: moneyPB(t.NetValue)})
	}
	return out, nil
}

// GetHoldoutLift compares a campaign's treated and held-out members.
func (s *Server) GetHoldoutLift(ctx context.Context, req *loyaltyv1.GetHoldoutLiftRequest) (*loyaltyv1.GetHoldoutLiftResponse, error) {
	l, err := s.app.HoldoutLift(ctx, req.GetRuleId(), app.Period{Start: tm(req.GetStartTime()), End: tm(req.GetEndTime())})
	if err != nil {
		return nil, grpcError(err)
	}
	cur := s.app.Config().Program.Currency
	group := func(g app.GroupOutcome) *loyaltyv1.GroupOutcome {
		return &loyaltyv1.GroupOutcome{Members: g.Members, Purchasers: g.Purchasers, Orders: g.Orders,
			Spend: &commercev1.Money{AmountMinor: g.SpendMinor, Currency: cur}}
	}
	return &loyaltyv1.GetHoldoutLiftResponse{RuleId: l.RuleID, HoldoutPercent: l.HoldoutPercent, Treated: group(l.Treated),
		HeldOut: group(l.HeldOut), OrdersLiftBps: l.OrdersLiftBPS, SpendLiftBps: l.SpendLiftBPS, StartTime: ts(l.Start), EndTime: ts(l.End)}, nil
}

// ListTransactions pages through a member's ledger, newest first.
func (s *Server) ListTransactions(ctx context.Context, req *loyaltyv1.ListTransactionsRequest) (*loyaltyv1.ListTransactionsResponse, error) {
	f := app.TransactionFilter{Size: pageSize(req.GetPageSize()), Start: tm(req.GetStartTime()), End: tm(req.GetEndTime())}
	if t := req.GetPageToken(); t != "" {
		f.BeforeSeq, _ = strconv.ParseInt(decodeToken(t), 10, 64) // validated
	}
	for _, t := range req.GetTypes() {
		f.Types = append(f.Types, ledger.EntryType(t))
	}
	es, next, err := s.app.Transactions(ctx, req.GetCustomerId(), f)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListTransactionsResponse{NextPageToken: seqToken(next)}
	for _, e := range es {
		out.Transactions = append(out.Transactions, entryPB(e))
	}
	return out, nil
}

// Earn credits points for a purchase reported directly.
func (s *Server) Earn(ctx context.Context, req *loyaltyv1.EarnRequest) (*loyaltyv1.EarnResponse, error) {
	at := tm(req.GetOrderedAt())
	if at.IsZero() {
		at = s.app.Now()
	}
	o, spend, err := toOrder(orderInput{orderID: req.GetOrderId(), customerID: req.GetCustomerId(), channel: req.GetChannel(),
		lines: req.GetLines(), totals: req.GetTotals(), orderedAt: at})
	if err != nil {
		return nil, grpcError(err)
	}
	// A partner awards points only on its own behalf: the partner id is the
	// caller's identity, never a field a partner could set to another's.
	partner := req.GetPartnerId()
	if c, ok := auth.ClaimsFrom(ctx); ok && c.Has(auth.RolePartner) && !c.Has(auth.RoleService) {
		if partner != "" && partner != c.Subject {
			return nil, validate.InvalidArgument(validate.Violation{Field: "partner_id", Description: "must be the calling partner"})
		}
		partner = c.Subject
	}
	return do(ctx, s, loyaltyv1.LoyaltyService_Earn_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.EarnResponse, error) {
			e, err := u.EarnOrder(ctx, app.EarnOrder{Order: o, PartnerID: partner, Spend: spend})
			if err != nil {
				return nil, err
			}
			out := &loyaltyv1.EarnResponse{Points: e.Points, Balance: balancePB(e.Balance)}
			for _, en := range e.Entries {
				if en.Type == ledger.TypeAccrual {
					out.Transactions = append(out.Transactions, entryPB(en))
				}
			}
			return out, nil
		})
}

// Redeem spends points on a reward or a checkout discount.
func (s *Server) Redeem(ctx context.Context, req *loyaltyv1.RedeemRequest) (*loyaltyv1.RedeemResponse, error) {
	// A coalition partner redeems on its own behalf (the points are settled
	// with it); the partner id is its identity, as in Earn.
	var partner string
	if c, ok := auth.ClaimsFrom(ctx); ok && c.Has(auth.RolePartner) && !c.Has(auth.RoleService) && !c.Has(auth.RoleCustomer) {
		partner = c.Subject
	}
	return doPipelined(ctx, s, loyaltyv1.LoyaltyService_Redeem_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.RedeemResponse, error) {
			r, err := u.Redeem(ctx, app.Redeem{MemberID: req.GetCustomerId(), RewardID: req.GetRewardId(), Points: req.GetPoints(), OrderID: req.GetOrderId(),
				PartnerID: partner})
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.RedeemResponse{Redemption: redemptionPB(r.Redemption), Balance: balancePB(r.Balance)}, nil
		})
}

// CreateHold reserves points for a checkout.
func (s *Server) CreateHold(ctx context.Context, req *loyaltyv1.CreateHoldRequest) (*loyaltyv1.CreateHoldResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateHold_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateHoldResponse, error) {
			h, err := u.PlaceHold(ctx, req.GetCustomerId(), req.GetPoints(), req.GetOrderId(), req.GetTtl().AsDuration())
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.CreateHoldResponse{Hold: holdPB(h), Balance: balancePB(h.Balance)}, nil
		})
}

// CaptureHold spends a hold's points.
func (s *Server) CaptureHold(ctx context.Context, req *loyaltyv1.CaptureHoldRequest) (*loyaltyv1.CaptureHoldResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_CaptureHold_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CaptureHoldResponse, error) {
			h, err := u.CaptureHold(ctx, req.GetHoldId(), req.GetCustomerId(), req.GetPoints(), req.GetOrderId())
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.CaptureHoldResponse{Hold: holdPB(h), Balance: balancePB(h.Balance)}, nil
		})
}

// ReleaseHold returns a hold's points.
func (s *Server) ReleaseHold(ctx context.Context, req *loyaltyv1.ReleaseHoldRequest) (*loyaltyv1.ReleaseHoldResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_ReleaseHold_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.ReleaseHoldResponse, error) {
			h, err := u.ReleaseHold(ctx, req.GetHoldId(), req.GetCustomerId())
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.ReleaseHoldResponse{Hold: holdPB(h), Balance: balancePB(h.Balance)}, nil
		})
}

// CreateAdjustment credits or debits points by hand, recording the marketer.
func (s *Server) CreateAdjustment(ctx context.Context, req *loyaltyv1.CreateAdjustmentRequest) (*loyaltyv1.CreateAdjustmentResponse, error) {
	c, _ := auth.ClaimsFrom(ctx)
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateAdjustment_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateAdjustmentResponse, error) {
			e, b, err := u.Adjust(ctx, req.GetCustomerId(), req.GetPoints(), req.GetReason().String(), req.GetNote(), c.Subject)
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.CreateAdjustmentResponse{Transaction: entryPB(e), Balance: balancePB(b)}, nil
		})
}

// TransferPoints moves points between members.
func (s *Server) TransferPoints(ctx context.Context, req *loyaltyv1.TransferPointsRequest) (*loyaltyv1.TransferPointsResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_TransferPoints_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.TransferPointsResponse, error) {
			t, err := u.Transfer(ctx, req.GetCustomerId(), req.GetToCustomerId(), req.GetPoints())
			if err != nil {
				return nil, err
			}
			out := &loyaltyv1.TransferPointsResponse{TransferId: t.ID, Sent: entryPB(t.Sent), Balance: balancePB(t.Balance)}
			for _, e := range t.Received {
				out.Received = append(out.Received, entryPB(e))
			}
			return out, nil
		})
}

// SetTierOverride puts a member on a tier until a date, recording the marketer.
func (s *Server) SetTierOverride(ctx context.Context, req *loyaltyv1.SetTierOverrideRequest) (*loyaltyv1.SetTierOverrideResponse, error) {
	c, _ := auth.ClaimsFrom(ctx)
	return do(ctx, s, loyaltyv1.LoyaltyService_SetTierOverride_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.SetTierOverrideResponse, error) {
			r, err := u.OverrideTier(ctx, req.GetCustomerId(), req.GetTierId(), tm(req.GetExpiresAt()), req.GetReason(), c.Subject)
			if err != nil {
				return nil, err
			}
			v := app.MemberView{HasTier: true, Progress: r.Progress, Measure: r.Measure}
			v.Balance.AvailableValue.Currency = s.app.Config().Program.Currency
			return &loyaltyv1.SetTierOverrideResponse{Tier: memberPB(v).GetTier()}, nil
		})
}

// ReverseRedemption undoes a redemption.
func (s *Server) ReverseRedemption(ctx context.Context, req *loyaltyv1.ReverseRedemptionRequest) (*loyaltyv1.ReverseRedemptionResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_ReverseRedemption_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.ReverseRedemptionResponse, error) {
			r, err := u.ReverseRedemption(ctx, req.GetRedemptionId(), req.GetReason())
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.ReverseRedemptionResponse{Redemption: redemptionPB(r.Redemption), Transaction: entryPB(r.Entry),
				Balance: balancePB(r.Balance)}, nil
		})
}

// AddCouponCodes uploads codes to a coupon reward's pool.
func (s *Server) AddCouponCodes(ctx context.Context, req *loyaltyv1.AddCouponCodesRequest) (*loyaltyv1.AddCouponCodesResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_AddCouponCodes_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.AddCouponCodesResponse, error) {
			p, err := u.AddCoupons(ctx, req.GetRewardId(), req.GetCodes())
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.AddCouponCodesResponse{Added: p.Added, Available: p.Free, Total: p.Total}, nil
		})
}

// ListRewards pages through the catalog.
func (s *Server) ListRewards(ctx context.Context, req *loyaltyv1.ListRewardsRequest) (*loyaltyv1.ListRewardsResponse, error) {
	size := pageSize(req.GetPageSize())
	rs, err := s.app.Rewards(ctx, reward.Status(req.GetStatus()), app.Page{Size: size + 1, After: decodeToken(req.GetPageToken())})
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListRewardsResponse{}
	if len(rs) > size {
		rs = rs[:size]
		out.NextPageToken = encodeToken(rs[size-1].Value.ID)
	}
	for _, r := range rs {
		out.Rewards = append(out.Rewards, rewardPB(r))
	}
	return out, nil
}

// GetReward returns one reward.
func (s *Server) GetReward(ctx context.Context, req *loyaltyv1.GetRewardRequest) (*loyaltyv1.GetRewardResponse, error) {
	r, err := s.app.Reward(ctx, req.GetRewardId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetRewardResponse{Reward: rewardPB(r)}, nil
}

// CreateReward adds a reward.
func (s *Server) CreateReward(ctx context.Context, req *loyaltyv1.CreateRewardRequest) (*loyaltyv1.CreateRewardResponse, error) {
	rw, err := rewardOf(req.GetReward())
	if err != nil {
		return nil, grpcError(err)
	}
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateReward_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateRewardResponse, error) {
			r, err := u.CreateReward(ctx, rw)
			if err != nil {
				return nil, nest("reward", err)
			}
			return &loyaltyv1.CreateRewardResponse{Reward: rewardPB(r)}, nil
		})
}

// UpdateReward changes the fields of a reward named by update_mask.
func (s *Server) UpdateReward(ctx context.Context, req *loyaltyv1.UpdateRewardRequest) (*loyaltyv1.UpdateRewardResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_UpdateReward_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.UpdateRewardResponse, error) {
			r, err := u.UpdateReward(ctx, req.GetReward().GetRewardId(), func(cur *reward.Reward) error {
				p := rewardPB(app.Record[reward.Reward]{Value: *cur})
				if err := applyMask(p, req.GetReward(), req.GetUpdateMask(), "reward"); err != nil {
					return err
				}
				next, err := rewardOf(p)
				if err != nil {
					return err
				}
				next.CouponValidity = cur.CouponValidity
				*cur = next
				return nil
			})
			if err != nil {
				return nil, nest("reward", err)
			}
			return &loyaltyv1.UpdateRewardResponse{Reward: rewardPB(r)}, nil
		})
}

// ListEarningRules pages through the rules.
func (s *Server) ListEarningRules(ctx context.Context, req *loyaltyv1.ListEarningRulesRequest) (*loyaltyv1.ListEarningRulesResponse, error) {
	size := pageSize(req.GetPageSize())
	rs, err := s.app.Rules(ctx, earning.Status(req.GetStatus()), app.Page{Size: size + 1, After: decodeToken(req.GetPageToken())})
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListEarningRulesResponse{}
	if len(rs) > size {
		rs = rs[:size]
		out.NextPageToken = encodeToken(rs[size-1].Value.ID)
	}
	for _, r := range rs {
		out.Rules = append(out.Rules, rulePB(r))
	}
	return out, nil
}

// GetEarningRule returns one rule.
func (s *Server) GetEarningRule(ctx context.Context, req *loyaltyv1.GetEarningRuleRequest) (*loyaltyv1.GetEarningRuleResponse, error) {
	r, err := s.app.Rule(ctx, req.GetRuleId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetEarningRuleResponse{Rule: rulePB(r)}, nil
}

// CreateEarningRule adds a rule.
func (s *Server) CreateEarningRule(ctx context.Context, req *loyaltyv1.CreateEarningRuleRequest) (*loyaltyv1.CreateEarningRuleResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateEarningRule_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateEarningRuleResponse, error) {
			r, err := u.CreateRule(ctx, ruleOf(req.GetRule()))
			if err != nil {
				return nil, nest("rule", err)
			}
			return &loyaltyv1.CreateEarningRuleResponse{Rule: rulePB(r)}, nil
		})
}

// UpdateEarningRule changes the fields of a rule named by update_mask.
func (s *Server) UpdateEarningRule(ctx context.Context, req *loyaltyv1.UpdateEarningRuleRequest) (*loyaltyv1.UpdateEarningRuleResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_UpdateEarningRule_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.UpdateEarningRuleResponse, error) {
			r, err := u.UpdateRule(ctx, req.GetRule().GetRuleId(), func(cur *earning.Rule) error {
				p := rulePB(app.RuleRecord{Record: app.Record[earning.Rule]{Value: *cur}})
				if err := applyMask(p, req.GetRule(), req.GetUpdateMask(), "rule"); err != nil {
					return err
				}
				*cur = ruleOf(p)
				return nil
			})
			if err != nil {
				return nil, nest("rule", err)
			}
			return &loyaltyv1.UpdateEarningRuleResponse{Rule: rulePB(r)}, nil
		})
}

// ListTiers returns the tiers in rank order.
func (s *Server) ListTiers(ctx context.Context, _ *loyaltyv1.ListTiersRequest) (*loyaltyv1.ListTiersResponse, error) {
	ts, err := s.app.Tiers(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListTiersResponse{}
	for _, t := range ts {
		out.Tiers = append(out.Tiers, tierPB(t))
	}
	return out, nil
}

// GetTier returns one tier.
func (s *Server) GetTier(ctx context.Context, req *loyaltyv1.GetTierRequest) (*loyaltyv1.GetTierResponse, error) {
	t, err := s.app.Tier(ctx, req.GetTierId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetTierResponse{Tier: tierPB(t)}, nil
}

// CreateTier adds a tier.
func (s *Server) CreateTier(ctx context.Context, req *loyaltyv1.CreateTierRequest) (*loyaltyv1.CreateTierResponse, error) {
	cur := s.app.Config().Program.Currency
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateTier_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateTierResponse, error) {
			t, err := u.CreateTier(ctx, tierOf(req.GetTier(), cur))
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.CreateTierResponse{Tier: tierPB(t)}, nil
		})
}

// UpdateTier changes the fields of a tier named by update_mask.
func (s *Server) UpdateTier(ctx context.Context, req *loyaltyv1.UpdateTierRequest) (*loyaltyv1.UpdateTierResponse, error) {
	cur := s.app.Config().Program.Currency
	return do(ctx, s, loyaltyv1.LoyaltyService_UpdateTier_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.UpdateTierResponse, error) {
			t, err := u.UpdateTier(ctx, req.GetTier().GetTierId(), func(c *app.TierConfig) error {
				p := tierPB(app.Record[app.TierConfig]{Value: *c})
				if err := applyMask(p, req.GetTier(), req.GetUpdateMask(), "tier"); err != nil {
					return err
				}
				*c = tierOf(p, cur)
				return nil
			})
			if err != nil {
				return nil, err
			}
			return &loyaltyv1.UpdateTierResponse{Tier: tierPB(t)}, nil
		})
}

// readOnly are fields an update never takes from the request.
var readOnly = map[protoreflect.Name]bool{"reward_id": true, "rule_id": true, "tier_id": true, "challenge_id": true, "created_at": true, "updated_at": true}

// applyMask copies the fields named by mask (all writable fields when it is
// empty) from src to dst. Only top-level fields can be named.
func applyMask(dst, src proto.Message, mask *fieldmaskpb.FieldMask, prefix string) error {
	d, sm := dst.ProtoReflect(), src.ProtoReflect()
	fields := d.Descriptor().Fields()
	paths := mask.GetPaths()
	if len(paths) == 0 {
		for i := range fields.Len() {
			if f := fields.Get(i); !readOnly[f.Name()] {
				paths = append(paths, string(f.Name()))
			}
		}
	}
	for i, p := range paths {
		f := fields.ByName(protoreflect.Name(p))
		if f == nil || readOnly[f.Name()] {
			return validation.Field(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a writable field of %s", p, prefix)
		}
		if sm.Has(f) {
			d.Set(f, sm.Get(f))
		} else {
			d.Clear(f)
		}
	}
	return nil
}

// register adds the server to a gRPC server.
func (s *Server) register(g *grpc.Server) { loyaltyv1.RegisterLoyaltyServiceServer(g, s) }
