package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/proto/topics"
)

// Two writers updating the same customers at the same time (two replicas,
// or the consumer and a scheduled pass) must not lose each other's facts:
// neither when the profile exists and one waits for the other's lock, nor
// when both find no profile yet.
func TestConcurrentWritersOfOneCustomerLoseNoOrders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Few customers and many orders each, so the writers keep colliding.
	const customers, ordersEach, writers = 3, 80, 4
	streams := make([][]events.Message, writers)
	for c := range customers {
		id := fmt.Sprintf("c%03d", c)
		for o := range ordersEach {
			at := t0.Add(-time.Duration(o+1) * 24 * time.Hour)
			m := msg(t, topics.CommerceOrders, fmt.Sprintf("%s-o%d", id, o), at, order(fmt.Sprintf("%s-o%d", id, o), id, at, 1000, "garden"))
			streams[o%writers] = append(streams[o%writers], m)
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One event per transaction, so the two writers interleave on
			// every customer.
			for _, m := range s {
				if err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error { return f.app.HandleMessages(ctx, tx, []events.Message{m}) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("handle: %v", err)
	}
	for c := range customers {
		id := fmt.Sprintf("c%03d", c)
		if got := f.traits(id).Traits.OrderCount; got != ordersEach {
			t.Errorf("%s has %d orders after concurrent streams, want %d", id, got, ordersEach)
		}
	}
}
