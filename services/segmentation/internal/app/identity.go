package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
)

// Anonymous history. A storefront tracks a visitor under an anonymous id
// (a device or cookie id) until they log in; the identify that follows
// names the customer and the anonymous ids they used. The interactions of
// an anonymous id that is not linked yet wait in anonymous_events; the
// identify links the id to the customer (the first link wins) and moves
// them into the customer's profile, and interactions of a linked anonymous
// id go to the customer directly. Both paths take a transaction-scoped
// advisory lock on the anonymous id, so an interaction and the identify
// consumed at the same time from different partitions cannot miss each
// other, and the rows are deleted as they are merged, so each event is
// merged exactly once whatever the order of arrival. The profile's own
// event-id deduplication makes a repeated merge a no-op as well.

// anonymousUpdates returns the profile updates that anonymous history adds
// to message m (an identify that links anonymous ids, or an interaction of
// a linked anonymous id), storing anonymous interactions that cannot be
// attributed yet. Messages that do not decode add nothing: Decode reports
// them.
func (a *App) anonymousUpdates(ctx context.Context, tx pgx.Tx, m events.Message) ([]Update, error) {
	q := sqlc.New(tx)
	switch m.Topic {
	case topics.CommerceInteractions:
		var e commercev1.InteractionEvent
		if err := m.Decode(&e); err != nil || e.GetCustomerId() != "" || e.GetAnonymousId() == "" {
			return nil, nil
		}
		anon := e.GetAnonymousId()
		u, err := attributed(anon, m.ID, m.Time, &e)
		if err != nil || u == nil {
			// Nothing a profile keeps (a custom event) or an unknown kind:
			// no profile would take it, so it is not kept.
			return nil, nil //nolint:nilerr // skipped like Decode skips it
		}
		if err := q.LockAnonymousID(ctx, anon); err != nil {
			return nil, fmt.Errorf("lock anonymous id: %w", err)
		}
		customer, err := q.AnonymousLink(ctx, anon)
		if errors.Is(err, pgx.ErrNoRows) {
			raw, err := proto.Marshal(&e)
			if err != nil {
				return nil, fmt.Errorf("encode anonymous interaction: %w", err)
			}
			if err := q.StoreAnonymousEvent(ctx, sqlc.StoreAnonymousEventParams{AnonymousID: anon, EventID: m.ID, EventTime: m.Time.UTC(), Payload: raw}); err != nil {
				return nil, fmt.Errorf("store anonymous interaction: %w", err)
			}
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read anonymous link: %w", err)
		}
		u.CustomerID = customer
		return []Update{*u}, nil
	case topics.CommerceCustomers:
		var e commercev1.CustomerEvent
		if err := m.Decode(&e); err != nil {
			return nil, nil
		}
		customer := e.GetCustomer().GetCustomerId()
		anons := slices.Clone(e.GetCustomer().GetAnonymousIds())
		if customer == "" || len(anons) == 0 {
			return nil, nil
		}
		// A fixed lock order, so two identifies naming the same ids in a
		// different order cannot deadlock.
		slices.Sort(anons)
		anons = slices.Compact(anons)
		var out []Update
		for _, anon := range anons {
			if anon == "" || anon == customer {
				continue
			}
			if err := q.LockAnonymousID(ctx, anon); err != nil {
				return nil, fmt.Errorf("lock anonymous id: %w", err)
			}
			owner, err := q.LinkAnonymousID(ctx, sqlc.LinkAnonymousIDParams{AnonymousID: anon, CustomerID: customer, LinkedAt: a.Now()})
			if err != nil {
				return nil, fmt.Errorf("link anonymous id: %w", err)
			}
			if owner != customer {
				// Identified as someone else first: that customer keeps
				// the history (a shared device's history is not split).
				a.log.InfoContext(ctx, "anonymous id already linked to another customer", "anonymous_id", anon, "customer_id", customer, "linked_to", owner)
				continue
			}
			rows, err := q.TakeAnonymousEvents(ctx, anon)
			if err != nil {
				return nil, fmt.Errorf("read anonymous interactions: %w", err)
			}
			for _, r := range rows {
				var ie commercev1.InteractionEvent
				if err := proto.Unmarshal(r.Payload, &ie); err != nil {
					a.log.WarnContext(ctx, "dropping an anonymous interaction that does not decode", "event_id", r.EventID, "err", err)
					continue
				}
				if u, err := attributed(customer, r.EventID, r.EventTime, &ie); err == nil && u != nil {
					out = append(out, *u)
				}
			}
		}
		return out, nil
	}
	return nil, nil
}

// attributed is the update an anonymous interaction makes to the profile
// of the customer it was attributed to; it keeps its event id, so merging
// it twice changes nothing.
func attributed(customer, eventID string, envelopeTime time.Time, e *commercev1.InteractionEvent) (*Update, error) {
	at := envelopeTime.UTC()
	if ts := e.GetOccurredAt(); ts.IsValid() && ts.AsTime().Unix() > 0 {
		at = ts.AsTime().UTC()
	}
	fn, err := interactionUpdate(eventID, at, e)
	if err != nil || fn == nil {
		return nil, err
	}
	return &Update{CustomerID: customer, Apply: fn}, nil
}
