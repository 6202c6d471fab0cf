package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns the kafka-go writer every producer uses. It waits for all
// in-sync replicas (no acknowledged event is lost with a leader), partitions
// by a hash of the key (per-customer order), never creates topics by accident
// (a typo must fail, not create a one-partition topic), and flushes after
// 1 ms: callers (the outbox relay, the importer, the dead-letter path) hand
// over whole batches in one synchronous WriteMessages call, whose messages
// are grouped per partition under one lock whatever the timeout, so waiting
// longer for more would only delay every call (a synchronous write always
// waits out the timeout unless BatchSize is reached). The topic comes from
// each message, so one writer serves every topic.
func NewWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		BatchSize:              500,
		BatchBytes:             16 << 20,
		BatchTimeout:           time.Millisecond,
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
	}
}

// TopicSpec describes a topic for EnsureTopics. Zero Partitions or
// ReplicationFactor leave the choice to the broker's defaults
// (num.partitions, default.replication.factor).
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are (their partition count is not changed), so it is safe to
// run at every start of the local stack. In production topics are usually
// owned by an operator (Strimzi KafkaTopic) instead.
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	return Security{}.EnsureTopics(ctx, brokers, topics...)
}

// EnsureTopics is the package's EnsureTopics over connections secured by s.
func (s Security) EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	if len(brokers) == 0 {
		return errors.New("events: ensure topics: no brokers")
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: s.Transport()}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("events: ensure topics: empty topic name")
		}
		p, rf := t.Partitions, t.ReplicationFactor
		if p <= 0 {
			p = -1
		}
		if rf <= 0 {
			rf = -1
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t.Name, NumPartitions: p, ReplicationFactor: rf})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("events: create topics: %w", err)
	}
	var errs []error
	for name, terr := range resp.Errors {
		if terr == nil || errors.Is(terr, kafka.TopicAlreadyExists) {
			continue
		}
		errs = append(errs, fmt.Errorf("events: create topic %s: %w", name, terr))
	}
	return errors.Join(errs...)
}
