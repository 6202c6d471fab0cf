package consumer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestARejectedMessageGoesToTheDeadLetterTopicWithoutFailingItsBatch(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)

	msgs := encode(t, event("", "customer-1", 1), event("", "invalid", 2), event("", "customer-2", 3))
	badID := string(msgs[1].Headers[0].Value)
	publish(t, broker.Addrs(), msgs...)

	var mu sync.Mutex
	seenBad := 0
	o := testOptions(broker.Addrs())
	o.BatchSize, o.BatchWait = 20, 200*time.Millisecond
	start(t, New(pool, o, func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		var keep []events.Message
		for _, m := range msgs {
			if m.Subject != "invalid" {
				keep = append(keep, m)
				continue
			}
			mu.Lock()
			seenBad++
			mu.Unlock()
			if err := Reject(ctx, m, errors.New("subject is not a customer")); err != nil {
				return err
			}
		}
		return recordEffects(ctx, tx, keep)
	}))

	dead := readDeadLetters(t, broker.Addrs(), 1)
	if id := dead[0].header(events.HeaderID); id != badID {
		t.Errorf("dead letter: expected event %s, got %s", badID, id)
	}
	if e := dead[0].header(HeaderDLQError); !strings.Contains(e, "subject is not a customer") {
		t.Errorf("dead letter error header: expected the handler's cause, got %q", e)
	}
	// Events published after the rejection are still processed.
	publish(t, broker.Addrs(), encode(t, event("", "customer-3", 4))...)
	eventually(t, "the later event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects WHERE seq = 4`) == 1 })

	if n := count(t, pool, `SELECT count(*) FROM effects`); n != 3 {
		t.Errorf("expected effects of the 3 good events, got %d", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM consumer_inbox WHERE event_id = $1 AND dead_letter_error LIKE '%not a customer%'`, badID); n != 1 {
		t.Errorf("expected the rejected event's inbox row to record the cause, got %d rows", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if seenBad != 1 {
		t.Errorf("expected the handler to see the rejected event once (its batch did not fail), got %d", seenBad)
	}
}

func TestARejectionInAFailedAttemptIsForgottenWithItsTransaction(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)
	publish(t, broker.Addrs(), encode(t, event("", "flaky", 1))...)

	var mu sync.Mutex
	calls := 0
	o := testOptions(broker.Addrs())
	start(t, New(pool, o, func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			// Rejected, then the attempt fails for another reason: the
			// retry decides afresh and this time keeps the message.
			if err := Reject(ctx, msgs[0], errors.New("first attempt rejects")); err != nil {
				return err
			}
			return errors.New("transient failure")
		}
		return recordEffects(ctx, tx, msgs)
	}))
	eventually(t, "the retried event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) == 1 })
	if n := count(t, pool, `SELECT count(*) FROM consumer_inbox WHERE dead_letter_error IS NOT NULL`); n != 0 {
		t.Errorf("expected no dead-letter record after the failed attempt's rejection, got %d", n)
	}
}

func TestRejectRefusesContextsAndMessagesOutsideTheBatchBeingHandled(t *testing.T) {
	t.Parallel()
	m := events.Message{ID: "x", Topic: topic}
	if err := Reject(context.Background(), m, errors.New("bad")); !errors.Is(err, ErrNotInHandler) {
		t.Errorf("outside a handler: expected ErrNotInHandler, got %v", err)
	}
	ctx := context.WithValue(context.Background(), rejectionsKey{}, newRejections([]events.Message{{ID: "y", Topic: topic}}))
	if err := Reject(ctx, m, errors.New("bad")); err == nil || errors.Is(err, ErrNotInHandler) {
		t.Errorf("a message of another batch: expected a not-in-batch error, got %v", err)
	}
}

func TestOffsetsHandledBeforeShutdownAreCommittedWhenTheRunnerStops(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)
	publish(t, broker.Addrs(), encode(t, event("", "customer-1", 1), event("", "customer-2", 2), event("", "customer-3", 3))...)

	// An interval far beyond the test: only the final commit on shutdown
	// can store the offsets.
	o := testOptions(broker.Addrs())
	o.CommitInterval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(pool, o, recordEffects).Run(ctx) }()
	eventually(t, "the 3 events to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: expected nil after cancel, got %v", err)
	}

	// A runner of the same group on an empty database (no inbox to hide
	// redeliveries) must start after the committed offsets.
	fresh := pgtest.NewDB(t, Migrations, effects)
	var mu sync.Mutex
	var seen []int64
	start(t, New(fresh, testOptions(broker.Addrs()), func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		mu.Lock()
		for _, m := range msgs {
			seen = append(seen, m.Offset)
		}
		mu.Unlock()
		return recordEffects(ctx, tx, msgs)
	}))
	publish(t, broker.Addrs(), encode(t, event("", "customer-4", 4))...)
	eventually(t, "the new event to be handled", func() bool { return count(t, fresh, `SELECT count(*) FROM effects WHERE seq = 4`) == 1 })
	if n := count(t, fresh, `SELECT count(*) FROM effects`); n != 1 {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("expected only the new event after a restart, got %d events (offsets %v): the shutdown did not commit", n, seen)
	}
}
