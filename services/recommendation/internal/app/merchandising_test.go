package app

import (
	"errors"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

func TestStoredRulesFoldIntoTheEngineConfiguration(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := recommend.DefaultConfig()
	base.MarginBoost = 0.2
	base.Boosts = []recommend.Boost{{Name: "operator", ProductIDs: []string{"op"}, Multiplier: 2}}
	boost := recommend.Rule{Name: "push", Kind: recommend.RuleBoost, ProductIDs: []string{"p"}, Multiplier: 3}
	margin := func(w float64, updated time.Time, from, until time.Time) recommend.Rule {
		return recommend.Rule{Name: "margin", Kind: recommend.RuleMarginBoost, MarginWeight: w, Updated: updated, From: from, Until: until}
	}
	cases := []struct {
		name       string
		rules      []recommend.Rule
		wantBoosts []string
		wantMargin float64
		wantNext   time.Time
	}{
		{"no rules keep the environment's configuration", nil, []string{"operator"}, 0.2, time.Time{}},
		{"a boost rule is added before the operator's", []recommend.Rule{boost}, []string{"push", "operator"}, 0.2, time.Time{}},
		{"a paused boost is left out", []recommend.Rule{{Name: "push", Kind: recommend.RuleBoost, ProductIDs: []string{"p"}, Multiplier: 3, Paused: true}}, []string{"operator"}, 0.2, time.Time{}},
		{"the newest active margin rule wins", []recommend.Rule{margin(1, now.Add(-time.Hour), time.Time{}, time.Time{}), margin(2, now.Add(-time.Minute), time.Time{}, time.Time{})}, []string{"operator"}, 2, time.Time{}},
		{"a margin rule that has not started does not apply, and its start is the next recompute",
			[]recommend.Rule{margin(5, now, now.Add(time.Hour), time.Time{})}, []string{"operator"}, 0.2, now.Add(time.Hour)},
		{"a running margin rule applies until its end, the next recompute",
			[]recommend.Rule{margin(5, now, now.Add(-time.Hour), now.Add(2*time.Hour))}, []string{"operator"}, 5, now.Add(2 * time.Hour)},
		{"an ended margin rule does not apply", []recommend.Rule{margin(5, now, now.Add(-2*time.Hour), now.Add(-time.Hour))}, []string{"operator"}, 0.2, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, next := recommend.WithRules(base, c.rules, now)
			var names []string
			for _, b := range cfg.Boosts {
				names = append(names, b.Name)
			}
			if len(names) != len(c.wantBoosts) {
				t.Fatalf("boosts %v, want %v", names, c.wantBoosts)
			}
			for i := range names {
				if names[i] != c.wantBoosts[i] {
					t.Errorf("boosts %v, want %v", names, c.wantBoosts)
				}
			}
			if cfg.MarginBoost != c.wantMargin {
				t.Errorf("margin boost %v, want %v", cfg.MarginBoost, c.wantMargin)
			}
			if !next.Equal(c.wantNext) {
				t.Errorf("next recompute %v, want %v", next, c.wantNext)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("folded configuration is invalid: %v", err)
			}
		})
	}
	if len(base.Boosts) != 1 {
		t.Errorf("the base configuration was changed: %v", base.Boosts)
	}
}

func TestRuleValidationNamesTheField(t *testing.T) {
	t.Parallel()
	ok := recommend.Rule{Name: "push", Kind: recommend.RuleBoost, Categories: []string{"Garden"}, Multiplier: 2}
	cases := []struct {
		name   string
		mutate func(*recommend.Rule)
		field  string
	}{
		{"a valid boost", func(*recommend.Rule) {}, ""},
		{"a burying boost below 1", func(r *recommend.Rule) { r.Multiplier = 0.1 }, ""},
		{"a valid margin rule", func(r *recommend.Rule) {
			*r = recommend.Rule{Name: "m", Kind: recommend.RuleMarginBoost, MarginWeight: 1}
		}, ""},
		{"a blank name", func(r *recommend.Rule) { r.Name = " " }, "name"},
		{"no kind", func(r *recommend.Rule) { r.Kind = recommend.RuleUnspecified }, "kind"},
		{"a multiplier above 100", func(r *recommend.Rule) { r.Multiplier = 101 }, "multiplier"},
		{"a malformed segment", func(r *recommend.Rule) { r.Segment = "a b" }, "segment_id"},
		{"an empty category", func(r *recommend.Rule) { r.Categories = []string{"/"} }, "categories[0]"},
		{"a boost with a margin weight", func(r *recommend.Rule) { r.MarginWeight = 1 }, "margin_weight"},
		{"a margin rule targeting a tier", func(r *recommend.Rule) {
			*r = recommend.Rule{Name: "m", Kind: recommend.RuleMarginBoost, MarginWeight: 1, Tier: "gold"}
		}, "product_ids"},
		{"a margin weight above 10", func(r *recommend.Rule) {
			*r = recommend.Rule{Name: "m", Kind: recommend.RuleMarginBoost, MarginWeight: 11}
		}, "margin_weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			c.mutate(&r)
			err := r.Validate()
			var ve *domain.ValidationError
			switch {
			case c.field == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field):
				t.Errorf("got %v, want a violation of %q", err, c.field)
			}
		})
	}
}

func TestAVariantsParametersApplyToTheRequest(t *testing.T) {
	t.Parallel()
	r := applyParams(recommend.Request{Limit: 5}, experiment.Variant{Params: map[string]string{ParamMaxPerCategory: "2"}})
	if r.MaxPerCategory != 2 || r.Limit != 5 {
		t.Errorf("request %+v, want max per category 2 and the limit kept", r)
	}
	if err := validateParams("params", map[string]string{ParamMaxPerCategory: "-1"}); err == nil {
		t.Error("a negative cap was accepted")
	}
	if err := validateParams("params", map[string]string{"alpha": "1"}); err == nil {
		t.Error("an unknown parameter was accepted")
	}
}
