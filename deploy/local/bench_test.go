package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkPlatform measures the whole platform on the local stack: how many
// orders per second flow through loyalty and segmentation (published to
// Kafka until every order is counted), and how long one order takes from
// its event to being visible in points, the profile and recommendations.
// The gRPC health check's round trip, measured in the same run, is the
// baseline for this machine.
func BenchmarkPlatform(b *testing.B) {
	p := running(b)
	ctx := context.Background()
	svc := p.token(b, "bench", auth.RoleService)
	marketer := p.token(b, "bench", auth.RoleMarketer)

	conn, err := grpc.NewClient(services[0].grpcAddr(p.cfg.PortOffset), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	var health []time.Duration
	for range 1000 {
		start := time.Now()
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
		health = append(health, time.Since(start))
	}

	issued := func() int64 {
		var r loyaltyv1.GetPointsReportResponse
		if code, body := p.call(b, http.MethodGet, "/v1/loyalty/reports/points", marketer, nil, &r); code != http.StatusOK {
			b.Fatalf("points report: %d %s", code, body)
		}
		return r.GetIssuedPoints()
	}
	prefix := fmt.Sprintf("bench%d", time.Now().UnixNano())
	buyers := func() int64 {
		var r segmentationv1.PreviewSegmentResponse
		// The burst's lines are in a category of their own, so the rule
		// counts exactly the burst's buyers.
		rule := fmt.Sprintf(`orders.count(%q, days(1)) >= 1`, prefix)
		if code, body := p.call(b, http.MethodPost, "/v1/segments:preview", marketer, &segmentationv1.PreviewSegmentRequest{Rule: rule}, &r); code != http.StatusOK {
			b.Fatalf("preview: %d %s", code, body)
		}
		return r.GetSize()
	}

	// Throughput: a burst of orders, each 10 points, for distinct customers.
	const burst = 2000
	before := issued()
	var evs []events.Event
	for i := range burst {
		c := fmt.Sprintf("%s-%05d", prefix, i)
		evs = append(evs, completedOrder(c+"-o", c, time.Now().UTC(),
			line(fmt.Sprintf("BENCH-%d", i%200), prefix, 1, 600), line(fmt.Sprintf("BENCH-%d", (i+7)%200), prefix, 1, 400)))
	}
	b.ResetTimer()
	start := time.Now()
	p.publish(b, evs...)
	var loyaltyDone, profileDone time.Duration
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for issued()-before < burst*10 {
			time.Sleep(20 * time.Millisecond)
		}
		loyaltyDone = time.Since(start)
	}()
	go func() {
		defer wg.Done()
		for buyers() < burst {
			time.Sleep(20 * time.Millisecond)
		}
		profileDone = time.Since(start)
	}()
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(burst/loyaltyDone.Seconds(), "loyalty_orders/s")
	b.ReportMetric(burst/profileDone.Seconds(), "segmentation_orders/s")
	b.ReportMetric(burst/max(loyaltyDone, profileDone).Seconds(), "platform_orders/s")

	// Latency: single orders, each watched until visible. Every order pairs
	// BENCH-1 with a product of its own, which then shows up in BENCH-1's
	// "bought together"; the catalog knows the products beforehand.
	const samples = 20
	now := time.Now().UTC()
	for i := -1; i < samples; i++ {
		id := "BENCH-1"
		if i >= 0 {
			id = fmt.Sprintf("BENCH-LAT-%s-%d", prefix, i)
		}
		p.publish(b, events.Event{Topic: topics.CommerceProducts, Source: "bench", Subject: id, Time: now,
			Payload: &commercev1.ProductEvent{Kind: commercev1.ProductEvent_KIND_UPSERTED, OccurredAt: timestamppb.New(now),
				Product: &commercev1.Product{ProductId: id, Sku: id, Title: id, CategoryPath: []string{"home", "decor"}, Price: gbp(500),
					StockStatus: commercev1.StockStatus_STOCK_STATUS_IN_STOCK, Durability: commercev1.Durability_DURABILITY_DURABLE}}})
	}
	time.Sleep(2 * time.Second) // let the catalog take the products in
	var points, profile, recs []time.Duration
	for i := range samples {
		c := fmt.Sprintf("%s-lat-%02d", prefix, i)
		product := fmt.Sprintf("BENCH-LAT-%s-%d", prefix, i)
		tok := p.token(b, c, auth.RoleCustomer)
		start := time.Now()
		p.publish(b, completedOrder(c+"-o", c, time.Now().UTC(), line("BENCH-1", "home/decor", 1, 1000), line(product, "home/decor", 1, 500)))
		var wg sync.WaitGroup
		wg.Add(3)
		watch := func(into *[]time.Duration, visible func() bool) {
			defer wg.Done()
			for !visible() {
				time.Sleep(5 * time.Millisecond)
				if time.Since(start) > time.Minute {
					b.Errorf("order of %s not visible within a minute", c)
					return
				}
			}
			*into = append(*into, time.Since(start))
		}
		go watch(&points, func() bool {
			var m loyaltyv1.GetMemberResponse
			p.call(b, http.MethodGet, "/v1/loyalty/members/"+c, tok, nil, &m)
			return m.GetMember().GetLifetimePoints() > 0
		})
		go watch(&profile, func() bool {
			var r segmentationv1.GetCustomerProfileResponse
			p.call(b, http.MethodGet, "/v1/customers/"+c+"/profile", tok, nil, &r)
			return r.GetProfile().GetTraits().GetOrderCount() > 0
		})
		go watch(&recs, func() bool {
			var r recommendationv1.GetRecommendationsResponse
			p.call(b, http.MethodGet, "/v1/recommendations?productIds=BENCH-1&strategy=STRATEGY_CROSS_SELL&limit=50", svc, nil, &r)
			return slices.ContainsFunc(r.GetItems(), func(it *recommendationv1.RecommendedItem) bool { return it.GetProductId() == product })
		})
		wg.Wait()
	}
	report := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		b.ReportMetric(ms(percentile(ds, 0.5)), name+"_p50_ms")
		b.ReportMetric(ms(percentile(ds, 0.99)), name+"_p99_ms")
	}
	report("points", points)
	report("profile", profile)
	report("recommendations", recs)
	b.ReportMetric(ms(percentile(health, 0.5)), "health_p50_ms")
	b.ReportMetric(float64(len(health))/sum(health).Seconds(), "health_calls/s")
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
