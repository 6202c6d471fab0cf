package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestEnsureTopicsCreatesMissingTopicsAndAcceptsExistingOnes(t *testing.T) {
	t.Parallel()
	broker := kafkatest.NewBroker(t, "existing.v1")
	ctx := t.Context()
	specs := []events.TopicSpec{
		{Name: "existing.v1", Partitions: 5, ReplicationFactor: 1},
		{Name: "fresh.v1", Partitions: 2, ReplicationFactor: 1},
		{Name: "defaults.v1"},
	}
	for range 2 { // the second run finds everything in place
		if err := events.EnsureTopics(ctx, broker.Addrs(), specs...); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(broker.Addrs()...)}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"existing.v1", "fresh.v1", "defaults.v1"}})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			t.Errorf("topic %s: expected it to exist, got %v", tp.Name, tp.Error)
		}
		got[tp.Name] = len(tp.Partitions)
	}
	if got["fresh.v1"] != 2 {
		t.Errorf("fresh.v1: expected 2 partitions, got %d", got["fresh.v1"])
	}
	if got["existing.v1"] == 5 {
		t.Errorf("existing.v1: expected its partition count left alone, got it changed to 5")
	}
	if got["defaults.v1"] < 1 {
		t.Errorf("defaults.v1: expected the broker's default partition count, got %d", got["defaults.v1"])
	}
}

func TestTheWriterRefusesUnknownTopicsAndDeliversToKnownOnes(t *testing.T) {
	t.Parallel()
	broker := kafkatest.NewBroker(t, "known.v1")
	w := events.NewWriter(broker.Addrs())
	w.MaxAttempts = 1
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	for _, tc := range []struct {
		topic   string
		wantErr bool
	}{
		{"known.v1", false},
		{"typo.v1", true},
	} {
		km, err := events.Encode(ctx, events.Event{Topic: tc.topic, Source: "test", Subject: "c-1", Payload: wrapperspb.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		err = w.WriteMessages(ctx, km)
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("write to %s: expected error %v, got %v", tc.topic, tc.wantErr, err)
		}
	}
}
