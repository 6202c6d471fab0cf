package ports_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkEventToSegmentEnteredLatency runs the whole service on the
// in-process broker, publishes orders of new customers at a steady rate
// (SEGMENTATION_BENCH_RATE per second, default 200, for
// SEGMENTATION_BENCH_SECONDS, default 10) and measures, for each, the time
// from publishing the order to reading its SegmentEntered: consumer, profile
// update, segment evaluation, outbox, relay and broker, end to end.
func BenchmarkEventToSegmentEnteredLatency(b *testing.B) {
	rate, seconds := envInt("SEGMENTATION_BENCH_RATE", 200), envInt("SEGMENTATION_BENCH_SECONDS", 10)
	s := startService(b)
	ctx := as(context.Background(), b, "bench", auth.RoleMarketer)
	if _, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "bench",
		Segment: &segmentationv1.Segment{SegmentId: "buyers", Name: "Buyers", Rule: `order_count >= 1 && total_spend > 0`}}); err != nil {
		b.Fatal(err)
	}
	var latencies []time.Duration
	for b.Loop() {
		latencies = append(latencies, runLoad(b, s, rate, seconds)...)
	}
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.90), "p90-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(rate), "events/s")
}

var runs int

func runLoad(b *testing.B, s *stack, rate, seconds int) []time.Duration {
	runs++
	n := rate * seconds
	sent := make([]time.Time, n)
	var mu sync.Mutex
	got := make([]time.Duration, 0, n)
	// MinBytes 1: the broker answers a fetch as soon as a record arrives,
	// so MaxWait (the long poll) adds no latency. It must not be short:
	// kafka-go asks the broker to wait 3/4 of MaxWait and gives up on the
	// answer after MaxWait, and a fetch that times out closes the
	// connection and costs a ReadBackoffMin (100 ms) pause and a redial.
	// With 5 ms, 100 to 300 reconnects in ten seconds on a loaded
	// machine made up the whole 100 ms tail of this benchmark.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: topics.SegmentationEvents, GroupID: fmt.Sprintf("bench-%d", runs),
		StartOffset: kafka.LastOffset, MaxWait: time.Second, MinBytes: 1, MaxBytes: 10 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	prefix := fmt.Sprintf("r%d-", runs)
	go func() {
		defer close(done)
		for len(got) < n {
			// FetchMessage: no offset commit per message, which would
			// add a broker round trip to every measurement.
			km, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			now := time.Now()
			m, err := events.Parse(km)
			if err != nil {
				continue
			}
			var e segev.SegmentationEvent
			if m.Decode(&e) != nil || e.GetSegmentEntered() == nil {
				continue
			}
			var i int
			if _, err := fmt.Sscanf(e.GetSegmentEntered().GetCustomerId(), prefix+"c%d", &i); err != nil || i < 0 || i >= n {
				continue
			}
			mu.Lock()
			got = append(got, now.Sub(sent[i]))
			mu.Unlock()
		}
	}()
	// Give the reader its partitions before the clock starts.
	time.Sleep(2 * time.Second)
	w := events.NewWriter(s.brokers)
	// A shop sends each order as it happens: no batching delay on the
	// producer's side, which is not the service's latency.
	w.BatchSize = 1
	defer w.Close()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		id := fmt.Sprintf("%sc%d", prefix, i)
		m, err := events.Encode(context.Background(), events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: id, Key: id, Payload: completed(id+"-o", id, 1000, time.Now())})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		// Asynchronously, as a shop would: one slow write must not hold
		// back the steady rate.
		go func() {
			if err := w.WriteMessages(context.Background(), m); err != nil {
				b.Error(err)
			}
		}()
	}
	<-done
	if len(got) < n {
		b.Fatalf("only %d of %d SegmentEntered events arrived", len(got), n)
	}
	return got
}
