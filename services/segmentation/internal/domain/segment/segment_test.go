package segment

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func ago(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }

func compiler(t testing.TB) *Compiler {
	t.Helper()
	c, err := NewCompiler()
	if err != nil {
		t.Fatalf("expected a compiler, got %v", err)
	}
	return c
}

func sampleInput() *Input {
	return &Input{
		CustomerID: "c1",
		Now:        now,
		Traits: profile.Traits{
			Currency: "EUR", OrderCount: 4, TotalSpend: 420_00, AverageOrderValue: 105_00, RecencyDays: 5,
			Lifecycle: profile.StageActive, Tier: "gold", Country: "DE", ChurnRisk: 0.1, ProbAlive: 0.9,
			RFM:                 profile.RFMScore{R: 5, F: 4, M: 5, Group: "Champions"},
			Consents:            map[string]bool{"email": true},
			Attributes:          map[string]string{"plan": "pro"},
			NPS:                 profile.SurveyTrait{Latest: 9, Count: 2, Trend: profile.TrendUp},
			FavouriteCategories: []string{"garden", "books"},
		},
		Orders: []profile.OrderFact{
			{ID: "o1", At: ago(400), Net: 100_00, Categories: map[string]int64{"books": 100_00}},
			{ID: "o2", At: ago(120), Net: 120_00, Categories: map[string]int64{"garden": 120_00}},
			{ID: "o3", At: ago(30), Net: 100_00, Categories: map[string]int64{"garden": 60_00, "books": 40_00}},
			{ID: "o4", At: ago(5), Net: 100_00, Categories: map[string]int64{"garden": 100_00}},
		},
		Interactions: []profile.Interaction{
			{EventID: "i1", Kind: profile.KindView, At: ago(10), Category: "garden"},
			{EventID: "i2", Kind: profile.KindView, At: ago(2), Category: "books"},
			{EventID: "i3", Kind: profile.KindAddToCart, At: ago(1), SKU: "x", Category: "garden"},
		},
		Segments: map[string]bool{"vip": true},
	}
}

func TestRulesEvaluateAsWritten(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		rule string
		want bool
	}{
		{`order_count >= 3 && total_spend > 40000`, true},
		{`orders.count() == 4`, true},
		{`orders.count(days(90)) == 2`, true},
		{`orders.count(days(30)) == 2`, true}, // the window includes its start
		{`orders.count("garden", days(180)) == 3`, true},
		{`orders.count("books", days(90)) == 1`, true},
		{`spend.sum(days(90)) == 20000`, true},
		{`spend.sum("garden", days(180)) > 20000`, true},
		{`spend.sum("garden", duration("2400h")) == 16000`, true},
		{`spend.sum() == 42000`, true},
		{`interactions.count("view", days(7)) == 1`, true},
		{`interactions.count("view", "garden", days(30)) == 1`, true},
		{`interactions.count("add_to_cart", hours(48)) == 1`, true},
		{`in_segment("vip") && !in_segment("other")`, true},
		{`in_rfm_group("Champions") && rfm_group == "Champions" && rfm_m == 5`, true},
		{`in_rfm_group("Lost")`, false},
		{`consents.?email.orValue(false) && !consents.?sms.orValue(false)`, true},
		{`attributes.?plan.orValue("") == "pro"`, true},
		{`"garden" in favourite_categories`, true},
		{`tier in ["gold", "platinum"] && country == "DE"`, true},
		{`nps >= 9 && nps_trend == "up" && csat == -1`, true},
		{`now - last_order_at > duration("1h") || order_count > 0`, true},
		{`lifecycle == "lapsed" || (churn_risk < 0.5 && !(recency_days > 30))`, true},
		{`order_count >= 10`, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			r, err := c.Compile(tt.rule)
			if err != nil {
				t.Fatalf("expected the rule to compile, got %v", err)
			}
			got, err := r.Eval(sampleInput())
			if err != nil || got != tt.want {
				t.Errorf("expected %v, got %v (err %v)", tt.want, got, err)
			}
		})
	}
}

func TestRuleAnalysisFindsReadsSegmentsAndTimeDependence(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		rule      string
		reads     []string
		segments  []string
		timeDep   bool
		maxWindow time.Duration
	}{
		{`order_count >= 3 && tier == "gold"`, []string{"order_count", "tier"}, nil, false, 0},
		{`recency_days > 30`, []string{"recency_days"}, nil, true, 0},
		{`orders.count(days(90)) >= 3 && spend.sum("garden", days(180)) > 20000`, []string{"orders", "spend"}, nil, true, 180 * 24 * time.Hour},
		{`orders.count() >= 3`, []string{"orders"}, nil, false, 0},
		{`in_segment("vip") || in_segment("big-spenders")`, nil, []string{"big-spenders", "vip"}, false, 0},
		{`in_rfm_group("Champions")`, []string{"rfm_group"}, nil, false, 0},
		{`consents.?email.orValue(false)`, []string{"consents"}, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			r, err := c.Compile(tt.rule)
			if err != nil {
				t.Fatalf("expected the rule to compile, got %v", err)
			}
			if !slices.Equal(r.Reads(), tt.reads) || !slices.Equal(r.Segments(), tt.segments) || r.TimeDependent() != tt.timeDep || r.MaxWindow() != tt.maxWindow {
				t.Errorf("expected reads %v, segments %v, time-dependent %v, window %v; got %v, %v, %v, %v",
					tt.reads, tt.segments, tt.timeDep, tt.maxWindow, r.Reads(), r.Segments(), r.TimeDependent(), r.MaxWindow())
			}
		})
	}
}

func TestRuleErrorsNameTheirPosition(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		name    string
		rule    string
		line    int
		column  int
		message string
	}{
		{"unknown trait", `order_count > 1 && favourite_colour == "red"`, 1, 20, "undeclared reference"},
		{"syntax error on the second line", "order_count > 1 &&\n  tier == ", 2, 11, "Syntax error"},
		{"comparing a number with a string", `total_spend > "100"`, 1, 13, "no matching overload"},
		{"not a condition", `total_spend + 1`, 1, 1, "must be a condition"},
		{"segment id must be a literal", `in_segment(tier)`, 1, 12, "string literal"},
		{"invalid segment id", `in_segment("Not Valid")`, 1, 12, "not a valid segment id"},
		{"unknown RFM group", `in_rfm_group("Heroes")`, 1, 14, "not an RFM group"},
		{"window too long", `orders.count(days(10000)) > 1`, 1, 14, "at most 730 days"},
		{"negative window", `spend.sum(days(-1)) > 1`, 1, 11, "positive"},
		{"window must be a literal", `orders.count(days(order_count)) > 1`, 1, 14, "window must be"},
		{"empty rule", "   ", 1, 1, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Compile(tt.rule)
			var ce *CompileError
			if !errors.As(err, &ce) || len(ce.Issues) == 0 {
				t.Fatalf("expected a CompileError, got %v", err)
			}
			is := ce.Issues[0]
			if is.Line != tt.line || is.Column != tt.column || !strings.Contains(is.Message, tt.message) {
				t.Errorf("expected %d:%d containing %q, got %s", tt.line, tt.column, tt.message, is)
			}
		})
	}
}

func TestARunawayRuleIsRejectedByTheCostLimit(t *testing.T) {
	t.Parallel()
	list := "[0,1,2,3,4,5,6,7,8,9]"
	rule := "true"
	for _, v := range []string{"a", "b", "c", "d", "e", "f"} {
		rule = list + ".all(" + v + ", " + rule + ")"
	}
	_, err := compiler(t).Compile(rule)
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Issues[0].Message, "too expensive") {
		t.Errorf("expected a million iterations to be rejected as too expensive, got %v", err)
	}
	if _, err := compiler(t).Compile(`favourite_categories.exists(c, c in channels_used)`); err != nil {
		t.Errorf("expected a comprehension over bounded variables to be accepted, got %v", err)
	}
}

func TestEveryTemplateCompiles(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	seen := map[string]bool{}
	for _, tpl := range Templates {
		s := Segment{ID: tpl.ID, Name: tpl.Name, Description: tpl.Description, Rule: tpl.Rule}
		if _, err := s.Validate(c); err != nil {
			t.Errorf("template %s: expected a valid segment, got %v", tpl.ID, err)
		}
		if seen[tpl.ID] {
			t.Errorf("template %s: expected unique ids, got a duplicate", tpl.ID)
		}
		seen[tpl.ID] = true
	}
}

func TestSegmentValidationNamesTheField(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		name  string
		seg   Segment
		field string
	}{
		{"upper-case id", Segment{ID: "VIP", Name: "x", Rule: "true"}, "id"},
		{"empty name", Segment{ID: "vip", Name: " ", Rule: "true"}, "name"},
		{"long description", Segment{ID: "vip", Name: "x", Description: strings.Repeat("x", 2001), Rule: "true"}, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.seg.Validate(c)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Errorf("expected a ValidationError on %s, got %v", tt.field, err)
			}
		})
	}
	if _, err := (Segment{ID: "a", Name: "a", Rule: `in_segment("a")`}).Validate(c); !errors.Is(err, ErrCycle) {
		t.Errorf("expected a self-reference to be a cycle, got %v", err)
	}
}

func mustGraph(t *testing.T, c *Compiler, src map[string]string) (*Graph, error) {
	t.Helper()
	rules := map[string]*Rule{}
	for id, s := range src {
		r, err := c.Compile(s)
		if err != nil {
			t.Fatalf("segment %s: expected the rule to compile, got %v", id, err)
		}
		rules[id] = r
	}
	return NewGraph(rules)
}

func TestGraphOrdersDependenciesAndRejectsCyclesAndUnknownSegments(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	tests := []struct {
		name    string
		src     map[string]string
		wantErr error
		order   []string
	}{
		{"chain", map[string]string{"a": `in_segment("b")`, "b": `in_segment("c")`, "c": `order_count > 1`}, nil, []string{"c", "b", "a"}},
		{"independent segments in id order", map[string]string{"y": `true`, "x": `false`}, nil, []string{"x", "y"}},
		{"cycle", map[string]string{"a": `in_segment("b")`, "b": `in_segment("a")`}, ErrCycle, nil},
		{"unknown segment", map[string]string{"a": `in_segment("ghost")`}, ErrUnknownSegment, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := mustGraph(t, c, tt.src)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected error %v, got %v", tt.wantErr, err)
			}
			if err == nil && !slices.Equal(g.Order(), tt.order) {
				t.Errorf("expected order %v, got %v", tt.order, g.Order())
			}
		})
	}
}

func TestARefundMovesACustomerOutOfOnlyTheAffectedSegments(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	g, err := mustGraph(t, c, map[string]string{
		"big-spenders":  `total_spend >= 40000`,
		"vip":           `in_segment("big-spenders") && tier == "gold"`,
		"germans":       `country == "DE"`,
		"recent-garden": `spend.sum("garden", days(30)) > 0`,
	})
	if err != nil {
		t.Fatalf("expected a graph, got %v", err)
	}
	before := sampleInput()
	before.Segments = map[string]bool{}
	was, err := g.Evaluate(before, nil)
	if err != nil {
		t.Fatalf("expected no evaluation errors, got %v", err)
	}
	wantWas := map[string]bool{"big-spenders": true, "vip": true, "germans": true, "recent-garden": true}
	if !reflect.DeepEqual(was, wantWas) {
		t.Fatalf("expected %v, got %v", wantWas, was)
	}

	// The latest order is refunded in full: it disappears from the facts
	// and the spend falls below the threshold.
	after := sampleInput()
	after.Traits.TotalSpend, after.Traits.OrderCount = 320_00, 3
	after.Orders = after.Orders[:3]
	after.Segments = was
	changed := Changed(before, after)
	if want := []string{"order_count", "orders", "spend", "total_spend"}; !slices.Equal(changed, want) {
		t.Fatalf("expected changed variables %v, got %v", want, changed)
	}
	scope := g.Affected(changed)
	if want := []string{"big-spenders", "recent-garden", "vip"}; !slices.Equal(scope, want) {
		t.Fatalf("expected affected segments %v, got %v", want, scope)
	}
	now, err := g.Evaluate(after, scope)
	if err != nil {
		t.Fatalf("expected no evaluation errors, got %v", err)
	}
	got := Diff("c1", was, now, scope, after.Now)
	want := []Change{
		{SegmentID: "big-spenders", CustomerID: "c1", Entered: false, At: after.Now},
		{SegmentID: "vip", CustomerID: "c1", Entered: false, At: after.Now},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expected changes %+v, got %+v", want, got)
	}
	if again := Diff("c1", now, now, scope, after.Now); len(again) != 0 {
		t.Errorf("expected no changes when nothing moved, got %+v", again)
	}
	if td := g.TimeDependent(); !slices.Equal(td, []string{"recent-garden"}) {
		t.Errorf("expected only recent-garden to need scheduled re-evaluation, got %v", td)
	}
}

func TestReevaluateAnnouncesEachChangeOnceAndRecomputeCatchesTheClock(t *testing.T) {
	t.Parallel()
	c := compiler(t)
	g, err := mustGraph(t, c, map[string]string{
		"big-spenders": `total_spend >= 40000`,
		"vip":          `in_segment("big-spenders") && tier == "gold"`,
		"recent":       `recency_days <= 30`,
	})
	if err != nil {
		t.Fatalf("expected a graph, got %v", err)
	}
	before := sampleInput()
	before.Traits.TotalSpend = 100_00
	before.Segments = map[string]bool{"recent": true}
	after := sampleInput()
	after.Segments = nil // the stored set travels in before

	changes, set, err := g.Reevaluate(before, after)
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	want := []Change{{SegmentID: "big-spenders", CustomerID: "c1", Entered: true, At: now}, {SegmentID: "vip", CustomerID: "c1", Entered: true, At: now}}
	if !reflect.DeepEqual(changes, want) || !reflect.DeepEqual(set, map[string]bool{"big-spenders": true, "vip": true, "recent": true}) {
		t.Fatalf("expected %+v and three memberships, got %+v and %v", want, changes, set)
	}
	// The same event delivered again changes nothing and announces nothing.
	again := sampleInput()
	again.Segments = set
	if changes, _, _ := g.Reevaluate(again, sampleInput()); len(changes) != 0 {
		t.Errorf("expected no changes for a redelivered event, got %+v", changes)
	}
	// Two months later with no event: only the scheduled pass notices.
	later := sampleInput()
	later.Segments = set
	later.Now = now.Add(60 * 24 * time.Hour)
	later.Traits.RecencyDays = 65
	changes, _, err = g.Recompute(later, g.TimeDependent())
	wantLater := []Change{{SegmentID: "recent", CustomerID: "c1", Entered: false, At: later.Now}}
	if err != nil || !reflect.DeepEqual(changes, wantLater) {
		t.Errorf("expected %+v, got %+v (err %v)", wantLater, changes, err)
	}
}

func TestPreviewCountsMembersAndSamplesInInputOrder(t *testing.T) {
	t.Parallel()
	r, err := compiler(t).Compile(`total_spend >= 10000 && attributes["plan"] == "pro"`)
	if err != nil {
		t.Fatalf("expected the rule to compile, got %v", err)
	}
	inputs := func(yield func(*Input) bool) {
		for i := range 10 {
			in := &Input{CustomerID: fmt.Sprint("c", i), Now: now}
			in.Traits.TotalSpend = int64(i) * 50_00
			if i != 9 {
				in.Traits.Attributes = map[string]string{"plan": "pro"}
			}
			if !yield(in) {
				return
			}
		}
	}
	got := Preview(r, inputs, 3)
	want := PreviewResult{Size: 7, Sample: []string{"c2", "c3", "c4"}, Errors: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expected %+v, got %+v", want, got)
	}
}

func FuzzCompile(f *testing.F) {
	for _, tpl := range Templates {
		f.Add(tpl.Rule)
	}
	for _, s := range []string{`orders.count(days(90)) >= 3`, `spend.sum("garden", days(180)) > 200`, `in_segment("vip")`, "a &&\n b", `"\u00ff" == country`, `orders.count(duration("-5s")) > 0`, `[1,2].all(x, x > 0)`} {
		f.Add(s)
	}
	c := compiler(f)
	f.Fuzz(func(t *testing.T, src string) {
		r, err := c.Compile(src)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				return // planning errors are plain errors; they must not panic
			}
			for _, is := range ce.Issues {
				if is.Line < 1 || is.Column < 1 || is.Message == "" {
					t.Fatalf("expected issues with a position and a message, got %+v", is)
				}
			}
			return
		}
		if r.MaxWindow() < 0 || r.MaxWindow() > MaxWindow {
			t.Fatalf("expected a window within bounds, got %v", r.MaxWindow())
		}
		// Compiled rules must evaluate without panicking on any input.
		_, _ = r.Eval(sampleInput())
		_, _ = r.Eval(&Input{Now: now})
	})
}

// BenchmarkEvaluateTwentySegments measures one profile's full recompute
// against 20 typical segments; ×1,000,000 gives the full-recompute time.
func BenchmarkEvaluateTwentySegments(b *testing.B) {
	c := compiler(b)
	src := map[string]string{}
	base := []string{
		`order_count >= 3 && total_spend > 40000`,
		`orders.count(days(90)) >= 3`,
		`spend.sum("garden", days(180)) > 20000`,
		`in_rfm_group("Champions")`,
		`lifecycle == "lapsed" && total_spend >= 50000`,
		`churn_risk >= 0.8 && order_count >= 2`,
		`consents.?email.orValue(false) && has_abandoned_cart`,
		`tier in ["gold", "platinum"] && country == "DE"`,
		`interactions.count("view", "garden", days(30)) >= 2`,
		`nps >= 0 && nps <= 6`,
	}
	for i := range 20 {
		src[fmt.Sprintf("s%02d", i)] = base[i%len(base)]
	}
	rules := map[string]*Rule{}
	for id, s := range src {
		r, err := c.Compile(s)
		if err != nil {
			b.Fatal(err)
		}
		rules[id] = r
	}
	g, err := NewGraph(rules)
	if err != nil {
		b.Fatal(err)
	}
	in := sampleInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Evaluate(in, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	c := compiler(b)
	for b.Loop() {
		if _, err := c.Compile(`orders.count(days(90)) >= 3 && spend.sum("garden", days(180)) > 20000 && in_rfm_group("Champions")`); err != nil {
			b.Fatal(err)
		}
	}
}
