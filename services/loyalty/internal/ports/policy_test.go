package ports

import (
	"testing"

	"github.com/affinity-platform/affinity/pkg/platform"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestEveryRPCHasAnAccessRule(t *testing.T) {
	t.Parallel()
	sd := loyaltyv1.File_loyalty_v1_loyalty_service_proto.Services().ByName("LoyaltyService")
	if sd == nil {
		t.Fatal("LoyaltyService not found in the generated descriptor")
	}
	if err := platform.CheckPolicy(sd, Policy()); err != nil {
		t.Errorf("policy does not cover the contract:\n%v", err)
	}
}
