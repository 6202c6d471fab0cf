package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/deploy/local/importer"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/onlineretail"
)

// BenchmarkImportIntoPlatform is the demo import end to end: the whole
// Online Retail dataset, moved to end today as `platformctl import` does by
// default, published to the running platform, and then the time until every
// consumer group of every service has processed every message on every topic
// it reads (including the events the services publish to each other as a
// result). It runs once; a second import would be a no-op by design.
func BenchmarkImportIntoPlatform(b *testing.B) {
	p := running(b)
	path, err := onlineretail.Find(".", onlineretail.OnlineRetail)
	if err != nil {
		b.Skip(err)
	}
	var rows []onlineretail.Row
	if err := onlineretail.Each(path, func(r onlineretail.Row) error { rows = append(rows, r); return nil }); err != nil {
		b.Fatal(err)
	}
	// Same shift as `platformctl import -as-of now`: whole days, so the
	// history ends today and points, recency and expiry are current.
	shift := time.Since(rows[len(rows)-1].Time).Truncate(24 * time.Hour)
	for i := range rows {
		rows[i].Time = rows[i].Time.Add(shift)
	}
	evs, sum := importer.Events(rows, 0)
	w := events.NewWriter(p.st.brokers)
	defer w.Close()
	ctx := context.Background()

	b.ResetTimer()
	start := time.Now()
	if _, err := importer.Publish(ctx, w, evs, nil); err != nil {
		b.Fatal(err)
	}
	published := time.Since(start)
	lag, caughtUp := waitCaughtUp(b, p.st.brokers, start, 20*time.Minute)
	processed := time.Since(start)
	b.StopTimer()

	b.ReportMetric(float64(len(rows)), "rows")
	b.ReportMetric(float64(len(evs)), "events")
	b.ReportMetric(float64(sum.Orders), "orders")
	b.ReportMetric(published.Seconds(), "publish_s")
	b.ReportMetric(processed.Seconds(), "processed_by_all_services_s")
	b.ReportMetric(float64(len(evs))/processed.Seconds(), "events_processed/s")
	for g, d := range caughtUp {
		b.ReportMetric(d.Seconds(), g+"_caught_up_s")
	}
	b.Logf("caught up: %s", lag)
}

// waitCaughtUp polls every consumer group on the brokers until each has
// committed the end of every partition assigned to it, twice in a row a
// second apart (services publish events while consuming, so one quiet look
// is not enough). It returns the last state it saw and, per group, when
// (since start) it was first seen with nothing left to do for good.
func waitCaughtUp(b *testing.B, brokers []string, start time.Time, limit time.Duration) (string, map[string]time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	quiet, state := 0, ""
	caughtUp := map[string]time.Duration{}
	for quiet < 2 {
		select {
		case <-ctx.Done():
			b.Fatalf("consumers never caught up within %s; last state: %s", limit, state)
		case <-time.After(time.Second):
		}
		behind, s, err := totalLag(ctx, c, func(group string, lag int64) {
			if lag > 0 {
				delete(caughtUp, group)
			} else if _, ok := caughtUp[group]; !ok {
				caughtUp[group] = time.Since(start)
			}
		})
		if err != nil {
			state = err.Error()
			quiet = 0
			continue
		}
		state = s
		if behind == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return state, caughtUp
}

// totalLag is the sum over every group and assigned partition of the end
// offset minus the group's committed offset, with a per-group summary; each
// group's lag also goes to seen.
func totalLag(ctx context.Context, c *kafka.Client, seen func(group string, lag int64)) (int64, string, error) {
	groups, err := c.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return 0, "", fmt.Errorf("list groups: %w", err)
	}
	var ids []string
	for _, g := range groups.Groups {
		ids = append(ids, g.GroupID)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return 0, "", fmt.Errorf("no consumer groups yet")
	}
	desc, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return 0, "", fmt.Errorf("describe groups: %w", err)
	}
	var total int64
	summary := ""
	for _, g := range desc.Groups {
		assigned := map[string][]int{}
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				assigned[t.Topic] = append(assigned[t.Topic], t.Partitions...)
			}
		}
		if len(assigned) == 0 {
			continue
		}
		committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g.GroupID, Topics: assigned})
		if err != nil {
			return 0, "", fmt.Errorf("offsets of %s: %w", g.GroupID, err)
		}
		req := map[string][]kafka.OffsetRequest{}
		for t, ps := range assigned {
			for _, p := range ps {
				req[t] = append(req[t], kafka.LastOffsetOf(p))
			}
		}
		ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
		if err != nil {
			return 0, "", fmt.Errorf("end offsets: %w", err)
		}
		var lag int64
		for t, ps := range ends.Topics {
			for _, p := range ps {
				done := int64(0)
				for _, cp := range committed.Topics[t] {
					if cp.Partition == p.Partition && cp.CommittedOffset > 0 {
						done = cp.CommittedOffset
					}
				}
				lag += max(0, p.LastOffset-done)
			}
		}
		total += lag
		seen(g.GroupID, lag)
		summary += fmt.Sprintf("%s=%d ", g.GroupID, lag)
	}
	return total, summary, nil
}
