// Package kafkatest gives a test its own in-process Kafka-protocol broker on
// a free loopback port, reached with kafka-go over TCP like a real cluster.
package kafkatest

import (
	"testing"

	"github.com/affinity-platform/affinity/pkg/localkafka"
)

// NewBroker starts a broker on 127.0.0.1 with topics created (each with
// localkafka.DefaultPartitions partitions) and closes it when the test ends.
// Its state is kept in a test temporary directory, so that a test of a
// broker outage can Close and Reopen it and find its records and committed
// offsets again.
func NewBroker(t testing.TB, topics ...string) *localkafka.Broker {
	t.Helper()
	b, err := localkafka.StartOptions(localkafka.Options{
		Addr:    "127.0.0.1:0",
		Topics:  topics,
		DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}
