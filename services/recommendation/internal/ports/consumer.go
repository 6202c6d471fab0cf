package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/platform"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyeventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// ConsumedTopics are the topics the service reads.
var ConsumedTopics = []string{topics.CommerceOrders, topics.CommerceProducts, topics.CommerceInteractions, topics.CommerceCustomers, topics.SegmentationEvents, topics.LoyaltyEvents}

// Consumer is the service's one consumer group: orders, catalog changes,
// storefront interactions, customer identities, segment membership and tier
// changes.
func Consumer(a *app.App, log *slog.Logger) platform.Consumer {
	payloads := make(map[string]proto.Message, len(ConsumedTopics))
	for _, t := range ConsumedTopics {
		m, err := topics.New(t)
		if err == nil {
			payloads[t] = m
		}
	}
	h := handler{app: a, log: log}
	return platform.Consumer{
		Options: consumer.Options{Topics: ConsumedTopics, Payloads: payloads, BatchWait: 20 * time.Millisecond},
		Handler: h.handle,
	}
}

type handler struct {
	app *app.App
	log *slog.Logger
}

// handle applies a batch in the consumer's transaction. An event whose
// content breaks a domain rule (a malformed id) is logged and skipped: it
// can never succeed, and retrying it would only hold up the partition.
func (h handler) handle(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
	for _, m := range msgs {
		err := h.apply(ctx, tx, m)
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			h.log.WarnContext(ctx, "skipping invalid event", "topic", m.Topic, "id", m.ID, "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s event %s: %w", m.Topic, m.ID, err)
		}
	}
	return nil
}

// Decode turns a message into its topic's payload.
func Decode(m events.Message) (proto.Message, error) {
	pm, err := topics.New(m.Topic)
	if err != nil {
		return nil, err
	}
	if err := m.Decode(pm); err != nil {
		return nil, fmt.Errorf("decode %s: %w", m.Topic, err)
	}
	return pm, nil
}

func (h handler) apply(ctx context.Context, tx pgx.Tx, m events.Message) error {
	pm, err := Decode(m)
	if err != nil {
		return domain.Invalid("payload", err.Error())
	}
	switch ev := pm.(type) {
	case *commercev1.OrderEvent:
		return h.order(ctx, tx, ev, m.Time)
	case *commercev1.ProductEvent:
		return h.product(ctx, tx, ev, m.Time)
	case *commercev1.InteractionEvent:
		return h.interaction(ctx, tx, ev, m.Time)
	case *commercev1.CustomerEvent:
		if ev.GetKind() == commercev1.CustomerEvent_KIND_CREATED || ev.GetKind() == commercev1.CustomerEvent_KIND_UPDATED {
			return h.app.Identify(ctx, tx, ev.GetCustomer().GetCustomerId(), ev.GetCustomer().GetAnonymousIds())
		}
	case *segmentationeventsv1.SegmentationEvent:
		if e := ev.GetSegmentEntered(); e != nil {
			return h.app.SetSegment(ctx, tx, e.GetCustomerId(), e.GetSegmentId(), true, at(e.GetOccurredAt(), m.Time))
		}
		if e := ev.GetSegmentExited(); e != nil {
			return h.app.SetSegment(ctx, tx, e.GetCustomerId(), e.GetSegmentId(), false, at(e.GetOccurredAt(), m.Time))
		}
	case *loyaltyeventsv1.LoyaltyEvent:
		if e := ev.GetTierChanged(); e != nil {
			return h.app.SetTier(ctx, tx, e.GetCustomerId(), e.GetTierId(), at(e.GetOccurredAt(), m.Time))
		}
	}
	return nil
}

// OrderFromEvent converts a completed order event.
func OrderFromEvent(ev *commercev1.OrderEvent, fallback time.Time) app.Order {
	o := app.Order{ID: ev.GetOrderId(), CustomerID: ev.GetCustomerId(), At: at(ev.GetOrderedAt(), at(ev.GetOccurredAt(), fallback))}
	for _, l := range ev.GetLines() {
		id := l.GetProductId()
		if id == "" {
			id = l.GetSku()
		}
		o.Lines = append(o.Lines, app.OrderLine{LineID: l.GetLineId(), SKU: l.GetSku(), ProductID: id, Quantity: int(l.GetQuantity())})
	}
	return o
}

func (h handler) order(ctx context.Context, tx pgx.Tx, ev *commercev1.OrderEvent, t time.Time) error {
	switch ev.GetKind() {
	case commercev1.OrderEvent_KIND_COMPLETED:
		return h.app.IngestOrder(ctx, tx, OrderFromEvent(ev, t))
	case commercev1.OrderEvent_KIND_REFUNDED, commercev1.OrderEvent_KIND_CANCELLED:
		r := app.Refund{OrderID: ev.GetOrderId(), CustomerID: ev.GetCustomerId(), At: at(ev.GetOccurredAt(), t),
			Cancel: ev.GetKind() == commercev1.OrderEvent_KIND_CANCELLED}
		for _, l := range ev.GetRefundedLines() {
			r.Lines = append(r.Lines, app.RefundedLine{LineID: l.GetLineId(), SKU: l.GetSku(), Quantity: int(l.GetQuantity())})
		}
		return h.app.IngestRefund(ctx, tx, r)
	}
	return nil
}

func (h handler) product(ctx context.Context, tx pgx.Tx, ev *commercev1.ProductEvent, t time.Time) error {
	p := productFromProto(ev.GetProduct(), at(ev.GetOccurredAt(), t))
	if ev.GetKind() == commercev1.ProductEvent_KIND_DELETED {
		// Kept as discontinued rather than deleted, so models that still
		// name it never recommend it and its history stays explainable.
		p.Stock = catalog.Discontinued
	}
	_, _, err := h.app.UpsertProducts(ctx, tx, p)
	return err
}

var interactionKinds = map[commercev1.InteractionEvent_Kind]interaction.Kind{
	commercev1.InteractionEvent_KIND_VIEW:             interaction.View,
	commercev1.InteractionEvent_KIND_ADD_TO_CART:      interaction.AddToCart,
	commercev1.InteractionEvent_KIND_REMOVE_FROM_CART: interaction.RemoveFromCart,
	commercev1.InteractionEvent_KIND_SEARCH_CLICK:     interaction.SearchClick,
}

func (h handler) interaction(ctx context.Context, tx pgx.Tx, ev *commercev1.InteractionEvent, t time.Time) error {
	k, ok := interactionKinds[ev.GetKind()]
	if !ok || (ev.GetProductId() == "" && ev.GetSku() == "") {
		return nil // surveys and custom events say nothing about products
	}
	key := ev.GetCustomerId()
	if key == "" {
		if ev.GetAnonymousId() == "" {
			return nil
		}
		key = app.AnonymousKey(ev.GetAnonymousId())
	}
	id := ev.GetProductId()
	if id == "" {
		id = ev.GetSku()
	}
	return h.app.RecordInteractions(ctx, tx, interaction.Event{
		CustomerID: key, ProductID: id, Kind: k, Quantity: int(max(ev.GetQuantity(), 1)), At: at(ev.GetOccurredAt(), t), OrderID: ev.GetCartId(),
	})
}

// at is the event's own time, or the envelope's when the payload has none.
func at(ts *timestamppb.Timestamp, fallback time.Time) time.Time {
	if ts != nil && ts.IsValid() && ts.AsTime().Unix() > 0 {
		return ts.AsTime()
	}
	if fallback.IsZero() {
		return time.Now()
	}
	return fallback
}
