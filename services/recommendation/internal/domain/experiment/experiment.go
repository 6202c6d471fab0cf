// Package experiment runs A/B tests on recommendation strategies: a marketer
// splits traffic of a placement into weighted variants (each a strategy and
// parameters), customers land in a variant by a stable hash of experiment and
// customer id (the same customer always sees the same variant, on every pod,
// without storing an assignment), and impressions, clicks and conversions
// per variant give CTR, conversion rate and a significance test against the
// control.
package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Buckets is the resolution of traffic splits: weights are shares of 10,000,
// so a split can be as fine as 0.01%.
const Buckets = 10_000

// Variant is one arm of an experiment.
type Variant struct {
	Name string
	// Weight is the variant's share of traffic; weights need not sum to
	// Buckets, they are relative.
	Weight int
	// Strategy overrides the request's strategy when set.
	Strategy string
	// Params are strategy parameters (for example "alpha": "0.7") that the
	// app layer applies; the domain keeps them opaque.
	Params map[string]string
}

// Experiment splits one placement's traffic.
type Experiment struct {
	ID        string
	Placement string
	// Variants; the first is the control that Compare measures against.
	Variants []Variant
	Start    time.Time
	// End is exclusive; zero means open-ended.
	End time.Time
}

// Validate checks an experiment definition from the marketer API.
func (e Experiment) Validate() error {
	if err := domain.ValidateID("id", e.ID); err != nil {
		return err
	}
	if len(e.Variants) < 2 {
		return domain.Invalid("variants", fmt.Sprintf("need at least two variants (a control and a treatment), got %d", len(e.Variants)))
	}
	seen := make(map[string]bool, len(e.Variants))
	total := 0
	for i, v := range e.Variants {
		if err := domain.ValidateID(fmt.Sprintf("variants[%d].name", i), v.Name); err != nil {
			return err
		}
		if seen[v.Name] {
			return domain.Invalid(fmt.Sprintf("variants[%d].name", i), fmt.Sprintf("duplicate variant name %q", v.Name))
		}
		seen[v.Name] = true
		if v.Weight < 0 {
			return domain.Invalid(fmt.Sprintf("variants[%d].weight", i), fmt.Sprintf("must not be negative, got %d", v.Weight))
		}
		total += v.Weight
	}
	if total <= 0 || total > Buckets*100 {
		return domain.Invalid("variants", fmt.Sprintf("weights must sum to between 1 and %d, got %d", Buckets*100, total))
	}
	if !e.End.IsZero() && !e.End.After(e.Start) {
		return domain.Invalid("end", "must be after start")
	}
	return nil
}

// Active reports whether the experiment runs at now.
func (e Experiment) Active(now time.Time) bool {
	return !now.Before(e.Start) && (e.End.IsZero() || now.Before(e.End))
}

// Bucket maps a customer to [0, Buckets) for this experiment. SHA-256 rather
// than a fast hash because assignments must be uniform and uncorrelated
// across experiments (the experiment id salts it), and it runs once per
// request.
func (e Experiment) Bucket(customerID string) int {
	h := sha256.New()
	h.Write([]byte(e.ID))
	h.Write([]byte{0})
	h.Write([]byte(customerID))
	var sum [sha256.Size]byte
	return int(binary.BigEndian.Uint64(h.Sum(sum[:0])[:8]) % Buckets)
}

// Assign returns the customer's variant. It is stable: the same experiment
// and customer always give the same variant. Changing weights moves only
// the customers whose bucket crosses a boundary.
func (e Experiment) Assign(customerID string) Variant {
	total := 0
	for _, v := range e.Variants {
		total += v.Weight
	}
	if total <= 0 {
		return e.Variants[0]
	}
	// Scale the bucket to the total weight so any weights work.
	point := int(int64(e.Bucket(customerID)) * int64(total) / Buckets)
	for _, v := range e.Variants {
		if point < v.Weight {
			return v
		}
		point -= v.Weight
	}
	return e.Variants[len(e.Variants)-1]
}

// Counts are a variant's recorded feedback.
type Counts struct {
	Impressions int64
	Clicks      int64
	Conversions int64
}

// CTR is clicks per impression (0 without impressions).
func (c Counts) CTR() float64 { return ratio(c.Clicks, c.Impressions) }

// ConversionRate is conversions per impression.
func (c Counts) ConversionRate() float64 { return ratio(c.Conversions, c.Impressions) }

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Comparison is a treatment's CTR against the control's.
type Comparison struct {
	// Lift is treatment CTR / control CTR - 1 (0 when the control has no clicks).
	Lift float64
	// Z is the two-proportion z statistic; PValue is two-sided.
	Z, PValue float64
	// Significant says PValue < 0.05, the conventional threshold marketers
	// expect; the raw p-value is there for anyone who wants another.
	Significant bool
}

// Compare runs a two-proportion z-test on CTR. With no impressions on
// either side, or no clicks at all, it reports no difference.
func Compare(control, treatment Counts) Comparison {
	n1, n2 := float64(control.Impressions), float64(treatment.Impressions)
	if n1 <= 0 || n2 <= 0 {
		return Comparison{PValue: 1}
	}
	p1, p2 := control.CTR(), treatment.CTR()
	var c Comparison
	if p1 > 0 {
		c.Lift = p2/p1 - 1
	}
	p := float64(control.Clicks+treatment.Clicks) / (n1 + n2)
	se := math.Sqrt(p * (1 - p) * (1/n1 + 1/n2))
	if se == 0 {
		c.PValue = 1
		return c
	}
	c.Z = (p2 - p1) / se
	c.PValue = math.Erfc(math.Abs(c.Z) / math.Sqrt2)
	c.Significant = c.PValue < 0.05
	return c
}

// Repository stores experiments and their feedback counts.
type Repository interface {
	// Active returns the experiments running at now for a placement.
	Active(ctx context.Context, placement string, now time.Time) ([]Experiment, error)
	Save(ctx context.Context, e Experiment) error
	// Record adds feedback for one variant, idempotent on eventID.
	Record(ctx context.Context, eventID, experimentID, variant string, delta Counts) error
	Counts(ctx context.Context, experimentID string) (map[string]Counts, error)
}
