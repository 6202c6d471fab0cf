package ports_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func cansChallenge() *loyaltyv1.Challenge {
	return &loyaltyv1.Challenge{Name: "Buy 4 cans, get 200 points", Goal: loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_ITEM_COUNT, Target: 4,
		Skus: []string{"can"}, StartsAt: timestamppb.New(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)),
		EndsAt: timestamppb.New(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)), RewardPoints: 200}
}

func (s *stack) challengeProgress(t testing.TB, customerID, challengeID string) *loyaltyv1.MemberChallenge {
	t.Helper()
	got, err := s.client.ListMemberChallenges(customer(t, customerID), &loyaltyv1.ListMemberChallengesRequest{CustomerId: customerID})
	if err != nil {
		t.Fatalf("member challenges: %v", err)
	}
	for _, c := range got.GetChallenges() {
		if c.GetChallenge().GetChallengeId() == challengeID {
			return c
		}
	}
	t.Fatalf("expected challenge %s in the member's list, got %v", challengeID, got.GetChallenges())
	return nil
}

func refundEvent(orderID, customerID, refundID, lineID string, qty, amount int64) *commercev1.OrderEvent {
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: orderID, CustomerId: customerID, RefundId: refundID,
		RefundedLines: []*commercev1.RefundedLine{{LineId: lineID, Quantity: qty, Amount: eur(amount)}}}
}

func TestAStampCardCountsOrdersOnceLosesRefundsAndRewardsOnceWhenMet(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	req := &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: cansChallenge()}
	created, err := s.client.CreateChallenge(marketer(t), req)
	if err != nil {
		t.Fatalf("create challenge: %v", err)
	}
	again, err := s.client.CreateChallenge(marketer(t), req)
	if err != nil || !proto.Equal(again, created) {
		t.Errorf("expected the retried create to return the first challenge %v, got %v, %v", created, again, err)
	}
	id := created.GetChallenge().GetChallengeId()
	if created.GetChallenge().GetStatus() != loyaltyv1.ConfigStatus_CONFIG_STATUS_ACTIVE {
		t.Errorf("expected a new challenge to be active, got %v", created.GetChallenge().GetStatus())
	}
	waitProgress := func(what string, progress int64) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			p := s.challengeProgress(t, "c-can", id)
			return p.GetProgress() == progress, p.String()
		})
	}
	rewards := func() int64 {
		var n int64
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM entries WHERE member_id = 'c-can' AND reference_id = $1", "challenge:"+id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Two cans (and something else, which does not count), delivered twice.
	o1 := orderMessage(t, order("o-c1", "c-can", line("l1", "can", 2, 100), line("l2", "bread", 1, 300)))
	s.send(t, o1, o1)
	waitProgress("two cans counted", 2)
	if p := s.challengeProgress(t, "c-can", id); p.GetRemaining() != 2 || p.GetCompletedAt() != nil {
		t.Errorf("expected 2 cans to go and no completion, got %v", p)
	}
	// A third can, then refunded before completion: progress goes back.
	s.send(t, orderMessage(t, order("o-c2", "c-can", line("l1", "can", 1, 100))))
	waitProgress("the third can counted", 3)
	s.send(t, orderMessage(t, refundEvent("o-c2", "c-can", "rf-c2", "l1", 1, 100)))
	waitProgress("the refunded can taken out", 2)
	// Three more cans complete it, once, even when the order comes twice.
	o3 := orderMessage(t, order("o-c3", "c-can", line("l1", "can", 3, 100)))
	s.send(t, o3, o3)
	waitProgress("the challenge completed", 5)
	p := s.challengeProgress(t, "c-can", id)
	if p.GetCompletedAt() == nil || p.GetRemaining() != 0 {
		t.Errorf("expected the challenge completed with nothing remaining, got %v", p)
	}
	// More cans and a refund after completion change nothing.
	s.send(t, orderMessage(t, order("o-c4", "c-can", line("l1", "can", 4, 100))),
		orderMessage(t, refundEvent("o-c3", "c-can", "rf-c3", "l1", 3, 300)))
	s.waitFor(t, "the later order and refund applied", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-c4') AND (SELECT 'rf-c3' = ANY(refund_ids) FROM orders WHERE order_id = 'o-c3')")
	if got := s.challengeProgress(t, "c-can", id); got.GetProgress() != 5 || got.GetCompletedAt() == nil {
		t.Errorf("expected progress to stay at 5 after completion, got %v", got)
	}
	if n := rewards(); n != 1 {
		t.Errorf("expected the reward credited exactly once, got %d credits", n)
	}
	// Earned: 2+3 (o-c1) + 1 - 1 (o-c2) + 3 - 3 (o-c3) + 4 (o-c4) + 200 reward.
	if b := s.member(t, "c-can").GetBalance().GetAvailable(); b != 209 {
		t.Errorf("expected 209 points (9 from orders, 200 from the challenge), got %d", b)
	}
	if _, err := s.client.ListMemberChallenges(customer(t, "c-other"), &loyaltyv1.ListMemberChallengesRequest{CustomerId: "c-can"}); code(err) != codes.PermissionDenied {
		t.Errorf("expected another customer to be refused c-can's challenges, got %v", err)
	}
	s.assertLedger(t)
}

func TestSpendAndOrderCountChallengesAndTheirLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	spend := cansChallenge()
	spend.Name, spend.Goal, spend.Target, spend.Skus, spend.Categories = "Spend 20 EUR on home", loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_SPEND, 2000, nil, []string{"home"}
	orders := cansChallenge()
	orders.Name, orders.Goal, orders.Target, orders.Skus = "Three orders", loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_ORDER_COUNT, 3, nil
	var ids []string
	for _, c := range []*loyaltyv1.Challenge{spend, orders} {
		r, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: c})
		if err != nil {
			t.Fatalf("create %s: %v", c.GetName(), err)
		}
		ids = append(ids, r.GetChallenge().GetChallengeId())
	}
	for i := range 2 {
		s.send(t, orderMessage(t, order(fmt.Sprintf("o-s%d", i), "c-sp", line("l1", "lamp", 1, 1500))))
	}
	s.waitFor(t, "both orders earned", "SELECT count(*) = 2 FROM orders WHERE member_id = 'c-sp'")
	eventually(t, "spend and order progress", func() (bool, string) {
		a, b := s.challengeProgress(t, "c-sp", ids[0]), s.challengeProgress(t, "c-sp", ids[1])
		return a.GetCompletedAt() != nil && a.GetProgress() == 3000 && b.GetProgress() == 2 && b.GetCompletedAt() == nil, a.String() + " " + b.String()
	})
	// Pausing the order challenge stops it counting.
	paused, err := s.client.UpdateChallenge(marketer(t), &loyaltyv1.UpdateChallengeRequest{IdempotencyKey: key(),
		Challenge:  &loyaltyv1.Challenge{ChallengeId: ids[1], Status: loyaltyv1.ConfigStatus_CONFIG_STATUS_PAUSED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}})
	if err != nil || paused.GetChallenge().GetStatus() != loyaltyv1.ConfigStatus_CONFIG_STATUS_PAUSED || paused.GetChallenge().GetTarget() != 3 {
		t.Fatalf("expected the challenge paused with its target kept, got %v, %v", paused, err)
	}
	s.send(t, orderMessage(t, order("o-s9", "c-sp", line("l1", "lamp", 1, 1500))))
	s.waitFor(t, "the third order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-s9')")
	var n int64
	if err := s.pool.QueryRow(context.Background(), "SELECT progress FROM challenge_progress WHERE member_id = 'c-sp' AND challenge_id = $1", ids[1]).Scan(&n); err != nil || n != 2 {
		t.Errorf("expected the paused challenge to stay at 2 orders, got %d, %v", n, err)
	}
	list, err := s.client.ListChallenges(marketer(t), &loyaltyv1.ListChallengesRequest{Status: loyaltyv1.ConfigStatus_CONFIG_STATUS_PAUSED})
	if err != nil || len(list.GetChallenges()) != 1 || list.GetChallenges()[0].GetChallengeId() != ids[1] {
		t.Errorf("expected only the paused challenge listed, got %v, %v", list, err)
	}
	got, err := s.client.GetChallenge(customer(t, "c-sp"), &loyaltyv1.GetChallengeRequest{ChallengeId: ids[0]})
	if err != nil || got.GetChallenge().GetName() != "Spend 20 EUR on home" {
		t.Errorf("expected anyone to read a challenge, got %v, %v", got, err)
	}
	if _, err := s.client.GetChallenge(marketer(t), &loyaltyv1.GetChallengeRequest{ChallengeId: "nope"}); code(err) != codes.NotFound {
		t.Errorf("expected NotFound for an unknown challenge, got %v", err)
	}
	s.assertLedger(t)
}

func TestAnInvalidChallengeNamesTheField(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	cases := []struct {
		name   string
		edit   func(c *loyaltyv1.Challenge)
		wantFd string
	}{
		{"no target", func(c *loyaltyv1.Challenge) { c.Target = 0 }, "challenge.target"},
		{"no goal", func(c *loyaltyv1.Challenge) { c.Goal = loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_UNSPECIFIED }, "challenge.goal"},
		{"an end before the start", func(c *loyaltyv1.Challenge) { c.EndsAt = timestamppb.New(c.GetStartsAt().AsTime().Add(-time.Hour)) }, "challenge.ends_at"},
		{"no reward", func(c *loyaltyv1.Challenge) { c.RewardPoints = 0 }, "challenge.reward"},
		{"no name", func(c *loyaltyv1.Challenge) { c.Name = " " }, "challenge.name"},
		{"an unknown catalog reward", func(c *loyaltyv1.Challenge) { c.RewardId = "no-such-reward" }, "challenge.reward_id"},
		{"a negative window", func(c *loyaltyv1.Challenge) { c.WindowDays = -1 }, "challenge.window_days"},
		{"a window over ten years", func(c *loyaltyv1.Challenge) { c.WindowDays = 3651 }, "challenge.window_days"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := cansChallenge()
			c.edit(ch)
			_, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: ch})
			if code(err) != codes.InvalidArgument || !slices.Contains(badFields(err), c.wantFd) {
				t.Errorf("expected InvalidArgument naming %s, got %v (fields %v)", c.wantFd, err, badFields(err))
			}
		})
	}
	if _, err := s.client.CreateChallenge(customer(t, "c-1"), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: cansChallenge()}); code(err) != codes.PermissionDenied {
		t.Errorf("expected a customer's create to be PermissionDenied, got %v", err)
	}
	list, err := s.client.ListChallenges(marketer(t), &loyaltyv1.ListChallengesRequest{})
	if err != nil || len(list.GetChallenges()) != 0 {
		t.Errorf("expected no challenge created, got %v, %v", list, err)
	}
}
