package ports_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

func eur(minor int64) *commercev1.Money {
	return &commercev1.Money{AmountMinor: minor, Currency: "EUR"}
}

// order is a completed order of lines (sku, quantity, unit price in cents).
func order(id, customerID string, lines ...*commercev1.OrderLine) *commercev1.OrderEvent {
	var total int64
	for _, l := range lines {
		total += l.GetQuantity() * l.GetUnitPrice().GetAmountMinor()
	}
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: id, CustomerId: customerID,
		Channel: commercev1.Channel_CHANNEL_WEB, Lines: lines, Totals: &commercev1.OrderTotals{Total: eur(total)},
		OrderedAt: timestamppb.New(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))}
}

func line(id, sku string, qty, unit int64) *commercev1.OrderLine {
	return &commercev1.OrderLine{LineId: id, Sku: sku, Quantity: qty, UnitPrice: eur(unit), CategoryPath: []string{"home"}}
}

// send publishes messages to Kafka as an order system would.
func (s *stack) send(t testing.TB, msgs ...kafka.Message) {
	t.Helper()
	w := events.NewWriter(s.brokers)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write to kafka: %v", err)
	}
}

func orderMessage(t testing.TB, ev *commercev1.OrderEvent) kafka.Message {
	t.Helper()
	m, err := events.Encode(context.Background(), events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: ev.GetCustomerId(), Payload: ev})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitForOrder waits until the order's earn (or refund) is visible.
func (s *stack) waitFor(t testing.TB, what, query string, args ...any) {
	t.Helper()
	eventually(t, what, func() (bool, string) {
		var ok bool
		if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&ok); err != nil {
			return false, err.Error()
		}
		return ok, "not yet"
	})
}

func TestAnOrderEventDeliveredTwiceEarnsOnceAndAnnouncesItOnce(t *testing.T) {
	t.Parallel()
	// Two members of the consumer group share the partitions.
	s := start(t, map[string]string{"LOYALTY_CONSUMERS": "2"})
	first := orderMessage(t, order("o-1", "c-dup", line("l1", "sku-1", 2, 2500))) // 50.00 EUR -> 50 points
	again := orderMessage(t, order("o-1", "c-dup", line("l1", "sku-1", 2, 2500))) // same order, new event id
	sentinel := orderMessage(t, order("o-2", "c-dup", line("l1", "sku-2", 1, 1000)))
	s.send(t, first, first, again, sentinel)
	s.waitFor(t, "the sentinel order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-2')")
	m := s.member(t, "c-dup")
	if m.GetBalance().GetAvailable() != 60 || m.GetLifetimePoints() != 60 {
		t.Errorf("expected 50 + 10 points earned once each, got %v (lifetime %d)", m.GetBalance(), m.GetLifetimePoints())
	}
	s.assertLedger(t)

	// The earns went out through the outbox, one PointsEarned per order.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: topics.LoyaltyEvents, GroupID: "test-reader", MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	earned := map[string]int64{}
	for len(earned) < 2 {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("expected two PointsEarned events, got %v before: %v", earned, err)
		}
		msg, err := events.Parse(km)
		if err != nil {
			t.Fatal(err)
		}
		var le eventsv1.LoyaltyEvent
		if err := msg.Decode(&le); err != nil {
			t.Fatal(err)
		}
		if pe := le.GetPointsEarned(); pe != nil {
			if _, dup := earned[pe.GetReferenceId()]; dup {
				t.Errorf("expected one PointsEarned for %s, got another", pe.GetReferenceId())
			}
			earned[pe.GetReferenceId()] = pe.GetPoints()
			if msg.Subject != "c-dup" || string(km.Key) != "c-dup" {
				t.Errorf("expected the event keyed by the customer, got subject %q key %q", msg.Subject, km.Key)
			}
		}
	}
	if earned["o-1"] != 50 || earned["o-2"] != 10 {
		t.Errorf("expected PointsEarned of 50 for o-1 and 10 for o-2, got %v", earned)
	}
}

func TestAPartialRefundAfterAPartialSpendClawsBackByTheDebtPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy        string
		wantAvailable int64 // after the refund of line l1
		wantAfterEarn int64 // after a later 80-point earn
	}{
		// 200 earned, 150 spent, line l1 (100 points) refunded: 50 come
		// from the order's lot, 50 are missing.
		{"allow_negative", -50, 30},
		{"cap_at_zero", 0, 30},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			t.Parallel()
			s := start(t, map[string]string{"LOYALTY_DEBT_POLICY": c.policy})
			s.send(t, orderMessage(t, order("o-r", "c-ref", line("l1", "a", 2, 5000), line("l2", "b", 1, 10000))))
			s.waitFor(t, "the order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-r')")
			if b := s.member(t, "c-ref").GetBalance().GetAvailable(); b != 200 {
				t.Fatalf("expected the order to earn 200, got %d", b)
			}
			if _, err := s.client.Redeem(customer(t, "c-ref"), &loyaltyv1.RedeemRequest{CustomerId: "c-ref", IdempotencyKey: key(),
				Target: &loyaltyv1.RedeemRequest_Points{Points: 150}}); err != nil {
				t.Fatalf("spend: %v", err)
			}
			refund := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: "o-r", CustomerId: "c-ref", RefundId: "rf-1",
				RefundedLines: []*commercev1.RefundedLine{{LineId: "l1", Quantity: 2, Amount: eur(10000)}}}
			s.send(t, orderMessage(t, refund), orderMessage(t, refund)) // delivered twice, applied once
			s.waitFor(t, "the refund applied", "SELECT 'rf-1' = ANY(refund_ids) FROM orders WHERE order_id = 'o-r'")
			m := s.member(t, "c-ref")
			if m.GetBalance().GetAvailable() != c.wantAvailable {
				t.Errorf("expected %d available after the refund, got %d", c.wantAvailable, m.GetBalance().GetAvailable())
			}
			var clawed int64
			if err := s.pool.QueryRow(context.Background(), "SELECT -sum(points) FROM entries WHERE member_id = 'c-ref' AND type = 'refund_clawback' AND order_id = 'o-r'").Scan(&clawed); err != nil {
				t.Fatal(err)
			}
			wantClawed := map[string]int64{"allow_negative": 100, "cap_at_zero": 50}[c.policy]
			if clawed != wantClawed {
				t.Errorf("expected the refund entry to take %d points, got %d", wantClawed, clawed)
			}
			// The debt is paid from the next points earned.
			s.send(t, orderMessage(t, order("o-next", "c-ref", line("l1", "c", 1, 8000))))
			s.waitFor(t, "the next order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-next')")
			if b := s.member(t, "c-ref").GetBalance().GetAvailable(); b != c.wantAfterEarn {
				t.Errorf("expected %d available after paying the debt from 80 new points, got %d", c.wantAfterEarn, b)
			}
			s.assertLedger(t)
		})
	}
}

func TestACancellationInsideTheReturnWindowRemovesPendingPointsOnly(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_RETURN_WINDOW": "720h"})
	s.credit(t, "c-pend", 30)
	s.send(t, orderMessage(t, order("o-p", "c-pend", line("l1", "a", 1, 4000))))
	s.waitFor(t, "the order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-p')")
	b := s.member(t, "c-pend").GetBalance()
	if b.GetAvailable() != 30 || b.GetPending() != 40 {
		t.Fatalf("expected 30 available and 40 pending, got %v", b)
	}
	s.send(t, orderMessage(t, &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: "o-p", CustomerId: "c-pend"}))
	s.waitFor(t, "the cancellation applied", "SELECT cancelled FROM orders WHERE order_id = 'o-p'")
	b = s.member(t, "c-pend").GetBalance()
	if b.GetAvailable() != 30 || b.GetPending() != 0 {
		t.Errorf("expected the cancellation to remove the 40 pending points and leave 30 available, got %v", b)
	}
	s.assertLedger(t)
}
