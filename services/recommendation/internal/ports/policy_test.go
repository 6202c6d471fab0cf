package ports

import (
	"testing"

	"github.com/affinity-platform/affinity/pkg/platform"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
)

func TestEveryRPCHasAnAccessRule(t *testing.T) {
	t.Parallel()
	sd := recommendationv1.File_recommendation_v1_recommendation_service_proto.Services().ByName("RecommendationService")
	if sd == nil {
		t.Fatal("RecommendationService not found in the generated descriptor")
	}
	if err := platform.CheckPolicy(sd, Policy()); err != nil {
		t.Errorf("policy does not cover the contract:\n%v", err)
	}
}
