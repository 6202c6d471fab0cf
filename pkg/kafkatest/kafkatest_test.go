package kafkatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/kafkatest"
)

func TestNewBrokerServesItsTopicsOverTCP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := kafkatest.NewBroker(t, "referral.events.v1")

	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "referral.events.v1", Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("c1"), Value: []byte("hello")}); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), GroupID: "g", Topic: "referral.events.v1", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if string(m.Key) != "c1" || string(m.Value) != "hello" {
		t.Errorf("message: expected c1=hello, got %s=%s", m.Key, m.Value)
	}
}
