package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	store "github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// ErrBadEvent marks an event that cannot be processed however often it is
// retried (missing ids, unknown kind); the consumer dead-letters it.
var ErrBadEvent = errors.New("malformed event")

// OrderMessage is one commerce order event of a consumer batch.
type OrderMessage struct {
	// EventID deduplicates refunds that carry no refund id.
	EventID string
	Event   *commercev1.OrderEvent
}

// HandleOrder applies one commerce order event; see HandleOrders.
func (a *App) HandleOrder(ctx context.Context, t *Tx, eventID string, ev *commercev1.OrderEvent) error {
	return a.HandleOrders(ctx, t, []OrderMessage{{EventID: eventID, Event: ev}})
}

// HandleOrders applies commerce order events in their order: a completed
// order may convert the buyer's referral; a refund or cancellation inside
// the hold period voids the rewards. Consecutive completed orders are
// converted together with a fixed number of statements, since most orders
// are not a referred friend's and round trips dominate. Redelivery is
// harmless: orders are recorded once, a converted referral does not convert
// again, and refunds are summed once per refund id.
func (a *App) HandleOrders(ctx context.Context, t *Tx, msgs []OrderMessage) error {
	var run []store.Order
	for _, m := range msgs {
		f, err := ParseOrder(m.EventID, m.Event)
		if err != nil {
			return err
		}
		if f.Reversal == nil {
			run = append(run, f.Order)
			continue
		}
		if err := a.convertAll(ctx, t, run); err != nil {
			return err
		}
		run = run[:0]
		// The order is recorded for refunds too, so a refund can be
		// summed even when the completion was missed.
		if err := t.store.AddOrders(ctx, []store.Order{f.Order}); err != nil {
			return err
		}
		rev := *f.Reversal
		if !rev.Cancelled {
			refunded, err := t.store.AddRefund(ctx, f.Order.ID, f.RefundID, f.RefundAmount)
			if err != nil {
				return err
			}
			rev.Refunded = money.New(refunded, f.Order.Total.Currency)
		}
		if err := a.reverse(ctx, t, f.Order.CustomerID, rev); err != nil {
			return err
		}
	}
	return a.convertAll(ctx, t, run)
}

// OrderFacts is what the service takes from one commerce order event.
type OrderFacts struct {
	Order store.Order
	// Reversal is set for refunds and cancellations (Refunded is filled in
	// from the stored total of the order's refunds).
	Reversal *referral.Reversal
	// RefundID and RefundAmount identify and size a refund.
	RefundID     string
	RefundAmount int64
}

// ParseOrder checks an order event and extracts its facts; it fails with
// ErrBadEvent for events no retry can fix.
func ParseOrder(eventID string, ev *commercev1.OrderEvent) (OrderFacts, error) {
	if ev.GetOrderId() == "" || ev.GetCustomerId() == "" {
		return OrderFacts{}, fmt.Errorf("order event %s without order_id or customer_id: %w", eventID, ErrBadEvent)
	}
	if ev.GetOrderedAt() == nil && ev.GetOccurredAt() == nil {
		return OrderFacts{}, fmt.Errorf("order event %s without ordered_at or occurred_at: %w", eventID, ErrBadEvent)
	}
	placed, occurred := ev.GetOrderedAt(), ev.GetOccurredAt()
	if placed == nil {
		placed = occurred
	}
	if occurred == nil {
		occurred = placed
	}
	if err := placed.CheckValid(); err != nil {
		return OrderFacts{}, fmt.Errorf("order event %s: ordered_at: %w: %w", eventID, err, ErrBadEvent)
	}
	if err := occurred.CheckValid(); err != nil {
		return OrderFacts{}, fmt.Errorf("order event %s: occurred_at: %w: %w", eventID, err, ErrBadEvent)
	}
	total := ev.GetTotals().GetTotal()
	if total.GetAmountMinor() < 0 {
		return OrderFacts{}, fmt.Errorf("order event %s: negative total: %w", eventID, ErrBadEvent)
	}
	f := OrderFacts{Order: store.Order{
		ID: ev.GetOrderId(), CustomerID: ev.GetCustomerId(), PlacedAt: placed.AsTime().UTC().Truncate(time.Microsecond),
		Total: money.New(total.GetAmountMinor(), total.GetCurrency()),
	}}
	switch ev.GetKind() {
	case commercev1.OrderEvent_KIND_COMPLETED:
		return f, nil
	case commercev1.OrderEvent_KIND_REFUNDED, commercev1.OrderEvent_KIND_CANCELLED:
		f.Reversal = &referral.Reversal{OrderID: f.Order.ID, Cancelled: ev.GetKind() == commercev1.OrderEvent_KIND_CANCELLED, At: occurred.AsTime().UTC().Truncate(time.Microsecond)}
		if !f.Reversal.Cancelled {
			for _, l := range ev.GetRefundedLines() {
				if l.GetAmount().GetAmountMinor() < 0 || f.RefundAmount > math.MaxInt64-l.GetAmount().GetAmountMinor() {
					return OrderFacts{}, fmt.Errorf("order event %s: refund amount out of range: %w", eventID, ErrBadEvent)
				}
				f.RefundAmount += l.GetAmount().GetAmountMinor()
			}
			f.RefundID = ev.GetRefundId()
			if f.RefundID == "" {
				f.RefundID = eventID
			}
		}
		return f, nil
	}
	return OrderFacts{}, fmt.Errorf("order event %s of kind %v: %w", eventID, ev.GetKind(), ErrBadEvent)
}

// convertAll offers completed orders to the buyers' referrals. Campaign
// rows are locked first (they hold the budgets), then the referrals, in id
// order: every path takes locks in that order, so conversions racing on one
// campaign serialize on its row and its budget stays exact.
func (a *App) convertAll(ctx context.Context, t *Tx, orders []store.Order) error {
	if len(orders) == 0 {
		return nil
	}
	if err := t.store.AddOrders(ctx, orders); err != nil {
		return err
	}
	customers := make([]string, 0, len(orders))
	for _, o := range orders {
		customers = append(customers, o.CustomerID)
	}
	open, err := t.store.OpenReferralsOfFriends(ctx, customers)
	if err != nil || len(open) == 0 {
		return err
	}
	var campaignIDs, referralIDs []string
	for _, r := range open {
		campaignIDs = append(campaignIDs, r.CampaignID)
		referralIDs = append(referralIDs, r.ID)
	}
	locked, err := t.store.LockCampaigns(ctx, campaignIDs)
	if err != nil {
		return err
	}
	refs, err := t.store.LockReferrals(ctx, referralIDs)
	if err != nil {
		return err
	}
	byFriend := make(map[string]*referral.Referral, len(refs))
	var friends, referrers []string
	for _, r := range refs {
		byFriend[r.FriendID] = r
		friends = append(friends, r.FriendID)
		referrers = append(referrers, r.ReferrerID)
	}
	firsts, err := t.store.FirstOrders(ctx, friends)
	if err != nil {
		return err
	}
	successful, err := t.store.SuccessfulByReferrers(ctx, referrers)
	if err != nil {
		return err
	}
	var changed []*referral.Referral
	var rewards []reward.Reward
	for _, o := range orders {
		r := byFriend[o.CustomerID]
		if r == nil || r.Stage != referral.StageSignedUp {
			continue
		}
		lc := locked[r.CampaignID]
		if lc == nil {
			return fmt.Errorf("referral %s: campaign %s: %w", r.ID, r.CampaignID, campaign.ErrNotFound)
		}
		key := store.SuccessKey{CampaignID: r.CampaignID, ReferrerID: r.ReferrerID}
		conv, err := r.Convert(referral.ConvertParams{
			Campaign: lc.Campaign, Budget: &lc.Budget, ReferrerSuccessful: successful[key],
			Order: campaign.Order{ID: o.ID, Value: o.Total, PlacedAt: o.PlacedAt, First: firsts[o.CustomerID] == o.ID},
		})
		if errors.Is(err, referral.ErrAlreadyConverted) || errors.Is(err, referral.ErrClosed) {
			continue
		}
		if err != nil {
			return err
		}
		switch conv.Verdict {
		case campaign.Reject:
			changed = append(changed, r)
			t.emit(r.FriendID, rejectedEvent(*r, conv.Rejection, ""))
		case campaign.Qualifies:
			successful[key]++
			changed = append(changed, r)
			rewards = append(rewards, conv.Rewards...)
			t.emit(r.FriendID, &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralConverted{ReferralConverted: &referraleventsv1.ReferralConverted{
				AttributionId: r.ID, CampaignId: r.CampaignID, ReferrerCustomerId: r.ReferrerID, ReferredCustomerId: r.FriendID,
				OrderId: o.ID, OrderTotal: pbMoney(o.Total), RewardPendingUntil: pbTime(r.PayableAt), OccurredAt: pbTime(r.ConvertedAt),
			}}})
		}
	}
	if err := t.store.SaveReferrals(ctx, changed); err != nil {
		return err
	}
	if err := t.store.CreateRewards(ctx, rewards); err != nil {
		return err
	}
	return t.store.SaveBudgets(ctx, locked)
}

// reverse voids a converted referral's rewards when its order was refunded
// or cancelled inside the hold period, returning their cost to the budget.
func (a *App) reverse(ctx context.Context, t *Tx, customerID string, rev referral.Reversal) error {
	r, err := t.store.ReferralByFriend(ctx, customerID)
	if errors.Is(err, referral.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Stage != referral.StageConverted || r.OrderID != rev.OrderID {
		return nil
	}
	return t.store.UpdateCampaign(ctx, r.CampaignID, func(c *campaign.Campaign, b *campaign.Budget) error {
		return t.store.UpdateReferral(ctx, r.ID, func(r *referral.Referral) error {
			rewards, err := t.store.RewardsForReferral(ctx, r.ID)
			if err != nil {
				return err
			}
			ptrs := make([]*reward.Reward, len(rewards))
			for i := range rewards {
				ptrs[i] = &rewards[i]
			}
			voided, err := r.Reverse(*c, rev, ptrs, b)
			if err != nil || !voided {
				return err
			}
			for _, rw := range rewards {
				if err := t.store.SaveReward(ctx, rw); err != nil {
					return err
				}
			}
			t.emit(r.FriendID, rejectedEvent(*r, r.Rejection, ""))
			return nil
		})
	})
}

// PayDue pays the rewards whose hold ended at or before now, at most limit
// referrals' worth, each referral in its own transaction; it returns how
// many rewards it paid. Discount rewards draw a coupon from their pool; when
// the pool is empty they stay payable and are retried on the next run.
func (a *App) PayDue(ctx context.Context, now time.Time, limit int) (int, error) {
	var ids []string
	err := a.InTx(ctx, func(t *Tx) error {
		var err error
		ids, err = t.store.DueReferrals(ctx, now, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	paid := 0
	for _, id := range ids {
		n := 0
		err := a.InTx(ctx, func(t *Tx) error {
			n = 0
			return t.store.UpdateReferral(ctx, id, func(r *referral.Referral) error {
				rewards, err := t.store.RewardsForReferral(ctx, id)
				if err != nil {
					return err
				}
				for i := range rewards {
					rw := &rewards[i]
					if rw.Status == reward.StatusPaid || rw.Status == reward.StatusVoided || now.Before(rw.PayableAt) {
						continue
					}
					coupon := ""
					if rw.Spec.Kind != reward.KindPoints {
						coupon, err = t.store.DrawCoupon(ctx, rw.Spec.CouponPool, rw.ID)
						if errors.Is(err, reward.ErrPoolEmpty) {
							if err := rw.Release(now); err != nil {
								return err
							}
							if err := t.store.SaveReward(ctx, *rw); err != nil {
								return err
							}
							continue
						}
						if err != nil {
							return err
						}
					}
					if err := rw.MarkPaid(now, coupon); err != nil {
						return err
					}
					if err := t.store.SaveReward(ctx, *rw); err != nil {
						return err
					}
					n++
					t.emit(rw.BeneficiaryID, rewardedEvent(*rw))
				}
				r.Settle(rewards, now)
				return nil
			})
		})
		if err != nil {
			return paid, err
		}
		paid += n
	}
	return paid, nil
}

var beneficiary = map[reward.Role]referraleventsv1.Beneficiary{
	reward.RoleReferrer: referraleventsv1.Beneficiary_BENEFICIARY_REFERRER,
	reward.RoleFriend:   referraleventsv1.Beneficiary_BENEFICIARY_REFERRED,
	reward.RolePartner:  referraleventsv1.Beneficiary_BENEFICIARY_PARTNER,
}

func rewardedEvent(rw reward.Reward) *referraleventsv1.ReferralEvent {
	ev := &referraleventsv1.ReferralRewarded{
		RewardId: string(rw.ID), AttributionId: rw.ReferralID, CampaignId: rw.CampaignID,
		Beneficiary: beneficiary[rw.Role], BeneficiaryCustomerId: rw.BeneficiaryID, CouponCode: rw.CouponCode,
		OccurredAt: pbTime(rw.PaidAt),
	}
	switch rw.Spec.Kind {
	case reward.KindPoints:
		ev.Points = rw.Spec.Points
	default:
		ev.Discount = pbMoney(rw.Cost.Money)
	}
	return &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralRewarded{ReferralRewarded: ev}}
}

// NudgeDue emits one ReferralNudgeDue for each referred friend who signed
// up, has not ordered, and whose campaign's nudge delay passed at now; it
// returns how many it emitted.
func (a *App) NudgeDue(ctx context.Context, now time.Time, limit int) (int, error) {
	sent := 0
	err := a.InTx(ctx, func(t *Tx) error {
		sent = 0
		ids, err := t.store.NudgeCandidates(ctx, now, limit)
		if err != nil {
			return err
		}
		camps := map[string]campaign.Campaign{}
		for _, id := range ids {
			err := t.store.UpdateReferral(ctx, id, func(r *referral.Referral) error {
				c, ok := camps[r.CampaignID]
				if !ok {
					var err error
					if c, err = t.store.GetCampaign(ctx, r.CampaignID); err != nil {
						return err
					}
					camps[r.CampaignID] = c
				}
				if !r.NudgeDue(c, now) {
					return nil
				}
				if err := r.MarkNudged(now); err != nil {
					return err
				}
				end, _ := c.Conditions.WindowEnd(r.ClickedAt, r.SignedUpAt)
				t.emit(r.FriendID, &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralNudgeDue{ReferralNudgeDue: &referraleventsv1.ReferralNudgeDue{
					AttributionId: r.ID, CampaignId: r.CampaignID, ReferrerCustomerId: r.ReferrerID, ReferredCustomerId: r.FriendID,
					SignedUpAt: pbTime(r.SignedUpAt), WindowEndsAt: pbTime(end), OccurredAt: pbTime(now),
				}}})
				sent++
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return sent, err
}
