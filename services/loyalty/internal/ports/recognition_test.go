package ports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

func TestBirthdaysAnniversariesAndMilestonesPayOncePerOccasion(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_JOB_INTERVAL": "50ms", "LOYALTY_EXPIRY": "never", "LOYALTY_BIRTHDAY_POINTS": "50",
		"LOYALTY_ANNIVERSARY_POINTS": "30", "LOYALTY_ORDER_MILESTONES": "2:25"})
	now := s.clock.Now() // 1 March 2026, 12:00 UTC
	customer := func(id string, signedUp time.Time, birthday *commercev1.Date) kafka.Message {
		m, err := events.Encode(context.Background(), events.Event{Topic: topics.CommerceCustomers, Source: "shop", Subject: id,
			Payload: &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, Customer: &commercev1.Customer{
				CustomerId: id, SignedUpAt: timestamppb.New(signedUp), Birthday: birthday}}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	balance := func(id string) int64 { return s.member(t, id).GetBalance().GetAvailable() }
	// Born on 1 March, joined on 20 February 2025 (that anniversary is
	// past the week of grace); joined on 27 February 2025 (inside it).
	s.send(t, customer("c-bday", now.AddDate(-1, 0, -9), &commercev1.Date{Month: 3, Day: 1}),
		customer("c-anniv", now.AddDate(-1, 0, -2), nil))
	s.earn(t, "c-orders", "o-1", line("l1", "a", 1, 1000))
	s.earn(t, "c-orders", "o-2", line("l1", "a", 1, 1000))
	eventually(t, "the birthday, anniversary and milestone points", func() (bool, string) {
		got := fmt.Sprint(balance("c-bday"), balance("c-anniv"), balance("c-orders"))
		return got == "50 30 45", got
	})

	// Another member's birthday paid later means the job ran again in
	// between: nobody was paid twice.
	s.send(t, customer("c-later", now.AddDate(-2, 0, -20), &commercev1.Date{Month: 2, Day: 27}))
	eventually(t, "the later birthday", func() (bool, string) { return balance("c-later") == 50, fmt.Sprint(balance("c-later")) })
	if got := fmt.Sprint(balance("c-bday"), balance("c-anniv"), balance("c-orders")); got != "50 30 45" {
		t.Errorf("expected each occasion paid once (50 30 45), got %s", got)
	}

	// A year on, the birthday pays again.
	s.clock.Advance(365 * 24 * time.Hour)
	eventually(t, "next year's birthday", func() (bool, string) { return balance("c-bday") == 100, fmt.Sprint(balance("c-bday")) })
	s.assertLedger(t)
}
