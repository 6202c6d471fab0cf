package ports

import (
	"testing"

	"github.com/affinity-platform/affinity/pkg/platform"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
)

func TestEveryRPCHasAnAccessRule(t *testing.T) {
	t.Parallel()
	sd := segmentationv1.File_segmentation_v1_segmentation_service_proto.Services().ByName("SegmentationService")
	if sd == nil {
		t.Fatal("SegmentationService not found in the generated descriptor")
	}
	if err := platform.CheckPolicy(sd, Policy()); err != nil {
		t.Errorf("policy does not cover the contract:\n%v", err)
	}
}
