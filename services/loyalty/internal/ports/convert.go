package ports

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tm(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func moneyPB(m money.Money) *commercev1.Money {
	if m.Currency == "" && m.Amount == 0 {
		return nil
	}
	return &commercev1.Money{AmountMinor: m.Amount, Currency: m.Currency}
}

func moneyOf(m *commercev1.Money) money.Money {
	return money.New(m.GetAmountMinor(), m.GetCurrency())
}

// orderInput is a purchase as both the Earn RPC and order events carry it.
type orderInput struct {
	orderID, customerID string
	channel             commercev1.Channel
	lines               []*commercev1.OrderLine
	totals              *commercev1.OrderTotals
	orderedAt           time.Time
}

// toOrder maps a purchase to the earning domain. The currency comes from the
// totals, else from the first priced line; lines in another currency are
// refused, since one order is paid in one currency.
func toOrder(in orderInput) (earning.Order, int64, error) {
	cur := in.totals.GetTotal().GetCurrency()
	if cur == "" {
		cur = in.totals.GetSubtotal().GetCurrency()
	}
	for _, l := range in.lines {
		if cur == "" {
			cur = l.GetUnitPrice().GetCurrency()
		}
	}
	o := earning.Order{ID: in.orderID, CustomerID: in.customerID, Channel: in.channel.String(), Currency: cur, CompletedAt: in.orderedAt}
	var c validation.Collector
	var spend int64
	for i, l := range in.lines {
		f := fmt.Sprintf("lines[%d]", i)
		if p := l.GetUnitPrice(); p != nil && p.GetCurrency() != cur {
			c.Add(f+".unit_price.currency", "must be the order currency %s, got %q", cur, p.GetCurrency())
		}
		if d := l.GetDiscount(); d != nil && d.GetAmountMinor() != 0 && d.GetCurrency() != cur {
			c.Add(f+".discount.currency", "must be the order currency %s, got %q", cur, d.GetCurrency())
		}
		o.Lines = append(o.Lines, earning.Line{LineID: l.GetLineId(), SKU: l.GetSku(), ProductID: l.GetProductId(),
			CategoryPath: l.GetCategoryPath(), Quantity: l.GetQuantity(), UnitPrice: l.GetUnitPrice().GetAmountMinor(),
			Discount: l.GetDiscount().GetAmountMinor()})
	}
	if err := c.Err(); err != nil {
		return earning.Order{}, 0, err
	}
	if err := o.Validate(); err != nil {
		return earning.Order{}, 0, err
	}
	if t := in.totals.GetTotal(); t != nil {
		spend = t.GetAmountMinor()
	} else {
		for _, l := range o.Lines {
			n, _ := l.Net()
			spend += n
		}
	}
	return o, max(spend, 0), nil
}

func refundLines(rs []*commercev1.RefundedLine) ([]earning.RefundLine, int64) {
	out := make([]earning.RefundLine, len(rs))
	var amount int64
	for i, r := range rs {
		out[i] = earning.RefundLine{LineID: r.GetLineId(), Quantity: r.GetQuantity(), Amount: r.GetAmount().GetAmountMinor()}
		amount += r.GetAmount().GetAmountMinor()
	}
	return out, amount
}

func balancePB(b app.Balance) *loyaltyv1.Balance {
	return &loyaltyv1.Balance{Available: b.Available, Pending: b.Pending, Held: b.Held, AvailableValue: moneyPB(b.AvailableValue)}
}

func entryPB(e ledger.Entry) *loyaltyv1.Transaction {
	return &loyaltyv1.Transaction{
		TransactionId: e.ID, CustomerId: e.MemberID, Type: loyaltyv1.TransactionType(e.Type), Points: e.Points,
		BalanceAfter: e.BalanceAfter, OrderId: e.OrderID, ReferenceId: e.ReferenceID, RuleIds: e.RuleIDs,
		Description: e.Description, PendingUntil: ts(e.PendingUntil), ExpiresAt: ts(e.ExpiresAt), CreatedAt: ts(e.CreatedAt),
	}
}

func holdPB(h app.HoldResult) *loyaltyv1.Hold {
	return &loyaltyv1.Hold{
		HoldId: h.Hold.ID, CustomerId: h.Hold.MemberID, Points: h.Hold.Points, CapturedPoints: h.Hold.Captured, Value: moneyPB(h.Value),
		OrderId: h.Hold.OrderID, Status: loyaltyv1.HoldStatus(h.Hold.Status), ExpiresAt: ts(h.Hold.ExpiresAt),
		CreatedAt: ts(h.Hold.CreatedAt), ClosedAt: ts(h.Hold.ClosedAt),
	}
}

var redemptionStatus = map[string]loyaltyv1.RedemptionStatus{
	"completed": loyaltyv1.RedemptionStatus_REDEMPTION_STATUS_COMPLETED,
	"reversed":  loyaltyv1.RedemptionStatus_REDEMPTION_STATUS_REVERSED,
}

func redemptionPB(r app.Redemption) *loyaltyv1.Redemption {
	return &loyaltyv1.Redemption{
		RedemptionId: r.ID, CustomerId: r.MemberID, RewardId: r.RewardID, Points: r.Points, Value: moneyPB(r.Value),
		CouponCode: r.Code, ProductId: r.ProductID, Status: redemptionStatus[r.Status],
		TransactionId: r.EntryID, ValidUntil: ts(r.ValidUntil), CreatedAt: ts(r.CreatedAt),
	}
}

func rewardPB(r app.Record[reward.Reward]) *loyaltyv1.Reward {
	v := r.Value
	out := &loyaltyv1.Reward{
		RewardId: v.ID, Name: v.Name, Description: v.Description, Type: loyaltyv1.RewardType(v.Type), PointsCost: v.Cost,
		Discount: moneyPB(v.Discount), PercentOffBps: v.Percent * 100, ProductId: v.SKU, Stock: v.Stock,
		PerMemberLimit: int32(v.PerMemberLimit), TierIds: v.TierIDs, ValidFrom: ts(v.ValidFrom), ValidUntil: ts(v.ValidUntil),
		Status: loyaltyv1.ConfigStatus(v.Status), CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
	}
	return out
}

func rewardOf(p *loyaltyv1.Reward) (reward.Reward, error) {
	if bps := p.GetPercentOffBps(); bps%100 != 0 {
		return reward.Reward{}, validation.Field("reward.percent_off_bps", "must be a whole percent (a multiple of 100), got %d", bps)
	}
	r := reward.Reward{
		ID: p.GetRewardId(), Name: p.GetName(), Description: p.GetDescription(), Type: reward.Type(p.GetType()), Cost: p.GetPointsCost(),
		Discount: moneyOf(p.GetDiscount()), Percent: p.GetPercentOffBps() / 100, SKU: p.GetProductId(), PerMemberLimit: int64(p.GetPerMemberLimit()),
		TierIDs: p.GetTierIds(), ValidFrom: tm(p.GetValidFrom()), ValidUntil: tm(p.GetValidUntil()), Status: reward.Status(p.GetStatus()),
	}
	if p.Stock != nil {
		s := p.GetStock()
		r.Stock = &s
	}
	if r.Status == reward.StatusUnspecified {
		r.Status = reward.StatusActive
	}
	return r, nil
}

var channelNames = commercev1.Channel_name

func rulePB(r app.RuleRecord) *loyaltyv1.EarningRule {
	v := r.Value
	out := &loyaltyv1.EarningRule{
		RuleId: v.ID, Name: v.Name, Trigger: loyaltyv1.EarningTrigger(v.Trigger), CustomEventName: v.CustomEvent,
		HoldoutPercent: v.HoldoutPercent, Priority: v.Priority, StartsAt: ts(v.StartsAt), EndsAt: ts(v.EndsAt),
		Status: loyaltyv1.ConfigStatus(v.Status), CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
		Target: &loyaltyv1.RuleTarget{Skus: v.Target.SKUs, Categories: v.Target.Categories, ExcludedSkus: v.Target.ExcludedSKUs,
			ExcludedCategories: v.Target.ExcludedCategories, TierIds: v.Target.TierIDs, SegmentIds: v.Target.SegmentIDs},
		Cap: &loyaltyv1.RuleCap{MaxPointsPerMember: v.Cap.MaxPointsPerMember, BudgetPoints: v.Cap.BudgetPoints},
	}
	if v.Cap.Period > 0 {
		out.Cap.Period = durationpb.New(v.Cap.Period)
	}
	if v.Target.MinOrderValue > 0 {
		out.Target.MinOrderValue = &commercev1.Money{AmountMinor: v.Target.MinOrderValue}
	}
	for _, c := range v.Target.Channels {
		out.Target.Channels = append(out.Target.Channels, commercev1.Channel(commercev1.Channel_value[c]))
	}
	switch v.Kind {
	case earning.AwardRate:
		out.Award = &loyaltyv1.EarningRule_Rate{Rate: &loyaltyv1.EarnRate{Points: v.Rate.Points, Per: moneyPB(v.Rate.Per),
			Rounding: loyaltyv1.Rounding(v.Rate.Rounding + 1)}}
	case earning.AwardMultiplier:
		out.Award = &loyaltyv1.EarningRule_MultiplierPercent{MultiplierPercent: v.MultiplierPercent}
	case earning.AwardBonus:
		out.Award = &loyaltyv1.EarningRule_BonusPoints{BonusPoints: v.BonusPoints}
	}
	return out
}

func ruleOf(p *loyaltyv1.EarningRule) earning.Rule {
	t := p.GetTarget()
	r := earning.Rule{
		ID: p.GetRuleId(), Name: p.GetName(), Trigger: earning.Trigger(p.GetTrigger()), CustomEvent: p.GetCustomEventName(),
		HoldoutPercent: p.GetHoldoutPercent(), Priority: p.GetPriority(), StartsAt: tm(p.GetStartsAt()), EndsAt: tm(p.GetEndsAt()),
		Status: earning.Status(p.GetStatus()),
		Target: earning.Target{SKUs: t.GetSkus(), Categories: t.GetCategories(), ExcludedSKUs: t.GetExcludedSkus(),
			ExcludedCategories: t.GetExcludedCategories(), TierIDs: t.GetTierIds(), SegmentIDs: t.GetSegmentIds(),
			MinOrderValue: t.GetMinOrderValue().GetAmountMinor()},
		Cap: earning.Cap{MaxPointsPerMember: p.GetCap().GetMaxPointsPerMember(), Period: p.GetCap().GetPeriod().AsDuration(),
			BudgetPoints: p.GetCap().GetBudgetPoints()},
	}
	if p.GetCap().GetPeriod() == nil {
		r.Cap.Period = 0
	}
	for _, c := range t.GetChannels() {
		r.Target.Channels = append(r.Target.Channels, channelNames[int32(c)])
	}
	switch a := p.GetAward().(type) {
	case *loyaltyv1.EarningRule_Rate:
		rounding := money.RoundDown
		if a.Rate.GetRounding() > loyaltyv1.Rounding_ROUNDING_UNSPECIFIED {
			rounding = money.Rounding(a.Rate.GetRounding() - 1)
		}
		r.Kind, r.Rate = earning.AwardRate, earning.Rate{Points: a.Rate.GetPoints(), Per: moneyOf(a.Rate.GetPer()), Rounding: rounding}
	case *loyaltyv1.EarningRule_MultiplierPercent:
		r.Kind, r.MultiplierPercent = earning.AwardMultiplier, a.MultiplierPercent
	case *loyaltyv1.EarningRule_BonusPoints:
		r.Kind, r.BonusPoints = earning.AwardBonus, a.BonusPoints
	}
	if r.Status == earning.StatusUnspecified {
		r.Status = earning.StatusActive
	}
	return r
}

func tierPB(r app.Record[app.TierConfig]) *loyaltyv1.Tier {
	v := r.Value
	out := &loyaltyv1.Tier{
		TierId: v.Tier.ID, Name: v.Tier.Name, Rank: v.Tier.Rank, Measure: loyaltyv1.QualifyingMeasure(v.Measure),
		WindowMonths: int32(v.WindowMonths), DowngradePolicy: loyaltyv1.DowngradePolicy(v.Tier.Downgrade),
		Benefits:  &loyaltyv1.TierBenefits{EarnMultiplierPercent: v.Tier.Benefits.EarnMultiplierPercent, Perks: v.Tier.Benefits.Perks},
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt), Paid: v.Tier.Paid,
	}
	if v.Measure == tier.MeasureSpend {
		out.ThresholdSpend = &commercev1.Money{AmountMinor: v.Tier.Threshold, Currency: v.Currency}
	} else {
		out.ThresholdPoints = v.Tier.Threshold
	}
	return out
}

func tierOf(p *loyaltyv1.Tier, currency string) app.TierConfig {
	t := app.TierConfig{
		Tier: tier.Tier{ID: p.GetTierId(), Name: p.GetName(), Rank: p.GetRank(), Downgrade: tier.DowngradePolicy(p.GetDowngradePolicy()),
			Benefits: tier.Benefits{EarnMultiplierPercent: p.GetBenefits().GetEarnMultiplierPercent(), Perks: p.GetBenefits().GetPerks()},
			Paid:     p.GetPaid()},
		Measure: tier.Measure(p.GetMeasure()), WindowMonths: int(p.GetWindowMonths()), Currency: currency,
	}
	if t.Measure == tier.MeasureSpend {
		t.Tier.Threshold = p.GetThresholdSpend().GetAmountMinor()
	} else {
		t.Tier.Threshold = p.GetThresholdPoints()
	}
	return t
}

func memberPB(v app.MemberView) *loyaltyv1.Member {
	m := &loyaltyv1.Member{CustomerId: v.MemberID, Balance: balancePB(v.Balance), LifetimePoints: v.LifetimePoints, EnrolledAt: ts(v.EnrolledAt),
		Tier: &loyaltyv1.TierStatus{}}
	for _, e := range v.Expiring {
		m.ExpiringPoints = append(m.ExpiringPoints, &loyaltyv1.ExpiringPoints{Points: e.Points, ExpiresAt: ts(e.ExpiresAt)})
	}
	if v.HasTier {
		p := v.Progress
		ts0 := m.Tier
		if p.HasTier {
			ts0.TierId, ts0.TierName = p.Current.ID, p.Current.Name
		}
		if p.HasNext {
			ts0.NextTierId, ts0.NextTierName = p.Next.ID, p.Next.Name
		}
		if v.Measure == tier.MeasureSpend {
			cur := v.Balance.AvailableValue.Currency
			ts0.QualifyingSpend = &commercev1.Money{AmountMinor: p.Measure, Currency: cur}
			if p.HasNext {
				ts0.SpendToNextTier = &commercev1.Money{AmountMinor: p.Remaining, Currency: cur}
			}
		} else {
			ts0.QualifyingPoints = p.Measure
			if p.HasNext {
				ts0.PointsToNextTier = p.Remaining
			}
		}
		ts0.RequalifyAt = ts(p.RequalifyAt)
	}
	return m
}

// unavailable names why a visible reward cannot be redeemed now.
var unavailable = []struct {
	err  error
	name string
}{
	{reward.ErrOutOfStock, "out_of_stock"},
	{reward.ErrMemberLimit, "member_limit"},
	{reward.ErrNotEnoughPoints, "not_enough_points"},
	{reward.ErrTierRestricted, "tier_restricted"},
	{reward.ErrNotYetValid, "not_yet_valid"},
	{reward.ErrExpired, "expired"},
	{reward.ErrNotActive, "not_active"},
}

func unavailableReason(err error) string {
	if err == nil {
		return ""
	}
	for _, u := range unavailable {
		if errors.Is(err, u.err) {
			return u.name
		}
	}
	return "unavailable"
}

func offersPB(o app.Offers) *loyaltyv1.GetMemberOffersResponse {
	a := o.Answer
	out := &loyaltyv1.GetMemberOffersResponse{Member: memberPB(o.View), Perks: a.Perks, EarnMultiplierPercent: a.EarnMultiplierPercent}
	for _, c := range a.Campaigns {
		// rulePB converts the award the same way the rule API shows it.
		r := rulePB(app.RuleRecord{Record: app.Record[earning.Rule]{Value: earning.Rule{Kind: c.Kind, Rate: c.Rate,
			MultiplierPercent: c.MultiplierPercent, BonusPoints: c.BonusPoints}}})
		pc := &loyaltyv1.Campaign{RuleId: c.RuleID, Name: c.Name, Trigger: loyaltyv1.EarningTrigger(c.Trigger), EndsAt: ts(c.EndsAt)}
		switch aw := r.GetAward().(type) {
		case *loyaltyv1.EarningRule_Rate:
			pc.Award = &loyaltyv1.Campaign_Rate{Rate: aw.Rate}
		case *loyaltyv1.EarningRule_MultiplierPercent:
			pc.Award = &loyaltyv1.Campaign_MultiplierPercent{MultiplierPercent: aw.MultiplierPercent}
		case *loyaltyv1.EarningRule_BonusPoints:
			pc.Award = &loyaltyv1.Campaign_BonusPoints{BonusPoints: aw.BonusPoints}
		}
		out.Campaigns = append(out.Campaigns, pc)
	}
	for _, r := range a.Rewards {
		rec := o.Rewards[r.Reward.ID]
		rec.Value = r.Reward
		out.Rewards = append(out.Rewards, &loyaltyv1.RewardOffer{Reward: rewardPB(rec), Affordable: r.Affordable,
			PointsShort: r.PointsShort, UnavailableReason: unavailableReason(r.Blocked)})
	}
	return out
}
