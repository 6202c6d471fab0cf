package ports_test

import (
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

func TestRecognitionMilestonesParseAsThresholdPointsPairs(t *testing.T) {
	t.Parallel()
	base := func() ports.Config {
		return ports.Config{Currency: "EUR", BasePoints: 1, BasePerMinor: 100, Rounding: "down", Expiry: "fixed", ExpiryMonths: 12,
			ExpiryRoundTo: "none", InactivityMonths: 18, TimeZone: "UTC", RedeemPoints: 100, RedeemValueMinor: 100, DebtPolicy: "allow_negative",
			HoldTTL: 15 * time.Minute, CouponValidity: time.Hour, JobInterval: time.Minute, OrderBatchSize: 500, Consumers: 1}
	}
	tests := []struct {
		name    string
		orders  []string
		wantErr string
	}{
		{"pairs parse", []string{"10:100", " 50:500 "}, ""},
		{"no milestones is fine", nil, ""},
		{"a missing colon is refused", []string{"10"}, "LOYALTY_ORDER_MILESTONES"},
		{"a zero threshold is refused", []string{"0:10"}, "LOYALTY_ORDER_MILESTONES"},
		{"words are refused", []string{"ten:100"}, "LOYALTY_ORDER_MILESTONES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			c.OrderMilestones = tt.orders
			cfg, err := c.App()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("expected a valid configuration, got %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("expected an error naming %s, got %v", tt.wantErr, err)
			case tt.wantErr == "" && len(cfg.Recognition.OrderMilestones) != len(tt.orders):
				t.Errorf("expected %d milestones, got %v", len(tt.orders), cfg.Recognition.OrderMilestones)
			}
		})
	}
}
