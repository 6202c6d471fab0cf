package app

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// eventInfo is what the entries alone do not say about an operation.
type eventInfo struct {
	source       eventsv1.EarnSource
	reason       eventsv1.ReversalReason
	redemptionID string
	holdID       string
	rewardID     string
	value        money.Money
	uncollected  int64
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func moneyPB(m money.Money) *commercev1.Money {
	if m.Currency == "" {
		return nil
	}
	return &commercev1.Money{AmountMinor: m.Amount, Currency: m.Currency}
}

// publish adds one event per announced entry to the outbox, in the same
// transaction as the entries. Holds and their releases are not announced:
// they reserve points, and the capture that spends them is.
func (u *Unit) publish(ctx context.Context, entries []ledger.Entry, info eventInfo) error {
	evs := make([]events.Event, 0, len(entries))
	for _, e := range entries {
		var le *eventsv1.LoyaltyEvent
		switch {
		case e.Type == ledger.TypeRedemption || (e.Type == ledger.TypeAdjustment && e.Points < 0) || e.Type == ledger.TypeTransferOut:
			le = &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_PointsRedeemed{PointsRedeemed: &eventsv1.PointsRedeemed{
				CustomerId: e.MemberID, TransactionId: e.ID, Points: -e.Points, RedemptionId: info.redemptionID, HoldId: info.holdID,
				RewardId: info.rewardID, OrderId: e.OrderID, Value: moneyPB(info.value), BalanceAfter: e.BalanceAfter, OccurredAt: ts(e.CreatedAt),
			}}}
		case e.Points > 0 && (e.Type == ledger.TypeAccrual || e.Type == ledger.TypeAdjustment || e.Type == ledger.TypeReferralReward || e.Type == ledger.TypeTransferIn):
			src := info.source
			if src == eventsv1.EarnSource_EARN_SOURCE_UNSPECIFIED && e.PartnerID != "" {
				src = eventsv1.EarnSource_EARN_SOURCE_PARTNER
			}
			if src == eventsv1.EarnSource_EARN_SOURCE_UNSPECIFIED {
				src = map[ledger.EntryType]eventsv1.EarnSource{ledger.TypeAccrual: eventsv1.EarnSource_EARN_SOURCE_ORDER,
					ledger.TypeAdjustment: eventsv1.EarnSource_EARN_SOURCE_ADJUSTMENT, ledger.TypeReferralReward: eventsv1.EarnSource_EARN_SOURCE_REFERRAL,
					ledger.TypeTransferIn: eventsv1.EarnSource_EARN_SOURCE_TRANSFER}[e.Type]
			}
			le = &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_PointsEarned{PointsEarned: &eventsv1.PointsEarned{
				CustomerId: e.MemberID, TransactionId: e.ID, Points: e.Points, Source: src, ReferenceId: e.ReferenceID, RuleIds: e.RuleIDs,
				PendingUntil: ts(e.PendingUntil), ExpiresAt: ts(e.ExpiresAt), BalanceAfter: e.BalanceAfter, OccurredAt: ts(e.CreatedAt),
			}}}
		case e.Type == ledger.TypeRefundClawback || e.Type == ledger.TypeReversal:
			reason := info.reason
			if e.ReferenceID == "debt" {
				reason = eventsv1.ReversalReason_REVERSAL_REASON_REFUND
			}
			le = &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_PointsReversed{PointsReversed: &eventsv1.PointsReversed{
				CustomerId: e.MemberID, TransactionId: e.ID, ReversedTransactionId: e.ReferenceID, Points: e.Points, Reason: reason,
				OrderId: e.OrderID, UncollectedPoints: info.uncollected, BalanceAfter: e.BalanceAfter, OccurredAt: ts(e.CreatedAt),
			}}}
		case e.Type == ledger.TypeExpiration:
			le = &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_PointsExpired{PointsExpired: &eventsv1.PointsExpired{
				CustomerId: e.MemberID, TransactionId: e.ID, Points: -e.Points, BalanceAfter: e.BalanceAfter, OccurredAt: ts(e.CreatedAt),
			}}}
		default:
			continue
		}
		evs = append(evs, events.Event{Topic: topics.LoyaltyEvents, Source: Source, Subject: e.MemberID, Time: e.CreatedAt, Payload: le})
	}
	if len(evs) == 0 {
		return nil
	}
	if err := outbox.Add(ctx, u.tx, evs...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

func (u *Unit) publishTier(ctx context.Context, memberID string, c *tier.Change, name string, validUntil time.Time) error {
	reasons := map[tier.Cause]eventsv1.TierChangeReason{
		tier.CauseQualified: eventsv1.TierChangeReason_TIER_CHANGE_REASON_QUALIFIED, tier.CauseRequalified: eventsv1.TierChangeReason_TIER_CHANGE_REASON_REQUALIFICATION,
		tier.CauseOverride: eventsv1.TierChangeReason_TIER_CHANGE_REASON_OVERRIDE, tier.CauseOverrideEnded: eventsv1.TierChangeReason_TIER_CHANGE_REASON_OVERRIDE_EXPIRED,
		tier.CauseSubscribed: eventsv1.TierChangeReason_TIER_CHANGE_REASON_SUBSCRIPTION_STARTED, tier.CauseSubscriptionEnd: eventsv1.TierChangeReason_TIER_CHANGE_REASON_SUBSCRIPTION_ENDED,
	}
	le := &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_TierChanged{TierChanged: &eventsv1.TierChanged{
		CustomerId: memberID, PreviousTierId: c.From, TierId: c.To, TierName: name, Upgrade: c.Upgrade, Reason: reasons[c.Cause],
		ValidUntil: ts(validUntil), OccurredAt: ts(c.At),
	}}}
	if err := outbox.Add(ctx, u.tx, events.Event{Topic: topics.LoyaltyEvents, Source: Source, Subject: memberID, Time: c.At, Payload: le}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
