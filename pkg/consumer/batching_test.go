package consumer

import (
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/pgtest"
)

func TestALoneMessageIsHandledWithoutWaitingOutBatchWait(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)

	// BatchWait far beyond the test's patience: only BatchGap (the
	// default 1 ms) can end the batch of a single message in time.
	o := testOptions(broker.Addrs())
	o.BatchWait, o.BatchSize = time.Hour, 100
	start(t, New(pool, o, recordEffects))
	publish(t, broker.Addrs(), encode(t, event("", "customer-1", 1))...)
	eventually(t, "the lone event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) == 1 })
}
