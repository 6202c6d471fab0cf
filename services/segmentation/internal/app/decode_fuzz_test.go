package app_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyev "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
)

// FuzzDecodeAndApply feeds arbitrary payloads on every consumed topic: the
// decoder must either reject them with ErrInvalidEvent or produce updates
// that a profile applies or refuses with a ValidationError, never panic,
// and applying an update twice must not change the profile's traits.
func FuzzDecodeAndApply(f *testing.F) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seeds := []struct {
		topic int
		msg   proto.Message
	}{
		{0, order("o1", "c1", at, 1000, "garden")},
		{0, refund("r1", "o1", "c1", at, 500)},
		{1, &commercev1.CustomerEvent{Customer: &commercev1.Customer{CustomerId: "c1", Country: "DE", Birthday: &commercev1.Date{Month: 2, Day: 29}}}},
		{2, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_ADD_TO_CART, CustomerId: "c1", Sku: "s", Quantity: 2}},
		{2, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_SURVEY_ANSWER, CustomerId: "c1", Survey: &commercev1.SurveyAnswer{Kind: commercev1.SurveyAnswer_KIND_CSAT, Score: 9}}},
		{3, &loyev.LoyaltyEvent{Event: &loyev.LoyaltyEvent_TierChanged{TierChanged: &loyev.TierChanged{CustomerId: "c1", TierId: "gold", OccurredAt: timestamppb.New(at)}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(s.topic), b)
	}
	f.Add(uint8(1), []byte{0xff, 0x01})
	cfg := profile.DefaultConfig("EUR")
	f.Fuzz(func(t *testing.T, topic uint8, value []byte) {
		m := events.Message{ID: "e1", Topic: app.Topics[int(topic)%len(app.Topics)], Time: at, ContentType: events.ContentTypeProtobuf, Value: value}
		ups, err := app.Decode(m)
		if err != nil {
			if !errors.Is(err, app.ErrInvalidEvent) {
				t.Fatalf("decode error %v is not ErrInvalidEvent", err)
			}
			return
		}
		for _, u := range ups {
			if u.CustomerID == "" {
				t.Fatal("an update without a customer id")
			}
			p := profile.New(u.CustomerID)
			if err := u.Apply(p); err != nil {
				var ve *profile.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("apply error %v is not a ValidationError", err)
				}
				continue
			}
			once := profile.ComputeTraits(p, at, cfg, nil)
			if err := u.Apply(p); err != nil {
				t.Fatalf("applying a second time failed: %v", err)
			}
			twice := profile.ComputeTraits(p, at, cfg, nil)
			if once.OrderCount != twice.OrderCount || once.TotalSpend != twice.TotalSpend || once.Tier != twice.Tier {
				t.Errorf("applying twice changed traits: %+v then %+v", once, twice)
			}
		}
	})
}
