package ports

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// FuzzCreateMerchandisingRuleRequest decodes arbitrary bytes as a request
// and checks that validation never panics, answers only InvalidArgument,
// and that a rule the domain accepts never makes the engine configuration
// invalid: otherwise one marketer's rule would stop every replica from
// applying any later change.
func FuzzCreateMerchandisingRuleRequest(f *testing.F) {
	for _, r := range []*recommendationv1.CreateMerchandisingRuleRequest{
		{IdempotencyKey: "k", Rule: &recommendationv1.MerchandisingRule{Name: "push", Kind: recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_BOOST, ProductIds: []string{"A"}, Multiplier: 2}},
		{IdempotencyKey: "k", Rule: &recommendationv1.MerchandisingRule{Name: "m", Kind: recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_MARGIN_BOOST, MarginWeight: 1,
			StartTime: timestamppb.New(time.Unix(0, 0)), EndTime: timestamppb.New(time.Unix(10, 0))}},
		{Rule: &recommendationv1.MerchandisingRule{Kind: 7, Categories: []string{"/"}, Multiplier: -1, SegmentId: "a b"}},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req recommendationv1.CreateMerchandisingRuleRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if err := validateCreateMerchandisingRule(&req); err != nil {
			if st, ok := status.FromError(err); !ok || st.Code() != codes.InvalidArgument {
				t.Fatalf("validator error %v is not InvalidArgument", err)
			}
			return
		}
		r := ruleFromProto(req.GetRule())
		if err := r.Validate(); err != nil {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("rule error %v is not a validation error", err)
			}
			return
		}
		r.Updated = now
		cfg, _ := recommend.WithRules(recommend.DefaultConfig(), []recommend.Rule{r}, now)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted rule %+v makes the configuration invalid: %v", r, err)
		}
	})
}
