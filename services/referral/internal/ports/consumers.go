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
	"github.com/affinity-platform/affinity/pkg/platform"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyeventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
)

// Topics are what the referral service consumes.
var Topics = []string{topics.CommerceOrders, topics.CommerceCustomers, topics.SegmentationEvents, topics.LoyaltyEvents}

// batchSize is the most messages handled in one transaction: orders are
// converted set-wise, so larger batches mean fewer round trips per order.
const batchSize = 500

// Consumers is the service's one consumer group: commerce orders and
// customers, segment membership and loyalty tiers. One group keeps one
// customer's customer and order events in one handler's order per
// partition (all topics are keyed by customer id).
func Consumers(a *app.App) ([]platform.Consumer, error) {
	payloads := map[string]proto.Message{}
	for _, t := range Topics {
		m, err := topics.New(t)
		if err != nil {
			return nil, fmt.Errorf("payload of %s: %w", t, err)
		}
		payloads[t] = m
	}
	return []platform.Consumer{{
		Options: consumer.Options{Topics: Topics, Payloads: payloads, BatchSize: batchSize},
		Handler: Handler(a),
	}}, nil
}

// Handler applies a batch of messages in the consumer's transaction (which
// also records them in the inbox, so a redelivered message is skipped).
func Handler(a *app.App) consumer.Handler {
	return func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		return a.Within(ctx, tx, func(t *app.Tx) error {
			// Consecutive order events are handed over together: the app
			// converts them with a fixed number of statements.
			var orders []app.OrderMessage
			flush := func() error {
				if len(orders) == 0 {
					return nil
				}
				n := len(orders)
				err := a.HandleOrders(ctx, t, orders)
				orders = orders[:0]
				if err != nil {
					return fmt.Errorf("%d order events: %w", n, err)
				}
				return nil
			}
			for _, m := range msgs {
				if m.Topic == topics.CommerceOrders {
					var ev commercev1.OrderEvent
					if err := m.Decode(&ev); err != nil {
						return fmt.Errorf("%s event %s (%s/%d@%d): %w", m.Type, m.ID, m.Topic, m.Partition, m.Offset, err)
					}
					orders = append(orders, app.OrderMessage{EventID: m.ID, Event: &ev})
					continue
				}
				if err := flush(); err != nil {
					return err
				}
				if err := handle(ctx, a, t, m); err != nil {
					return fmt.Errorf("%s event %s (%s/%d@%d): %w", m.Type, m.ID, m.Topic, m.Partition, m.Offset, err)
				}
			}
			return flush()
		})
	}
}

func handle(ctx context.Context, a *app.App, t *app.Tx, m events.Message) error {
	switch m.Topic {
	case topics.CommerceCustomers:
		var ev commercev1.CustomerEvent
		if err := m.Decode(&ev); err != nil {
			return err
		}
		return a.HandleCustomer(ctx, t, m.ID, &ev)
	case topics.SegmentationEvents:
		var ev segmentationeventsv1.SegmentationEvent
		if err := m.Decode(&ev); err != nil {
			return err
		}
		return a.HandleSegmentation(ctx, t, &ev)
	case topics.LoyaltyEvents:
		var ev loyaltyeventsv1.LoyaltyEvent
		if err := m.Decode(&ev); err != nil {
			return err
		}
		return a.HandleLoyalty(ctx, t, &ev)
	}
	return nil
}

// worker pays due rewards and emits due nudges every interval. A failed run
// is logged and retried at the next tick: both steps are idempotent.
func worker(a *app.App, log *slog.Logger, every time.Duration, batch int) func(context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			now := a.Now()
			// Keep paying while runs pay something, so a day with many
			// conversions is paid off in one tick rather than a batch per tick.
			for ctx.Err() == nil {
				n, err := a.PayDue(ctx, now, batch)
				if err != nil && !errors.Is(err, context.Canceled) {
					log.ErrorContext(ctx, "pay due rewards", "err", err)
				}
				if err != nil || n == 0 {
					break
				}
			}
			if _, err := a.NudgeDue(ctx, now, batch); err != nil && !errors.Is(err, context.Canceled) {
				log.ErrorContext(ctx, "emit due nudges", "err", err)
			}
		}
	}
}
