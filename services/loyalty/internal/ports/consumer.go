package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// ProductReviewEvent is the custom interaction name storefronts send when a
// customer reviews a product (EARNING_TRIGGER_PRODUCT_REVIEW rules).
const ProductReviewEvent = "product_review"

// consumerOptions are the loyalty consumer group's topics and payload types.
func consumerOptions(batch int) consumer.Options {
	return consumer.Options{
		Topics:    []string{topics.CommerceOrders, topics.CommerceCustomers, topics.CommerceInteractions, topics.ReferralEvents, topics.SegmentationEvents},
		BatchSize: batch,
		Payloads: map[string]proto.Message{
			topics.CommerceOrders:       &commercev1.OrderEvent{},
			topics.CommerceCustomers:    &commercev1.CustomerEvent{},
			topics.CommerceInteractions: &commercev1.InteractionEvent{},
			topics.ReferralEvents:       &referraleventsv1.ReferralEvent{},
			topics.SegmentationEvents:   &segmentationeventsv1.SegmentationEvent{},
		},
	}
}

// Handler applies a batch of events in the consumer's transaction: many
// orders per transaction is what makes ingestion fast. The inbox has already
// dropped redelivered events; orders are also earned once by order id, so an
// order sent twice under different event ids still earns once.
func Handler(a *app.App, log *slog.Logger) consumer.Handler {
	return func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		return a.InTxWith(ctx, tx, func(u *app.Unit) error {
			// Consecutive completed orders are earned together; anything
			// else (a refund of one of them, say) first flushes them, so
			// each customer's events still apply in order.
			var pending []app.EarnOrder
			var pendingMsgs []events.Message
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				errs, err := u.IngestOrders(ctx, pending)
				if err != nil {
					return fmt.Errorf("earn %d orders: %w", len(pending), err)
				}
				for i, e := range errs {
					if e != nil && !errors.Is(e, app.ErrOrderAlreadyEarned) {
						log.Warn("loyalty: order skipped", "id", pendingMsgs[i].ID, "err", e)
					}
				}
				pending, pendingMsgs = pending[:0], pendingMsgs[:0]
				return nil
			}
			for _, m := range msgs {
				if m.Topic == topics.CommerceOrders {
					var ev commercev1.OrderEvent
					if err := m.Decode(&ev); err == nil && ev.GetKind() == commercev1.OrderEvent_KIND_COMPLETED {
						o, spend, err := OrderFromEvent(&ev, u.Now())
						if err != nil {
							log.Warn("loyalty: order skipped", "id", m.ID, "err", err)
							continue
						}
						pending = append(pending, app.EarnOrder{Order: o, Spend: spend})
						pendingMsgs = append(pendingMsgs, m)
						continue
					}
				}
				if err := flush(); err != nil {
					return err
				}
				if err := handle(m.Context(ctx), u, m); err != nil {
					if permanent(err) {
						// Bad data stays bad on every retry; dropping it here
						// keeps one malformed event from holding up the batch.
						log.Warn("loyalty: event skipped", "topic", m.Topic, "id", m.ID, "err", err)
						continue
					}
					return fmt.Errorf("event %s on %s: %w", m.ID, m.Topic, err)
				}
			}
			return flush()
		})
	}
}

func permanent(err error) bool {
	return errors.Is(err, validation.ErrInvalid) || errors.Is(err, money.ErrCurrencyMismatch) || errors.Is(err, money.ErrOverflow) ||
		errors.Is(err, app.ErrOrderAlreadyEarned)
}

func handle(ctx context.Context, u *app.Unit, m events.Message) error {
	switch m.Topic {
	case topics.CommerceOrders:
		var ev commercev1.OrderEvent
		if err := m.Decode(&ev); err != nil {
			return fmt.Errorf("decode: %w", validation.Field("value", "%v", err))
		}
		return handleOrder(ctx, u, &ev)
	case topics.CommerceCustomers:
		var ev commercev1.CustomerEvent
		if err := m.Decode(&ev); err != nil {
			return fmt.Errorf("decode: %w", validation.Field("value", "%v", err))
		}
		c := ev.GetCustomer()
		if c.GetCustomerId() == "" {
			return nil
		}
		at := tm(c.GetSignedUpAt())
		if at.IsZero() {
			at = u.Now()
		}
		// A birthday the shop got wrong is left out rather than costing the
		// customer their sign-up bonus.
		if b := c.GetBirthday(); b.GetMonth() >= 1 && b.GetMonth() <= 12 && b.GetDay() >= 1 && b.GetDay() <= 31 &&
			(ev.GetKind() == commercev1.CustomerEvent_KIND_CREATED || ev.GetKind() == commercev1.CustomerEvent_KIND_UPDATED) {
			if err := u.SetBirthday(ctx, c.GetCustomerId(), b.GetMonth(), b.GetDay(), at); err != nil {
				return err
			}
		}
		if ev.GetKind() != commercev1.CustomerEvent_KIND_CREATED {
			return nil
		}
		if err := u.Enroll(ctx, c.GetCustomerId(), at); err != nil {
			return err
		}
		_, err := u.EarnBonus(ctx, c.GetCustomerId(), earning.Event{ID: "signup", Trigger: earning.TriggerSignup, At: at})
		return err
	case topics.CommerceInteractions:
		var ev commercev1.InteractionEvent
		if err := m.Decode(&ev); err != nil {
			return fmt.Errorf("decode: %w", validation.Field("value", "%v", err))
		}
		if ev.GetKind() != commercev1.InteractionEvent_KIND_CUSTOM || ev.GetCustomerId() == "" || ev.GetName() == "" {
			return nil
		}
		at := tm(ev.GetOccurredAt())
		if at.IsZero() {
			at = u.Now()
		}
		if ev.GetName() == MembershipPaidEvent {
			if err := subscribe(ctx, u, &ev); err != nil {
				return err
			}
		}
		// A review earns once per product; any other custom event once per
		// occurrence (its event id).
		bonus := earning.Event{ID: "custom:" + ev.GetName() + ":" + m.ID, Trigger: earning.TriggerCustomEvent, Name: ev.GetName(), At: at}
		if ev.GetName() == ProductReviewEvent {
			bonus = earning.Event{ID: "review:" + ev.GetProductId(), Trigger: earning.TriggerProductReview, At: at}
		}
		_, err := u.EarnBonus(ctx, ev.GetCustomerId(), bonus)
		return err
	case topics.ReferralEvents:
		var ev referraleventsv1.ReferralEvent
		if err := m.Decode(&ev); err != nil {
			return fmt.Errorf("decode: %w", validation.Field("value", "%v", err))
		}
		if r := ev.GetReferralRewarded(); r != nil && r.GetPoints() > 0 && r.GetBeneficiaryCustomerId() != "" && r.GetRewardId() != "" {
			_, err := u.CreditReferral(ctx, r.GetBeneficiaryCustomerId(), r.GetRewardId(), r.GetPoints())
			return err
		}
	case topics.SegmentationEvents:
		var ev segmentationeventsv1.SegmentationEvent
		if err := m.Decode(&ev); err != nil {
			return fmt.Errorf("decode: %w", validation.Field("value", "%v", err))
		}
		if e := ev.GetSegmentEntered(); e != nil && e.GetCustomerId() != "" {
			return u.SetSegment(ctx, e.GetCustomerId(), e.GetSegmentId(), true)
		}
		if e := ev.GetSegmentExited(); e != nil && e.GetCustomerId() != "" {
			return u.SetSegment(ctx, e.GetCustomerId(), e.GetSegmentId(), false)
		}
	}
	return nil
}

// MembershipPaidEvent is the commerce.interactions.v1 KIND_CUSTOM event a
// subscription system sends when a paid membership is paid or renewed, with
// properties tier_id (a paid tier) and paid_until (RFC 3339).
const MembershipPaidEvent = "membership_paid"

// subscribe applies a membership payment. A malformed one is a validation
// error, which dead-letters the message instead of retrying it forever.
func subscribe(ctx context.Context, u *app.Unit, ev *commercev1.InteractionEvent) error {
	props := ev.GetProperties()
	until, err := time.Parse(time.RFC3339, props["paid_until"])
	if err != nil {
		return fmt.Errorf("membership of %s: %w", ev.GetCustomerId(), validation.Field("properties.paid_until", "must be an RFC 3339 time, got %q", props["paid_until"]))
	}
	if _, err := u.Subscribe(ctx, ev.GetCustomerId(), props["tier_id"], until.UTC()); err != nil {
		return fmt.Errorf("membership of %s: %w", ev.GetCustomerId(), err)
	}
	return nil
}

// handleOrder earns on completed orders and claws back on refunds and
// cancellations.
func handleOrder(ctx context.Context, u *app.Unit, ev *commercev1.OrderEvent) error {
	switch ev.GetKind() {
	case commercev1.OrderEvent_KIND_COMPLETED:
		o, spend, err := OrderFromEvent(ev, u.Now())
		if err != nil {
			return err
		}
		_, err = u.EarnOrder(ctx, app.EarnOrder{Order: o, Spend: spend})
		return err
	case commercev1.OrderEvent_KIND_REFUNDED, commercev1.OrderEvent_KIND_CANCELLED:
		if ev.GetOrderId() == "" || ev.GetCustomerId() == "" {
			return validation.Field("order_id", "order_id and customer_id are required")
		}
		cancel := ev.GetKind() == commercev1.OrderEvent_KIND_CANCELLED
		refundID := ev.GetRefundId()
		if cancel {
			refundID = "cancel"
		}
		if refundID == "" {
			return validation.Field("refund_id", "is required on a refund")
		}
		lines, amount := refundLines(ev.GetRefundedLines())
		_, err := u.RefundOrder(ctx, ev.GetCustomerId(), app.RefundOrder{OrderID: ev.GetOrderId(), RefundID: refundID, Lines: lines,
			Cancel: cancel, Amount: amount})
		return err
	}
	return nil
}

// OrderFromEvent maps a completed order event to the earning domain and
// the spend it counts for tiers; now stands in for a missing order time.
func OrderFromEvent(ev *commercev1.OrderEvent, now time.Time) (earning.Order, int64, error) {
	at := tm(ev.GetOrderedAt())
	if at.IsZero() {
		at = tm(ev.GetOccurredAt())
	}
	if at.IsZero() {
		at = now
	}
	return toOrder(orderInput{orderID: ev.GetOrderId(), customerID: ev.GetCustomerId(), channel: ev.GetChannel(),
		lines: ev.GetLines(), totals: ev.GetTotals(), orderedAt: at})
}
