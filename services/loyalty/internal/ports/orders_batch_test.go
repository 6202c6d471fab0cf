package ports_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/events"
)

// A batch of many orders is written with COPY (the store's bulk path); the
// orders already waiting when the consumer starts arrive in large batches.
func TestALargeOrderBatchEarnsEveryOrderOnceAndKeepsTheLedgerSum(t *testing.T) {
	t.Parallel()
	const orders, members = 300, 7
	s := startWith(t, map[string]string{"LOYALTY_ORDER_BATCH_SIZE": "1000"}, func(brokers []string) {
		w := events.NewWriter(brokers)
		defer w.Close()
		msgs := make([]kafka.Message, 0, orders+1)
		for i := range orders {
			// 10.00 EUR -> 10 points per order.
			msgs = append(msgs, orderMessage(t, order(fmt.Sprintf("big-%d", i), fmt.Sprintf("big-c%d", i%members), line("l1", "sku", 1, 1000))))
		}
		// The same order again, as a new event: it must not earn twice.
		msgs = append(msgs, orderMessage(t, order("big-0", "big-c0", line("l1", "sku", 1, 1000))))
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatalf("write orders: %v", err)
		}
	})
	s.waitFor(t, "every order earned", "SELECT count(*) = $1 FROM orders", orders)
	for c := range members {
		n := int64(0)
		for i := c; i < orders; i += members {
			n++
		}
		id := fmt.Sprintf("big-c%d", c)
		m := s.member(t, id)
		if m.GetBalance().GetAvailable() != 10*n || m.GetLifetimePoints() != 10*n {
			t.Errorf("member %s: expected %d points from %d orders, got %v (lifetime %d)", id, 10*n, n, m.GetBalance(), m.GetLifetimePoints())
		}
	}
	s.assertLedger(t)
}
