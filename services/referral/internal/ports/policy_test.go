package ports

import (
	"testing"

	"github.com/affinity-platform/affinity/pkg/platform"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
)

func TestEveryRPCHasAnAccessRule(t *testing.T) {
	t.Parallel()
	sd := referralv1.File_referral_v1_referral_service_proto.Services().ByName("ReferralService")
	if sd == nil {
		t.Fatal("ReferralService not found in the generated descriptor")
	}
	if err := platform.CheckPolicy(sd, Policy()); err != nil {
		t.Errorf("policy does not cover the contract:\n%v", err)
	}
}
