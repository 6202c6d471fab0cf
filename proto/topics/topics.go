// Package topics names the platform's Kafka topics and the one protobuf
// message type each carries, so that producers, consumers and tools agree on
// both without repeating them, and generic consumers (dead-letter
// inspection, replay, JSON bridges) can decode any topic's payload.
package topics

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyeventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	recommendationeventsv1 "github.com/affinity-platform/affinity/proto/recommendation/events/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
)

// Topic names. Every topic is keyed by customer id, except CommerceProducts,
// which is keyed by product id, so that one customer's (or product's) events
// stay in order on one partition.
const (
	// CommerceOrders carries commerce.v1.OrderEvent: orders completed, refunded and cancelled.
	CommerceOrders = "commerce.orders.v1"
	// CommerceCustomers carries commerce.v1.CustomerEvent: customer identity and attributes.
	CommerceCustomers = "commerce.customers.v1"
	// CommerceInteractions carries commerce.v1.InteractionEvent: views, cart changes, searches, surveys, custom events.
	CommerceInteractions = "commerce.interactions.v1"
	// CommerceProducts carries commerce.v1.ProductEvent: catalog changes (keyed by product id).
	CommerceProducts = "commerce.products.v1"
	// LoyaltyEvents carries loyalty.events.v1.LoyaltyEvent: points and tier changes.
	LoyaltyEvents = "loyalty.events.v1"
	// ReferralEvents carries referral.events.v1.ReferralEvent: attributions, conversions, rewards, rejections, nudges.
	ReferralEvents = "referral.events.v1"
	// SegmentationEvents carries segmentation.events.v1.SegmentationEvent: segment entries and exits, abandoned carts.
	SegmentationEvents = "segmentation.events.v1"
	// RecommendationEvents carries recommendation.events.v1.RecommendationEvent: serves, clicks, replenishment reminders.
	RecommendationEvents = "recommendation.events.v1"
)

// messages maps each topic to a constructor of its payload type. It is the
// single source of truth for All, New and MessageName.
var messages = map[string]func() proto.Message{
	CommerceOrders:       func() proto.Message { return &commercev1.OrderEvent{} },
	CommerceCustomers:    func() proto.Message { return &commercev1.CustomerEvent{} },
	CommerceInteractions: func() proto.Message { return &commercev1.InteractionEvent{} },
	CommerceProducts:     func() proto.Message { return &commercev1.ProductEvent{} },
	LoyaltyEvents:        func() proto.Message { return &loyaltyeventsv1.LoyaltyEvent{} },
	ReferralEvents:       func() proto.Message { return &referraleventsv1.ReferralEvent{} },
	SegmentationEvents:   func() proto.Message { return &segmentationeventsv1.SegmentationEvent{} },
	RecommendationEvents: func() proto.Message { return &recommendationeventsv1.RecommendationEvent{} },
}

// All returns every topic name, sorted, for topic bootstrap.
func All() []string {
	names := make([]string, 0, len(messages))
	for name := range messages {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// New returns a new, empty message of the type topic carries, ready to
// unmarshal a payload into.
func New(topic string) (proto.Message, error) {
	newMsg, ok := messages[topic]
	if !ok {
		return nil, fmt.Errorf("topics: unknown topic %q", topic)
	}
	return newMsg(), nil
}

// MessageName returns the full protobuf name of the message type topic
// carries (e.g. "commerce.v1.OrderEvent"), the event type consumers expect.
func MessageName(topic string) (string, error) {
	m, err := New(topic)
	if err != nil {
		return "", err
	}
	return string(m.ProtoReflect().Descriptor().FullName()), nil
}
