package experiment

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

func exp(weights ...int) Experiment {
	e := Experiment{ID: "pdp-alpha", Placement: "product_page", Start: time.Unix(0, 0)}
	for i, w := range weights {
		e.Variants = append(e.Variants, Variant{Name: fmt.Sprintf("v%d", i), Weight: w})
	}
	return e
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		e     Experiment
		field string
	}{
		{"a fifty-fifty split is valid", exp(50, 50), ""},
		{"a single variant is rejected", exp(100), "variants"},
		{"all-zero weights are rejected", exp(0, 0), "variants"},
		{"a negative weight is rejected", exp(50, -1), "variants[1].weight"},
		{"duplicate variant names are rejected", func() Experiment { e := exp(1, 1); e.Variants[1].Name = "v0"; return e }(), "variants[1].name"},
		{"an end before the start is rejected", func() Experiment { e := exp(1, 1); e.End = e.Start.Add(-time.Hour); return e }(), "end"},
		{"a malformed id is rejected", func() Experiment { e := exp(1, 1); e.ID = "has space"; return e }(), "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.e.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("expected valid, got %v", err)
				}
				return
			}
			if err == nil || !containsField(err, tc.field) {
				t.Fatalf("expected an error on field %q, got %v", tc.field, err)
			}
		})
	}
}

func containsField(err error, field string) bool {
	var ve *domain.ValidationError
	return errors.As(err, &ve) && ve.Field == field
}

func TestAssignmentIsStableAndFollowsTheWeights(t *testing.T) {
	t.Parallel()
	e := exp(80, 20)
	counts := map[string]int{}
	const n = 20_000
	for i := range n {
		id := fmt.Sprintf("customer-%d", i)
		v := e.Assign(id)
		if again := e.Assign(id); again.Name != v.Name {
			t.Fatalf("expected a stable assignment for %s, got %s then %s", id, v.Name, again.Name)
		}
		counts[v.Name]++
	}
	share := float64(counts["v1"]) / n
	if math.Abs(share-0.2) > 0.015 {
		t.Fatalf("expected about 20%% in v1, got %.3f", share)
	}
}

func TestDifferentExperimentsAssignIndependently(t *testing.T) {
	t.Parallel()
	a, b := exp(50, 50), exp(50, 50)
	b.ID = "cart-beta"
	same := 0
	const n = 10_000
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		if a.Assign(id).Name == b.Assign(id).Name {
			same++
		}
	}
	if r := float64(same) / n; math.Abs(r-0.5) > 0.03 {
		t.Fatalf("expected about half of customers to share a variant name by chance, got %.3f", r)
	}
}

func TestActiveWindow(t *testing.T) {
	t.Parallel()
	e := exp(1, 1)
	e.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.End = e.Start.Add(24 * time.Hour)
	cases := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before the start it is inactive", e.Start.Add(-time.Second), false},
		{"at the start it is active", e.Start, true},
		{"at the end it is inactive", e.End, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := e.Active(tc.at); got != tc.want {
				t.Fatalf("expected %v, got %v", tc.want, got)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		control     Counts
		treatment   Counts
		significant bool
		lift        float64
	}{
		{"a large clear win is significant", Counts{Impressions: 10_000, Clicks: 300}, Counts{Impressions: 10_000, Clicks: 450}, true, 0.5},
		{"a small sample is not significant", Counts{Impressions: 100, Clicks: 3}, Counts{Impressions: 100, Clicks: 5}, false, 2.0 / 3},
		{"no impressions report no difference", Counts{}, Counts{Impressions: 10, Clicks: 1}, false, 0},
		{"no clicks at all report no difference", Counts{Impressions: 10}, Counts{Impressions: 10}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Compare(tc.control, tc.treatment)
			if got.Significant != tc.significant || math.Abs(got.Lift-tc.lift) > 1e-9 {
				t.Fatalf("expected significant=%v lift=%v, got %+v", tc.significant, tc.lift, got)
			}
		})
	}
}

func TestRates(t *testing.T) {
	t.Parallel()
	c := Counts{Impressions: 200, Clicks: 10, Conversions: 2}
	if c.CTR() != 0.05 || c.ConversionRate() != 0.01 {
		t.Fatalf("expected CTR 0.05 and conversion 0.01, got %v and %v", c.CTR(), c.ConversionRate())
	}
	if (Counts{}).CTR() != 0 {
		t.Fatalf("expected CTR 0 without impressions")
	}
}
