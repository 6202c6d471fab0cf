package localkafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/localkafka"
)

// testTimeout bounds every wait on the broker; reaching it is a failure, not
// a timing assertion.
const testTimeout = 60 * time.Second

func startBroker(t *testing.T, o localkafka.Options) *localkafka.Broker {
	t.Helper()
	b, err := localkafka.StartOptions(o)
	if err != nil {
		t.Fatalf("StartOptions: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func newWriter(t *testing.T, b *localkafka.Broker, topic string) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Addrs()...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		// Tests against a broker that is briefly down need the writer to
		// keep trying for a while.
		MaxAttempts:     20,
		WriteBackoffMin: 10 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		Transport:       &kafka.Transport{},
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func newGroupReader(b *localkafka.Broker, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           b.Addrs(),
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: time.Second,
		SessionTimeout:    6 * time.Second, // kfake's minimum
		CommitInterval:    0,               // commit synchronously in CommitMessages
		JoinGroupBackoff:  100 * time.Millisecond,
	})
}

func messages(n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "customer-%d", i%7), Value: fmt.Appendf(nil, "event-%03d", i)}
	}
	return msgs
}

// fetch reads n messages from r and returns their values.
func fetch(ctx context.Context, t *testing.T, r *kafka.Reader, n int, commit bool) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %d of %d messages: %v", len(got), n, err)
		}
		got = append(got, string(m.Value))
		if commit {
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatalf("CommitMessages: %v", err)
			}
		}
	}
	return got
}

func values(msgs []kafka.Message) []string {
	var v []string
	for _, m := range msgs {
		v = append(v, string(m.Value))
	}
	return v
}

func TestKafkaGoConsumerGroupResumesAfterTheCommittedOffsets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const topic = "commerce.orders.v1"
	b := startBroker(t, localkafka.Options{Addr: "127.0.0.1:0", Topics: []string{topic}})

	sent := messages(30)
	if err := newWriter(t, b, topic).WriteMessages(ctx, sent...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}

	first := newGroupReader(b, topic, "loyalty")
	committed := fetch(ctx, t, first, 10, true)
	if err := first.Close(); err != nil {
		t.Fatalf("close first reader: %v", err)
	}

	// The second member of the group must get exactly what the first did
	// not commit: anything committed coming again would be a duplicate,
	// anything missing would be a loss.
	second := newGroupReader(b, topic, "loyalty")
	defer second.Close()
	rest := fetch(ctx, t, second, len(sent)-len(committed), true)

	want := values(sent)
	got := append(slices.Clone(committed), rest...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("values consumed by both readers: expected each of %v once, got %v", want, got)
	}
}

func TestTopicsAreCreatedOnlyOnRequest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b := startBroker(t, localkafka.Options{Addr: "127.0.0.1:0", Topics: []string{"seeded"}})
	if err := b.CreateTopics(ctx, 5, "created"); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if err := b.CreateTopics(ctx, 5, "created"); err != nil {
		t.Fatalf("CreateTopics of an existing topic: expected nil, got %v", err)
	}
	client := &kafka.Client{Addr: kafka.TCP(b.Addrs()...), Transport: &kafka.Transport{}}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"seeded", "created", "unknown"}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	tests := []struct {
		topic      string
		partitions int
		err        error
	}{
		{"seeded", localkafka.DefaultPartitions, nil},
		{"created", 5, nil},
		{"unknown", 0, kafka.UnknownTopicOrPartition},
	}
	for _, tt := range tests {
		i := slices.IndexFunc(meta.Topics, func(tp kafka.Topic) bool { return tp.Name == tt.topic })
		if i < 0 {
			t.Errorf("topic %s: missing from metadata", tt.topic)
			continue
		}
		tp := meta.Topics[i]
		if !errors.Is(tp.Error, tt.err) {
			t.Errorf("topic %s: expected error %v, got %v", tt.topic, tt.err, tp.Error)
		}
		if len(tp.Partitions) != tt.partitions {
			t.Errorf("topic %s: expected %d partitions, got %d", tt.topic, tt.partitions, len(tp.Partitions))
		}
	}
}

func TestReopenOnTheSameAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		dataDir     bool
		wantOld     int // messages from before the outage still readable
		wantOffsets bool
	}{
		{name: "keeps records and offsets with a data directory", dataDir: true, wantOld: 10, wantOffsets: true},
		{name: "comes back empty but with its topics in memory", dataDir: false, wantOld: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			const topic = "loyalty.events.v1"
			o := localkafka.Options{Addr: "127.0.0.1:0", Topics: []string{topic}}
			if tt.dataDir {
				o.DataDir = t.TempDir()
			}
			b := startBroker(t, o)
			addr := b.Addrs()[0]
			w := newWriter(t, b, topic)
			before := messages(10)
			if err := w.WriteMessages(ctx, before...); err != nil {
				t.Fatalf("WriteMessages before the outage: %v", err)
			}
			r := newGroupReader(b, topic, "segmentation")
			fetch(ctx, t, r, 4, true)
			if err := r.Close(); err != nil {
				t.Fatalf("close reader: %v", err)
			}

			b.Close()
			if err := b.Reopen(); err != nil {
				t.Fatalf("Reopen: %v", err)
			}
			if got := b.Addrs()[0]; got != addr {
				t.Fatalf("address after Reopen: expected %s, got %s", addr, got)
			}

			// The writer used before the outage must reconnect by itself.
			after := []kafka.Message{{Key: []byte("customer-1"), Value: []byte("after-outage")}}
			if err := w.WriteMessages(ctx, after...); err != nil {
				t.Fatalf("WriteMessages after Reopen: %v", err)
			}
			r2 := newGroupReader(b, topic, "segmentation")
			defer r2.Close()
			want := 1 + tt.wantOld
			if tt.wantOffsets {
				want -= 4
			}
			got := fetch(ctx, t, r2, want, true)
			if !slices.Contains(got, "after-outage") {
				t.Errorf("messages after Reopen: expected the new message among %v", got)
			}
			if tt.wantOffsets {
				slices.Sort(got)
				wantVals := append(values(before), "after-outage")
				slices.Sort(wantVals)
				// Committed offsets survive: the group sees only the
				// 6 uncommitted old messages and the new one.
				for _, v := range got {
					if !slices.Contains(wantVals, v) {
						t.Errorf("unexpected message %q", v)
					}
				}
				if len(got) != 7 {
					t.Errorf("messages for the group after Reopen: expected 7, got %d: %v", len(got), got)
				}
			}
		})
	}
}

func TestStartFailsOnAnAddressInUse(t *testing.T) {
	t.Parallel()
	b, err := localkafka.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer b.Close()
	if b2, err := localkafka.Start(b.Addrs()[0]); err == nil {
		b2.Close()
		t.Errorf("Start on %s in use: expected an error, got nil", b.Addrs()[0])
	}
}
