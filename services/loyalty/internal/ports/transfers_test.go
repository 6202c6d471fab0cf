package ports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestTransfersAreRefusedUnlessTheProgramAllowsThem(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-t1", 100)
	_, err := s.client.TransferPoints(customer(t, "c-t1"), &loyaltyv1.TransferPointsRequest{CustomerId: "c-t1", IdempotencyKey: key(),
		ToCustomerId: "c-t2", Points: 10})
	if code(err) != codes.FailedPrecondition {
		t.Errorf("expected a transfer in a program without transfers to be FailedPrecondition, got %v", err)
	}
	if b := s.member(t, "c-t1").GetBalance().GetAvailable(); b != 100 {
		t.Errorf("expected the refused transfer to leave 100 points, got %d", b)
	}
}

func TestTransfersMovePointsWithTheirExpiryOnceAndNeverBelowZero(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_TRANSFERS": "true"})
	s.credit(t, "c-from", 100)
	transfer := func(caller string, from, to string, points int64, k string) (*loyaltyv1.TransferPointsResponse, error) {
		return s.client.TransferPoints(customer(t, caller), &loyaltyv1.TransferPointsRequest{CustomerId: from, IdempotencyKey: k,
			ToCustomerId: to, Points: points})
	}
	k := key()
	first, err := transfer("c-from", "c-from", "c-to", 40, k)
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	again, err := transfer("c-from", "c-from", "c-to", 40, k)
	if err != nil || again.GetTransferId() != first.GetTransferId() {
		t.Errorf("expected the retry to return transfer %s, got %v, %v", first.GetTransferId(), again, err)
	}
	if first.GetBalance().GetAvailable() != 60 || len(first.GetReceived()) != 1 || first.GetReceived()[0].GetPoints() != 40 {
		t.Errorf("expected 40 points received and 60 left, got %v", first)
	}
	from, to := s.member(t, "c-from"), s.member(t, "c-to")
	if from.GetBalance().GetAvailable() != 60 || to.GetBalance().GetAvailable() != 40 {
		t.Errorf("expected 60 and 40 points after one transfer of 40, got %d and %d", from.GetBalance().GetAvailable(), to.GetBalance().GetAvailable())
	}
	if got, want := first.GetReceived()[0].GetExpiresAt().AsTime(), first.GetSent().GetCreatedAt().AsTime().AddDate(1, 0, 0); !got.Equal(want) {
		t.Errorf("expected the received points to keep the sender's expiry %s, got %s", want, got)
	}

	tests := []struct {
		name   string
		caller string
		from   string
		to     string
		points int64
		want   codes.Code
		field  string
	}{
		{"more than the balance is refused", "c-from", "c-from", "c-to", 61, codes.FailedPrecondition, ""},
		{"a transfer to oneself names to_customer_id", "c-from", "c-from", "c-from", 1, codes.InvalidArgument, "to_customer_id"},
		{"no points names points", "c-from", "c-from", "c-to", 0, codes.InvalidArgument, "points"},
		{"a customer cannot give another's points", "c-to", "c-from", "c-to", 1, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		_, err := transfer(tt.caller, tt.from, tt.to, tt.points, key())
		if code(err) != tt.want || (tt.field != "" && !slices.Contains(badFields(err), tt.field)) {
			t.Errorf("%s: expected %v naming %q, got %v", tt.name, tt.want, tt.field, err)
		}
	}

	// Opposite transfers at once lock both members in the same order, so
	// none deadlocks and the points are all still there.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := transfer("c-from", "c-from", "c-to", 1, fmt.Sprint("ab-", i))
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := transfer("c-to", "c-to", "c-from", 1, fmt.Sprint("ba-", i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("expected every concurrent transfer to succeed, got %v", err)
		}
	}
	from, to = s.member(t, "c-from"), s.member(t, "c-to")
	if from.GetBalance().GetAvailable() != 60 || to.GetBalance().GetAvailable() != 40 {
		t.Errorf("expected 60 and 40 points after balanced transfers, got %d and %d", from.GetBalance().GetAvailable(), to.GetBalance().GetAvailable())
	}

	// Over REST, the key may come as a header.
	body, _ := json.Marshal(map[string]any{"toCustomerId": "c-to", "points": "5"})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+s.addrs.HTTP+"/v1/loyalty/members/c-from/transfers", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token(t, "c-from", auth.RoleCustomer))
	req.Header.Set("Idempotency-Key", "rest-transfer")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || s.member(t, "c-to").GetBalance().GetAvailable() != 45 {
		t.Errorf("expected a REST transfer of 5 to leave the receiver 45, got HTTP %d", resp.StatusCode)
	}
	s.assertLedger(t)
}

func TestATierOverrideHoldsUntilItExpires(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_JOB_INTERVAL": "50ms", "LOYALTY_EXPIRY": "never"})
	s.tier(t, "Silver", 1, 100)
	gold := s.tier(t, "Gold", 2, 500)
	s.earn(t, "c-vip", "o-1", line("l1", "a", 1, 15000))
	if got := s.member(t, "c-vip").GetTier().GetTierName(); got != "Silver" {
		t.Fatalf("expected Silver on 150 points, got %q", got)
	}
	until := s.clock.Now().Add(30 * 24 * time.Hour)
	resp, err := s.client.SetTierOverride(marketer(t), &loyaltyv1.SetTierOverrideRequest{CustomerId: "c-vip", IdempotencyKey: key(),
		TierId: gold.GetTierId(), ExpiresAt: timestamppb.New(until), Reason: "complaint goodwill"})
	if err != nil {
		t.Fatalf("override: %v", err)
	}
	if resp.GetTier().GetTierName() != "Gold" || !resp.GetTier().GetRequalifyAt().AsTime().Equal(until) {
		t.Errorf("expected Gold until %s, got %v", until, resp.GetTier())
	}
	// An order inside the override keeps it.
	s.earn(t, "c-vip", "o-2", line("l1", "a", 1, 1000))
	if got := s.member(t, "c-vip").GetTier().GetTierName(); got != "Gold" {
		t.Errorf("expected Gold to hold during the override, got %q", got)
	}
	s.clock.Advance(31 * 24 * time.Hour)
	eventually(t, "the override to end and Silver to apply again", func() (bool, string) {
		tier := s.member(t, "c-vip").GetTier()
		return tier.GetTierName() == "Silver", tier.String()
	})

	bad := []struct {
		name  string
		req   func() *loyaltyv1.SetTierOverrideRequest
		want  codes.Code
		field string
	}{
		{"an unknown tier names tier_id", func() *loyaltyv1.SetTierOverrideRequest {
			return &loyaltyv1.SetTierOverrideRequest{TierId: "no-such-tier", ExpiresAt: timestamppb.New(s.clock.Now().Add(time.Hour)), Reason: "x"}
		}, codes.InvalidArgument, "tier_id"},
		{"a past end names expires_at", func() *loyaltyv1.SetTierOverrideRequest {
			return &loyaltyv1.SetTierOverrideRequest{TierId: gold.GetTierId(), ExpiresAt: timestamppb.New(s.clock.Now().Add(-time.Hour)), Reason: "x"}
		}, codes.InvalidArgument, "expires_at"},
		{"a missing reason names reason", func() *loyaltyv1.SetTierOverrideRequest {
			return &loyaltyv1.SetTierOverrideRequest{TierId: gold.GetTierId(), ExpiresAt: timestamppb.New(s.clock.Now().Add(time.Hour))}
		}, codes.InvalidArgument, "reason"},
	}
	for _, tt := range bad {
		req := tt.req()
		req.CustomerId, req.IdempotencyKey = "c-vip", key()
		_, err := s.client.SetTierOverride(marketer(t), req)
		if code(err) != tt.want || !slices.Contains(badFields(err), tt.field) {
			t.Errorf("%s: expected %v naming %s, got %v", tt.name, tt.want, tt.field, err)
		}
	}
	_, err = s.client.SetTierOverride(customer(t, "c-vip"), &loyaltyv1.SetTierOverrideRequest{CustomerId: "c-vip", IdempotencyKey: key(),
		TierId: gold.GetTierId(), ExpiresAt: timestamppb.New(s.clock.Now().Add(time.Hour)), Reason: "self-promotion"})
	if code(err) != codes.PermissionDenied {
		t.Errorf("expected a customer overriding their own tier to be PermissionDenied, got %v", err)
	}
}
