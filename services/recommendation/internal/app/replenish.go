package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	recommendationeventsv1 "github.com/affinity-platform/affinity/proto/recommendation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/replenish"
)

// replenishPage is how many customers one scan transaction covers.
const replenishPage = 200

// ScanReplenishment finds every customer due to run out of a consumable they
// buy regularly and announces each due occurrence once on
// recommendation.events.v1 (ReplenishmentDue), for a reminder e-mail. The
// sent-marker and the event commit together, so replicas scanning at the
// same time, or a scan retried after a crash, never announce twice. It
// returns how many events it added.
func (a *App) ScanReplenishment(ctx context.Context) (int, error) {
	cfg := a.engine.Config().Replenish
	now := a.Now()
	sent := 0
	after := ""
	for {
		var custs []string
		err := a.Tx(ctx, func(tx pgx.Tx) error {
			s := store.New(tx)
			var err error
			custs, err = s.ConsumableBuyers(ctx, after, replenishPage)
			if err != nil {
				return err
			}
			n := 0
			for _, c := range custs {
				k, err := a.announceDue(ctx, tx, s, c, cfg, now)
				if err != nil {
					return err
				}
				n += k
			}
			sent += n
			return nil
		})
		if err != nil {
			return sent, fmt.Errorf("replenishment scan after %q: %w", after, err)
		}
		if len(custs) < replenishPage {
			return sent, nil
		}
		after = custs[len(custs)-1]
	}
}

func (a *App) announceDue(ctx context.Context, tx pgx.Tx, s *store.Store, customerID string, cfg replenish.Config, now time.Time) (int, error) {
	evs, err := s.RecentInteractions(ctx, customerID, 1000)
	if err != nil {
		return 0, err
	}
	var ps []replenish.Purchase
	for _, e := range evs {
		if e.Kind == interaction.Purchase {
			ps = append(ps, replenish.Purchase{ProductID: e.ProductID, At: e.At, Quantity: e.Quantity})
		}
	}
	n := 0
	for _, d := range replenish.DueItems(ps, now, cfg, nil) {
		if p, ok := a.catalog.Get(d.ProductID); !ok || p.Kind != catalog.Consumable || !p.Stock.Available() {
			continue
		}
		fresh, err := s.MarkReplenishmentSent(ctx, customerID+"/"+d.Key(), customerID, now)
		if err != nil {
			return n, err
		}
		if !fresh {
			continue
		}
		err = outbox.Add(ctx, tx, events.Event{
			Topic: topics.RecommendationEvents, Source: Source, Subject: customerID, Key: customerID,
			Payload: &recommendationeventsv1.RecommendationEvent{Event: &recommendationeventsv1.RecommendationEvent_ReplenishmentDue{
				ReplenishmentDue: &recommendationeventsv1.ReplenishmentDue{
					CustomerId: customerID, ProductId: d.ProductID, LastPurchasedAt: timestamppb.New(d.LastPurchase),
					IntervalDays: d.Interval.Hours() / 24, DueAt: timestamppb.New(d.DueAt), OccurredAt: timestamppb.New(now),
				},
			}},
		})
		if err != nil {
			return n, fmt.Errorf("announce replenishment: %w", err)
		}
		n++
	}
	return n, nil
}

// RunReplenishment scans every ReplenishInterval until ctx ends (a zero
// interval switches it off).
func (a *App) RunReplenishment(ctx context.Context) error {
	if a.cfg.ReplenishInterval <= 0 {
		return nil
	}
	t := time.NewTicker(a.cfg.ReplenishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n, err := a.ScanReplenishment(ctx)
			if err != nil && ctx.Err() == nil {
				a.log.Warn("replenishment scan", "err", err)
			} else if n > 0 {
				a.log.Info("replenishment reminders announced", "count", n)
			}
		}
	}
}
