package ports_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
)

// friendsPerReferrer keeps the per-referrer cap and tier counting realistic.
const friendsPerReferrer = 10

// BenchmarkConversionPipeline measures the conversion pipeline end to end:
// b.N first orders of referred friends enter commerce.orders.v1, the
// service's consumer converts each referral (campaign budget lock, rewards,
// outbox) and the relay publishes every ReferralConverted. It reports
// orders/s (orders in until the last conversion is published) and, beside
// it, the TPS of pgbench's simple-update workload on the same PostgreSQL,
// the hardware baseline the figure should be read against.
//
//	go test -run '^$' -bench ConversionPipeline -benchtime 5000x ./internal/ports/
func BenchmarkConversionPipeline(b *testing.B) {
	s := startStack(b)
	marketer := s.as(token(b, "mkt", auth.RoleMarketer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "bench", Campaign: &referralv1.Campaign{
		Name:           "bench",
		ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 500},
		FriendReward:   &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 300},
		Conditions:     &referralv1.CampaignConditions{AttributionWindowDays: 30, HoldPeriodDays: 14},
	}})
	if err != nil {
		b.Fatal(err)
	}
	id := c.Campaign.CampaignId
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: id, IdempotencyKey: "bench"}); err != nil {
		b.Fatal(err)
	}
	signedUp := s.clock()
	for lo := 0; lo < b.N; lo += 500 {
		err := s.app.InTx(s.ctx, func(t *app.Tx) error {
			for i := lo; i < min(lo+500, b.N); i++ {
				code, err := s.app.IssueCode(s.ctx, t, app.IssueCodeInput{CampaignID: id, CustomerID: fmt.Sprintf("referrer-%d", i/friendsPerReferrer)})
				if err != nil {
					return err
				}
				if _, err := s.app.Attribute(s.ctx, t, app.SignUpInput{Code: string(code.Code), FriendID: fmt.Sprintf("friend-%d", i), At: signedUp}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("sign-ups: %v", err)
		}
	}
	msgs := make([]kafka.Message, b.N)
	for i := range msgs {
		m, err := events.Encode(s.ctx, events.Event{Topic: topics.CommerceOrders, Source: "bench", Subject: fmt.Sprintf("friend-%d", i),
			Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, fmt.Sprintf("o-%d", i), fmt.Sprintf("friend-%d", i), 4999, signedUp.Add(time.Hour))})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	w := events.NewWriter(s.brokers)
	defer w.Close()
	w.BatchSize = 1000

	b.ResetTimer()
	began := time.Now()
	for lo := 0; lo < len(msgs); lo += 1000 {
		if err := w.WriteMessages(s.ctx, msgs[lo:min(lo+1000, len(msgs))]...); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var converted, pending int
		if err := s.pool.QueryRow(s.ctx, `SELECT (SELECT count(*) FROM referrals WHERE stage = 'converted'), (SELECT count(*) FROM outbox)`).Scan(&converted, &pending); err != nil {
			b.Fatal(err)
		}
		if converted == b.N && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d conversions (%d events unpublished) after 10 minutes", converted, b.N, pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	if tps, err := pgbenchTPS(b); err != nil {
		b.Logf("pgbench baseline unavailable: %v", err)
	} else {
		b.ReportMetric(tps, "pgbench_tps")
	}
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+)`)

// pgbenchTPS runs pgbench's simple-update workload (-N: three statements
// and a commit per transaction, close to one conversion's shape) for five
// seconds with two clients on a fresh database of the same server.
func pgbenchTPS(b *testing.B) (float64, error) {
	url := pgtest.NewDBURL(b)
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		bin = filepath.Join("/usr/lib/postgresql/15/bin", "pgbench")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "-i", "-q", "-s", "1", url).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "-N", "-c", "2", "-j", "2", "-T", "5", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
