package topics_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/proto/topics"
)

func TestEveryTopicCarriesItsAgreedMessageType(t *testing.T) {
	t.Parallel()
	// The agreed topic table (docs/architecture.md); written out here, not
	// derived from the package, so a change to either side fails the test.
	want := map[string]string{
		"commerce.orders.v1":       "commerce.v1.OrderEvent",
		"commerce.customers.v1":    "commerce.v1.CustomerEvent",
		"commerce.interactions.v1": "commerce.v1.InteractionEvent",
		"commerce.products.v1":     "commerce.v1.ProductEvent",
		"loyalty.events.v1":        "loyalty.events.v1.LoyaltyEvent",
		"referral.events.v1":       "referral.events.v1.ReferralEvent",
		"segmentation.events.v1":   "segmentation.events.v1.SegmentationEvent",
		"recommendation.events.v1": "recommendation.events.v1.RecommendationEvent",
	}
	for topic, wantName := range want {
		t.Run(topic, func(t *testing.T) {
			t.Parallel()
			got, err := topics.MessageName(topic)
			if err != nil {
				t.Fatalf("MessageName(%q): expected %q, got error %v", topic, wantName, err)
			}
			if got != wantName {
				t.Errorf("MessageName(%q): expected %q, got %q", topic, wantName, got)
			}
			m, err := topics.New(topic)
			if err != nil {
				t.Fatalf("New(%q): expected a message, got error %v", topic, err)
			}
			if !proto.Equal(m, m.ProtoReflect().Type().New().Interface()) {
				t.Errorf("New(%q): expected an empty message, got %v", topic, m)
			}
		})
	}
	got := topics.All()
	wantTopics := make([]string, 0, len(want))
	for topic := range want {
		wantTopics = append(wantTopics, topic)
	}
	slices.Sort(wantTopics)
	if !slices.Equal(got, wantTopics) {
		t.Errorf("All(): expected %v, got %v", wantTopics, got)
	}
}

func TestNewReturnsAFreshMessageOnEveryCall(t *testing.T) {
	t.Parallel()
	a, err := topics.New(topics.CommerceOrders)
	if err != nil {
		t.Fatalf("New: expected a message, got error %v", err)
	}
	b, err := topics.New(topics.CommerceOrders)
	if err != nil {
		t.Fatalf("New: expected a message, got error %v", err)
	}
	if a == b {
		t.Errorf("New: expected two distinct messages, got the same pointer %p twice", a)
	}
}

func TestAnUnknownTopicIsAnError(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{"", "commerce.orders", "commerce.orders.v2", "COMMERCE.ORDERS.V1"} {
		if m, err := topics.New(topic); err == nil {
			t.Errorf("New(%q): expected an error, got message %T", topic, m)
		}
		if name, err := topics.MessageName(topic); err == nil {
			t.Errorf("MessageName(%q): expected an error, got %q", topic, name)
		}
	}
}
