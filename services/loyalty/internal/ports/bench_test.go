package ports_test

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/localkafka"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

var (
	benchDuration = flag.Duration("loyalty.bench.duration", 10*time.Second, "how long pgbench and the Redeem load run")
	benchClients  = flag.Int("loyalty.bench.clients", 8, "concurrent clients of pgbench and of the Redeem load")
	benchOrders   = flag.Int("loyalty.bench.orders", 40000, "order events the ingestion benchmark consumes (0 skips the ingestion)")
	pgbenchPath   = flag.String("loyalty.bench.pgbench", "/usr/lib/postgresql/15/bin/pgbench", "pgbench binary")
)

// The ingestion runs as a deployment would: one consumer-group member per
// partition of commerce.orders.v1 (the test broker makes 3), so that their
// batches overlap: one's database writes with another's Go work, on both
// cores, as pgbench's 8 clients use both.
var (
	benchConsumers = flag.Int("loyalty.bench.consumers", 3, "consumer-group members of the ingestion (LOYALTY_CONSUMERS)")
	benchBatch     = flag.Int("loyalty.bench.batch", 2500, "most order events per transaction in the ingestion (LOYALTY_ORDER_BATCH_SIZE)")
)

// BenchmarkProgram measures, on one PostgreSQL cluster: pgbench's built-in
// TPC-B-like transactions per second (the baseline), the Redeem RPC's
// throughput and latency under the same number of clients, and how fast
// completed orders are ingested from Kafka. It runs once whatever b.N is:
//
//	go test -run '^$' -bench BenchmarkProgram -benchtime 1x ./internal/ports/
//
// The goals (issue 3): Redeem at >= 50% of the baseline with p99 <= 25ms,
// ingestion at >= 2.5x the baseline.
func BenchmarkProgram(b *testing.B) {
	baseline, pgCPU, pgCPUOK := pgbench(b)
	b.Logf("pgbench TPC-B-like: %.0f tps (%d clients, %s)", baseline, *benchClients, *benchDuration)

	rps, p50, p99, rdCPU, rdCPUOK := redeemLoad(b)
	b.Logf("Redeem: %.0f/s, p50 %s, p99 %s (%.0f%% of baseline; goal >= 50%%, p99 <= 25ms)", rps, p50, p99, 100*rps/baseline)
	if pgCPUOK && rdCPUOK {
		b.Logf("CPU per operation (this process tree: service, load generator, PostgreSQL, pgbench): pgbench %.3f ms/tx, Redeem %.3f ms",
			pgCPU, rdCPU)
		b.ReportMetric(pgCPU, "pgbench-cpu-ms/tx")
		b.ReportMetric(rdCPU, "redeem-cpu-ms")
	}

	// -loyalty.bench.orders=0 skips the ingestion (quicker while working
	// on Redeem); its metrics are then not reported.
	var ingest float64
	if *benchOrders > 0 {
		ingest = ingestion(b)
		b.Logf("order ingestion: %.0f orders/s (%.1fx baseline; goal >= 2.5x)", ingest, ingest/baseline)
	}

	b.ReportMetric(baseline, "pgbench-tps")
	b.ReportMetric(rps, "redeem/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "redeem-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "redeem-p99-ms")
	b.ReportMetric(rps/baseline, "redeem/pgbench")
	if *benchOrders > 0 {
		b.ReportMetric(ingest, "orders/s")
		b.ReportMetric(ingest/baseline, "ingest/pgbench")
		b.ReportMetric(float64(*benchConsumers), "ingest-consumers")
	}
	// The same client count drives pgbench and the Redeem load, so the
	// ratio compares equal concurrency.
	b.ReportMetric(float64(*benchClients), "clients")
}

var (
	tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	txLine  = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

func pgbench(b *testing.B) (tps, cpuPerTx float64, cpuOK bool) {
	b.Helper()
	url := pgtest.NewDBURL(b)
	if out, err := exec.Command(*pgbenchPath, "-i", "-q", "-s", "10", url).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	cpu := startCPU()
	out, err := exec.Command(*pgbenchPath, "-n", "-c", strconv.Itoa(*benchClients), "-j", "2", "-T",
		strconv.Itoa(int(benchDuration.Seconds())), url).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no tps in pgbench output:\n%s", out)
	}
	tps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := txLine.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		cpuPerTx, cpuOK = cpu.perOp(n)
	}
	return tps, cpuPerTx, cpuOK
}

func redeemLoad(b *testing.B) (rps float64, p50, p99 time.Duration, cpuPerOp float64, cpuOK bool) {
	b.Helper()
	s := start(b, map[string]string{"POOL_MAX_CONNS": strconv.Itoa(*benchClients + 2), "LOYALTY_EXPIRY": "never"})
	const members = 100
	for i := range members {
		s.credit(b, fmt.Sprintf("bench-%d", i), 1_000_000_000)
	}
	ctxs := make([]context.Context, members)
	for i := range ctxs {
		ctxs[i] = customer(b, fmt.Sprintf("bench-%d", i))
	}
	var mu sync.Mutex
	var lat []time.Duration
	var failed int
	deadline := time.Now().Add(*benchDuration)
	var wg sync.WaitGroup
	cpu := startCPU()
	begin := time.Now()
	for c := range *benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := c; time.Now().Before(deadline); i += *benchClients {
				m := i % members
				t0 := time.Now()
				_, err := s.client.Redeem(ctxs[m], &loyaltyv1.RedeemRequest{CustomerId: fmt.Sprintf("bench-%d", m),
					IdempotencyKey: fmt.Sprintf("b-%d-%d", c, i), Target: &loyaltyv1.RedeemRequest_Points{Points: 1}})
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpuPerOp, cpuOK = cpu.perOp(float64(len(lat)))
	if failed > 0 || len(lat) == 0 {
		b.Fatalf("expected every redemption to succeed, %d failed of %d", failed, failed+len(lat))
	}
	slices.Sort(lat)
	return float64(len(lat)) / elapsed.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], cpuPerOp, cpuOK
}

func ingestion(b *testing.B) float64 {
	b.Helper()
	n := *benchOrders
	s := startWith(b, map[string]string{"LOYALTY_ORDER_BATCH_SIZE": strconv.Itoa(*benchBatch), "LOYALTY_EXPIRY": "fixed",
		"LOYALTY_CONSUMERS": strconv.Itoa(*benchConsumers)}, func(brokers []string) {
		w := events.NewWriter(brokers)
		defer w.Close()
		msgs := make([]kafka.Message, 0, 1000)
		for i := range n {
			msgs = append(msgs, orderMessage(b, order(fmt.Sprintf("bo-%d", i), fmt.Sprintf("bench-%d", i%1000),
				line("l1", "a", 2, 1250), line("l2", "b", 1, 999))))
			if len(msgs) == cap(msgs) || i == n-1 {
				if err := w.WriteMessages(context.Background(), msgs...); err != nil {
					b.Fatalf("write orders: %v", err)
				}
				msgs = msgs[:0]
			}
		}
	})
	// The consumers start with the service; time from the first order
	// ingested, once every consumer has its partitions, to the last. The
	// members join one after another and each join stalls the group for a
	// rebalance: a one-time cost of starting, not a rate.
	var first time.Time
	eventually(b, "the first order ingested", func() (bool, string) {
		var got int
		_ = s.pool.QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&got)
		if got > 0 {
			first = time.Now()
		}
		return got > 0, "none yet"
	})
	if want := min(*benchConsumers, localkafka.DefaultPartitions); want > 1 {
		waitForGroup(b, s.brokers, want)
		first = time.Now()
	}
	var firstCount int
	cpu := startCPU()
	_ = s.pool.QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&firstCount)
	if firstCount > n/2 {
		b.Logf("warning: %d of %d orders were ingested before the consumer group was stable; raise -loyalty.bench.orders", firstCount, n)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var got int
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("expected %d orders ingested within 10 minutes, got %d", n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rate := float64(n-firstCount) / time.Since(first).Seconds()
	if perOrder, ok := cpu.perOp(float64(n - firstCount)); ok {
		b.ReportMetric(perOrder, "ingest-cpu-ms/order")
	}
	s.assertLedger(b)
	return rate
}

// waitForGroup waits until the service's consumer group is stable with
// want members that each hold partitions of commerce.orders.v1.
func waitForGroup(b *testing.B, brokers []string, want int) {
	b.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	eventually(b, fmt.Sprintf("%d consumers with their partitions", want), func() (bool, string) {
		resp, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{ports.Name}})
		if err != nil || len(resp.Groups) != 1 {
			return false, fmt.Sprintf("describe group: %v", err)
		}
		g := resp.Groups[0]
		holding := 0
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topics.CommerceOrders && len(t.Partitions) > 0 {
					holding++
				}
			}
		}
		return g.GroupState == "Stable" && holding == want, fmt.Sprintf("%s, %d members, %d holding orders partitions", g.GroupState, len(g.Members), holding)
	})
}
