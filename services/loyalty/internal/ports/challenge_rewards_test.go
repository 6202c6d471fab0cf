package ports_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

// A catalog reward as a challenge's prize is issued at no points cost, once
// per completion, from the reward's stock; a member who completes it when
// the stock is gone sees the prize pending.
func TestAChallengeWithACatalogRewardIssuesItOnceAndShowsItPendingWhenOutOfStock(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	stock := int64(1)
	tote := s.reward(t, &loyaltyv1.Reward{Name: "Tote", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "tote",
		PointsCost: 500, Stock: &stock})
	ch := cansChallenge()
	ch.Name, ch.RewardPoints, ch.RewardId = "Buy 4 cans, get a tote", 0, tote
	created, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: ch})
	if err != nil {
		t.Fatalf("create challenge: %v", err)
	}
	id := created.GetChallenge().GetChallengeId()
	if created.GetChallenge().GetRewardId() != tote {
		t.Errorf("expected the challenge to keep reward %s, got %v", tote, created.GetChallenge())
	}
	prizes := func(member string) int64 {
		var n int64
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM redemptions WHERE member_id = $1 AND reward_id = $2", member, tote).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// c-tote-1: three cans, one refunded before completion, then three more
	// delivered twice: progress drops on the refund and the prize comes once.
	s.send(t, orderMessage(t, order("o-t1", "c-tote-1", line("l1", "can", 3, 100))))
	eventually(t, "three cans counted", func() (bool, string) {
		p := s.challengeProgress(t, "c-tote-1", id)
		return p.GetProgress() == 3, p.String()
	})
	s.send(t, orderMessage(t, refundEvent("o-t1", "c-tote-1", "rf-t1", "l1", 1, 100)))
	eventually(t, "the refunded can taken out", func() (bool, string) {
		p := s.challengeProgress(t, "c-tote-1", id)
		return p.GetProgress() == 2, p.String()
	})
	o2 := orderMessage(t, order("o-t2", "c-tote-1", line("l1", "can", 3, 100)))
	s.send(t, o2, o2)
	eventually(t, "the first member completed it", func() (bool, string) {
		p := s.challengeProgress(t, "c-tote-1", id)
		return p.GetCompletedAt() != nil, p.String()
	})
	p := s.challengeProgress(t, "c-tote-1", id)
	r := p.GetRewardRedemption()
	if p.GetRewardPending() || r.GetRewardId() != tote || r.GetPoints() != 0 || r.GetProductId() != "tote" {
		t.Errorf("expected the tote issued at 0 points and nothing pending, got %v", p)
	}
	// A third delivery of the completing order and a refund after completion
	// issue nothing more.
	s.send(t, o2, orderMessage(t, refundEvent("o-t2", "c-tote-1", "rf-t2", "l1", 3, 300)))
	s.waitFor(t, "the late refund applied", "SELECT 'rf-t2' = ANY(refund_ids) FROM orders WHERE order_id = 'o-t2'")
	if n := prizes("c-tote-1"); n != 1 {
		t.Errorf("expected the tote issued exactly once, got %d redemptions", n)
	}
	if b := s.member(t, "c-tote-1").GetBalance().GetAvailable(); b != 2 {
		t.Errorf("expected the prize to cost no points (2 points left from the kept cans), got %d", b)
	}
	got, err := s.client.GetReward(marketer(t), &loyaltyv1.GetRewardRequest{RewardId: tote})
	if err != nil || got.GetReward().GetStock() != 0 {
		t.Errorf("expected the tote's only unit taken, got %v, %v", got, err)
	}
	// A prize cost no points, so it is not reversed through the points API.
	if _, err := s.client.ReverseRedemption(marketer(t), &loyaltyv1.ReverseRedemptionRequest{RedemptionId: r.GetRedemptionId(),
		IdempotencyKey: key(), Reason: "test"}); code(err) != codes.FailedPrecondition {
		t.Errorf("expected reversing a challenge prize to be FailedPrecondition, got %v", err)
	}

	// c-tote-2 completes it with the stock gone: completed, prize pending.
	s.send(t, orderMessage(t, order("o-t3", "c-tote-2", line("l1", "can", 4, 100))))
	eventually(t, "the second member completed it", func() (bool, string) {
		p := s.challengeProgress(t, "c-tote-2", id)
		return p.GetCompletedAt() != nil, p.String()
	})
	if p := s.challengeProgress(t, "c-tote-2", id); !p.GetRewardPending() || p.GetRewardRedemption() != nil {
		t.Errorf("expected the out-of-stock prize pending and not issued, got %v", p)
	}
	if n := prizes("c-tote-2"); n != 0 {
		t.Errorf("expected no tote issued without stock, got %d", n)
	}
	s.assertLedger(t)
}

// A coupon reward as the prize hands out a code of the uploaded pool.
func TestAChallengeWithACouponRewardHandsOutAPoolCode(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	coupon := s.reward(t, &loyaltyv1.Reward{Name: "Partner voucher", Type: loyaltyv1.RewardType_REWARD_TYPE_COUPON, PointsCost: 10})
	if _, err := s.client.AddCouponCodes(marketer(t), &loyaltyv1.AddCouponCodesRequest{RewardId: coupon, IdempotencyKey: key(), Codes: []string{"ONLY-1"}}); err != nil {
		t.Fatalf("add codes: %v", err)
	}
	ch := cansChallenge()
	ch.RewardId = coupon
	created, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: ch})
	if err != nil {
		t.Fatalf("create challenge: %v", err)
	}
	id := created.GetChallenge().GetChallengeId()
	s.send(t, orderMessage(t, order("o-v1", "c-voucher", line("l1", "can", 4, 100))))
	eventually(t, "the challenge completed", func() (bool, string) {
		p := s.challengeProgress(t, "c-voucher", id)
		return p.GetCompletedAt() != nil, p.String()
	})
	p := s.challengeProgress(t, "c-voucher", id)
	if p.GetRewardRedemption().GetCouponCode() != "ONLY-1" || p.GetRewardPending() {
		t.Errorf("expected the pool's code ONLY-1 issued, got %v", p)
	}
	// Both prizes: the 200 points and the coupon.
	if b := s.member(t, "c-voucher").GetBalance().GetAvailable(); b != 204 {
		t.Errorf("expected 204 points (4 from the order, 200 from the challenge), got %d", b)
	}
	s.assertLedger(t)
}

func orderAt(id, customerID string, at time.Time, lines ...*commercev1.OrderLine) *commercev1.OrderEvent {
	o := order(id, customerID, lines...)
	o.OrderedAt = timestamppb.New(at)
	return o
}

// A repeatable challenge with a 7-day rolling window: orders count together
// only within 7 days of the window's first order, each completion is
// rewarded once (also when its order is delivered again), and a refund
// before completion takes its part out of the running round.
func TestARepeatableRollingWindowChallengeRewardsEachRoundOnce(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	ch := cansChallenge()
	ch.Name, ch.WindowDays, ch.Repeatable = "4 cans within a week, again and again", 7, true
	created, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: ch})
	if err != nil {
		t.Fatalf("create challenge: %v", err)
	}
	if c := created.GetChallenge(); c.GetWindowDays() != 7 || !c.GetRepeatable() {
		t.Errorf("expected window_days 7 and repeatable kept, got %v", c)
	}
	id := created.GetChallenge().GetChallengeId()
	day := func(d, h int) time.Time { return time.Date(2026, 2, d, h, 0, 0, 0, time.UTC) }
	wait := func(what string, ok func(p *loyaltyv1.MemberChallenge) bool) *loyaltyv1.MemberChallenge {
		t.Helper()
		var last *loyaltyv1.MemberChallenge
		eventually(t, what, func() (bool, string) {
			last = s.challengeProgress(t, "c-roll", id)
			return ok(last), last.String()
		})
		return last
	}
	credits := func() int64 {
		var n int64
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM entries WHERE member_id = 'c-roll' AND reference_id LIKE $1", "challenge:"+id+"%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Two cans on Feb 20, two on Feb 27 at the hour the window closes: the
	// second pair opens a fresh window instead of completing the first.
	s.send(t, orderMessage(t, orderAt("o-r1", "c-roll", day(20, 10), line("l1", "can", 2, 100))))
	s.waitFor(t, "the first window's two cans", "SELECT progress = 2 FROM challenge_progress WHERE member_id = 'c-roll'")
	// Seen on Mar 1, that window closed on Feb 27: nothing counts any more.
	if p := s.challengeProgress(t, "c-roll", id); p.GetProgress() != 0 || p.GetRemaining() != 4 || p.GetWindowEndsAt() != nil {
		t.Errorf("expected the closed window to show no progress, got %v", p)
	}
	s.send(t, orderMessage(t, orderAt("o-r2", "c-roll", day(27, 10), line("l1", "can", 2, 100))))
	p := wait("a fresh window opened", func(p *loyaltyv1.MemberChallenge) bool {
		return p.GetWindowEndsAt().AsTime().Equal(time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC))
	})
	if p.GetProgress() != 2 || p.GetCompletedAt() != nil || p.GetCompletions() != 0 {
		t.Errorf("expected 2 cans in the new window and no completion, got %v", p)
	}
	// Two more the next day complete round 1; four on Mar 1 complete round
	// 2; both orders are delivered twice.
	o3 := orderMessage(t, orderAt("o-r3", "c-roll", day(28, 10), line("l1", "can", 2, 100)))
	o4 := orderMessage(t, orderAt("o-r4", "c-roll", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), line("l1", "can", 4, 100)))
	s.send(t, o3, o3, o4, o4)
	p = wait("two rounds completed", func(p *loyaltyv1.MemberChallenge) bool { return p.GetCompletions() == 2 })
	if p.GetCompletedAt() == nil || p.GetRemaining() != 0 {
		t.Errorf("expected the latest round completed, got %v", p)
	}
	// A fifth order opens round 3; refunded before completion, it is taken out.
	s.send(t, orderMessage(t, orderAt("o-r5", "c-roll", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), line("l1", "can", 3, 100))))
	wait("round 3 running", func(p *loyaltyv1.MemberChallenge) bool { return p.GetProgress() == 3 && p.GetCompletedAt() == nil })
	s.send(t, orderMessage(t, refundEvent("o-r5", "c-roll", "rf-r5", "l1", 2, 200)))
	p = wait("the refund taken out of round 3", func(p *loyaltyv1.MemberChallenge) bool { return p.GetProgress() == 1 })
	if p.GetCompletions() != 2 || p.GetRemaining() != 3 {
		t.Errorf("expected 2 completions and 3 cans to go, got %v", p)
	}
	s.send(t, o4)
	s.waitFor(t, "the late refund applied", "SELECT 'rf-r5' = ANY(refund_ids) FROM orders WHERE order_id = 'o-r5'")
	if n := credits(); n != 2 {
		t.Errorf("expected one reward per completed round (2), got %d", n)
	}
	// Cans: 2+2+2+4+3-2 = 11 points, plus 2 rounds of 200.
	if b := s.member(t, "c-roll").GetBalance().GetAvailable(); b != 411 {
		t.Errorf("expected 411 points (11 from orders, 400 from two rounds), got %d", b)
	}
	s.assertLedger(t)
}
