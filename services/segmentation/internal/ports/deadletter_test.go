package ports_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/ports"
)

func TestInvalidEventsGoToTheDeadLetterTopicAndLaterEventsAreStillApplied(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := as(context.Background(), t, "marketer", auth.RoleMarketer)
	if _, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "dlq",
		Segment: &segmentationv1.Segment{SegmentId: "buyers", Name: "Buyers", Rule: `order_count >= 1`}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// A customer event without a customer id, and an order of no kind:
	// both decode, neither can ever be applied.
	s.publish(topics.CommerceCustomers, events.Event{ID: "0193d1a0-0000-7000-8000-00000000dd01", Subject: "x", Key: "x",
		Payload: &commercev1.CustomerEvent{Customer: &commercev1.Customer{Country: "DE"}}})
	bad := completed("o-bad", "c-bad", 1000, now)
	bad.Kind = commercev1.OrderEvent_KIND_UNSPECIFIED
	s.publish(topics.CommerceOrders, events.Event{ID: "0193d1a0-0000-7000-8000-00000000dd02", Subject: "c-bad", Key: "c-bad", Payload: bad})
	s.publish(topics.CommerceOrders, events.Event{Subject: "c-good", Key: "c-good", Payload: completed("o-good", "c-good", 1000, now)})

	got := s.segmentationEvents(1)
	if e := got[0].GetSegmentEntered(); e == nil || e.GetCustomerId() != "c-good" {
		t.Errorf("expected c-good to enter buyers after the invalid events, got %v", got[0])
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: ports.Name + ".dlq", GroupID: "dlq-test", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]string{
		"0193d1a0-0000-7000-8000-00000000dd01": "customer_id is required",
		"0193d1a0-0000-7000-8000-00000000dd02": "kind",
	}
	for len(want) > 0 {
		km, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatalf("read dead letters (still missing %v): %v", want, err)
		}
		var id, cause string
		for _, h := range km.Headers {
			switch h.Key {
			case events.HeaderID:
				id = string(h.Value)
			case consumer.HeaderDLQError:
				cause = string(h.Value)
			}
		}
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected dead letter %s (%s)", id, cause)
			continue
		}
		if !strings.Contains(cause, w) {
			t.Errorf("dead letter %s: expected a cause naming %q, got %q", id, w, cause)
		}
		delete(want, id)
	}
	v, err := s.client.GetCustomerProfile(as(context.Background(), t, "svc", auth.RoleService), &segmentationv1.GetCustomerProfileRequest{CustomerId: "c-bad"})
	if err == nil && v.GetProfile().GetTraits().GetOrderCount() != 0 {
		t.Errorf("the invalid order changed c-bad's profile: %v", v)
	}
}
