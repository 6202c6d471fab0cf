// Package segment is the segment rule language and membership logic of the
// segmentation service: rules written in CEL over a customer's traits and
// order/interaction history, compiled once, evaluated in microseconds, and
// analysed so that only the segments a profile change can affect are
// re-evaluated.
//
// # Rule language
//
// A rule is a CEL expression (https://cel.dev) that must return bool. It
// sees these variables (see Variables for the full list and types):
//
//	order_count, total_spend, average_order_value   (int; money in minor units)
//	recency_days, days_since_signup                  (int; -1 when unknown)
//	lifecycle   "prospect" | "new" | "active" | "at_risk" | "lapsed" | "won_back"
//	rfm_group   "Champions" … "Lost"; rfm_r, rfm_f, rfm_m (int 1–5, 0 = not scored)
//	churn_risk, prob_alive (double 0–1), clv (int), tier, country, …
//	consents, attributes   (maps: consents["email"], attributes.?vip.orValue(""))
//	now                     (timestamp of the evaluation)
//
// Windowed aggregates are methods on three history values. CEL has no named
// arguments, so the window is the last argument, written days(n), hours(n)
// or duration("36h"), and must be a literal (so the service knows how much
// history a rule needs):
//
//	orders.count()                         orders that count (not cancelled, not fully refunded)
//	orders.count(days(90))                 … placed in the last 90 days
//	orders.count("garden", days(90))       … with net spend in category "garden"
//	spend.sum(), spend.sum(days(180))      net spend, minor units
//	spend.sum("garden", days(180))         net spend in a category
//	interactions.count("view", days(7))    interactions of a kind
//	interactions.count("view", "garden", days(7))
//
// Membership of other segments and of RFM groups (arguments must be string
// literals, checked on save):
//
//	in_segment("vip") && !in_rfm_group("Lost")
//
// Example, "frequent gardeners" (CEL has no digit separators, so €200.00 is
// written 20000):
//
//	orders.count(days(90)) >= 3 && spend.sum("garden", days(180)) > 20000
//
// A window covers (now − window, now], inclusive of its start, and now is
// the evaluation time passed in, never the wall clock.
package segment

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
)

// MaxRuleLength bounds a rule's source; rules are typed by people and a
// longer one is a mistake or an attack on the parser.
const MaxRuleLength = 4096

// MaxWindow is the longest window a rule may use. Profiles keep at least
// this much interaction history (see profile.Profile.Compact).
const MaxWindow = 730 * 24 * time.Hour

// MaxCost bounds the worst-case work of one evaluation (CEL cost units,
// roughly one per operation). CEL always terminates, but nested
// comprehensions can still take seconds per profile; such a rule is
// rejected on save instead of stalling a full recompute.
const MaxCost = 100_000

// costEstimator tells CEL's static cost analysis how large the collection
// and string variables can be; without it every comprehension over a
// variable would count as unbounded.
type costEstimator struct{}

// EstimateSize implements checker.CostEstimator.
func (costEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	var s checker.SizeEstimate
	switch p[0] {
	case "favourite_categories", "channels_used":
		s = checker.SizeEstimate{Min: 0, Max: 64}
	case "consents", "attributes":
		s = checker.SizeEstimate{Min: 0, Max: 256}
	default:
		s = checker.SizeEstimate{Min: 0, Max: 1024} // strings
	}
	return &s
}

// EstimateCallCost implements checker.CostEstimator; the defaults suit
// every function of the language.
func (costEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// ErrEvaluation wraps a runtime failure of a rule on one profile (e.g. a
// missing map key). The customer is then treated as not a member.
var ErrEvaluation = errors.New("segment: rule evaluation failed")

// Issue is one problem in a rule, at a 1-based line and column.
type Issue struct {
	Line    int
	Column  int
	Message string
}

// String renders the issue as "line:column: message".
func (i Issue) String() string { return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message) }

// CompileError lists every problem found in a rule, each with its position,
// so the editor can underline them.
type CompileError struct {
	Issues []Issue
}

// Error implements error.
func (e *CompileError) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		parts[i] = is.String()
	}
	return "invalid rule: " + strings.Join(parts, "; ")
}

// Variable describes one name a rule can read.
type Variable struct {
	Name string
	Type *cel.Type
	// TimeDependent variables change with the clock alone, so rules that
	// read them are re-evaluated on a schedule, not only on events.
	TimeDependent bool
	Doc           string
}

var (
	ordersType       = cel.OpaqueType("affinity.segment.Orders")
	spendType        = cel.OpaqueType("affinity.segment.Spend")
	interactionsType = cel.OpaqueType("affinity.segment.Interactions")
)

// Variables is the catalog of everything a rule can read; it is also the
// reference for docs/segmentation.md.
var Variables = []Variable{
	{"order_count", cel.IntType, false, "orders that count (not cancelled, net > 0 after refunds)"},
	{"total_spend", cel.IntType, false, "net spend in minor units of the reporting currency"},
	{"average_order_value", cel.IntType, false, "total_spend / order_count"},
	{"recency_days", cel.IntType, true, "whole days since the last order, -1 without orders"},
	{"avg_days_between_orders", cel.DoubleType, false, "mean gap between orders, 0 with fewer than two"},
	{"first_order_at", cel.TimestampType, false, "time of the first order (epoch 0 without orders)"},
	{"last_order_at", cel.TimestampType, false, "time of the last order (epoch 0 without orders)"},
	{"favourite_categories", cel.ListType(cel.StringType), false, "top categories by net spend"},
	{"channels_used", cel.ListType(cel.StringType), false, "every channel seen, sorted"},
	{"preferred_channel", cel.StringType, false, "asked-for channel, else the most used"},
	{"lifecycle", cel.StringType, true, "prospect, new, active, at_risk, lapsed or won_back"},
	{"tier", cel.StringType, false, "loyalty tier"},
	{"points_balance", cel.IntType, false, "loyalty points balance"},
	{"referrals_made", cel.IntType, false, "referrals this customer made"},
	{"referrals_converted", cel.IntType, false, "of which converted"},
	{"csat", cel.IntType, false, "latest CSAT 1–7, -1 when never answered"},
	{"csat_trend", cel.StringType, false, "none, up, down or flat"},
	{"nps", cel.IntType, false, "latest NPS 0–10, -1 when never answered"},
	{"nps_trend", cel.StringType, false, "none, up, down or flat"},
	{"ces", cel.IntType, false, "latest CES 1–7, -1 when never answered"},
	{"ces_trend", cel.StringType, false, "none, up, down or flat"},
	{"rfm_r", cel.IntType, false, "RFM recency score 1–5, 0 when not scored"},
	{"rfm_f", cel.IntType, false, "RFM frequency score 1–5, 0 when not scored"},
	{"rfm_m", cel.IntType, false, "RFM monetary score 1–5, 0 when not scored"},
	{"rfm_group", cel.StringType, false, "RFM group name, empty when not scored"},
	{"churn_risk", cel.DoubleType, true, "0–1, 1 − prob_alive"},
	{"prob_alive", cel.DoubleType, true, "0–1 probability the customer is still active"},
	{"clv", cel.IntType, true, "predicted lifetime value over the model's horizon, minor units"},
	{"expected_orders", cel.DoubleType, true, "predicted orders over the model's horizon"},
	{"has_abandoned_cart", cel.BoolType, true, "a cart is left unbought"},
	{"abandoned_cart_value", cel.IntType, true, "value of that cart, minor units"},
	{"country", cel.StringType, false, "ISO 3166-1 alpha-2"},
	{"days_since_signup", cel.IntType, true, "-1 when the sign-up date is unknown"},
	{"days_until_birthday", cel.IntType, true, "0 on the birthday, -1 when unknown"},
	{"consents", cel.MapType(cel.StringType, cel.BoolType), false, "consent flags by purpose"},
	{"attributes", cel.MapType(cel.StringType, cel.StringType), false, "free-form customer attributes"},
	{"now", cel.TimestampType, true, "the evaluation time"},
	{"orders", ordersType, false, "order history: orders.count(...)"},
	{"spend", spendType, false, "order history: spend.sum(...)"},
	{"interactions", interactionsType, false, "interaction history: interactions.count(...)"},
}

// Compiler turns rule source into Rules. It is safe for concurrent use;
// build one per process.
type Compiler struct {
	env *cel.Env
}

// NewCompiler builds the CEL environment with the variables and functions
// of the rule language.
func NewCompiler() (*Compiler, error) {
	opts := []cel.EnvOption{
		cel.OptionalTypes(),
		cel.ParserRecursionLimit(64),
		cel.ParserExpressionSizeLimit(MaxRuleLength),
	}
	for _, v := range Variables {
		opts = append(opts, cel.Variable(v.Name, v.Type))
	}
	opts = append(opts, functions()...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("build rule environment: %w", err)
	}
	return &Compiler{env: env}, nil
}

// Rule is a compiled, analysed rule.
type Rule struct {
	source        string
	prg           cel.Program
	reads         []string
	segments      []string
	timeDependent bool
	maxWindow     time.Duration
}

// Source returns the rule text.
func (r *Rule) Source() string { return r.source }

// Reads returns the variables the rule reads, sorted. A profile change that
// leaves all of them unchanged cannot change the rule's result.
func (r *Rule) Reads() []string { return slices.Clone(r.reads) }

// Segments returns the ids of the segments the rule refers to via
// in_segment, sorted.
func (r *Rule) Segments() []string { return slices.Clone(r.segments) }

// TimeDependent reports whether the result can change with the clock alone
// (windows, recency, lifecycle, now, …), so the rule needs scheduled
// re-evaluation.
func (r *Rule) TimeDependent() bool { return r.timeDependent }

// MaxWindow is the longest history window the rule uses (0 for none).
func (r *Rule) MaxWindow() time.Duration { return r.maxWindow }

// Compile parses, type-checks and analyses a rule. Any problem is returned
// as a *CompileError naming its line and column.
func (c *Compiler) Compile(src string) (*Rule, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Issues: []Issue{{Line: 1, Column: 1, Message: "rule is empty"}}}
	}
	if len(src) > MaxRuleLength {
		return nil, &CompileError{Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf("rule is longer than %d bytes", MaxRuleLength)}}}
	}
	ast, iss := c.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		ce := &CompileError{}
		for _, e := range iss.Errors() {
			ce.Issues = append(ce.Issues, Issue{Line: e.Location.Line(), Column: e.Location.Column() + 1, Message: e.Message})
		}
		if len(ce.Issues) == 0 {
			ce.Issues = []Issue{{Line: 1, Column: 1, Message: iss.Err().Error()}}
		}
		return nil, ce
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, &CompileError{Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf("rule must be a condition (bool), got %s", ast.OutputType())}}}
	}
	r := &Rule{source: src}
	if err := r.analyse(ast.NativeRep()); err != nil {
		return nil, err
	}
	// The cost is bounded at compile time, not tracked at run time: tracking
	// more than doubles evaluation time on the full-recompute path.
	est, err := c.env.EstimateCost(ast, costEstimator{})
	if err != nil || est.Max > MaxCost {
		return nil, &CompileError{Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf("rule is too expensive to evaluate (estimated cost %d, limit %d)", est.Max, MaxCost)}}}
	}
	prg, err := c.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("plan rule: %w", err)
	}
	r.prg = prg
	return r, nil
}

// analyse records what the rule reads and checks the arguments that must
// be literals.
func (r *Rule) analyse(a *celast.AST) error {
	info := a.SourceInfo()
	var issues []Issue
	at := func(e celast.Expr, msg string) {
		loc := info.GetStartLocation(e.ID())
		col := loc.Column() + 1
		// CEL places a global call at its '('; point at the name instead,
		// where a person starts reading the argument.
		if e.Kind() == celast.CallKind && !e.AsCall().IsMemberFunction() {
			col = max(1, col-len(e.AsCall().FunctionName()))
		}
		issues = append(issues, Issue{Line: max(1, loc.Line()), Column: col, Message: msg})
	}
	timeVars := map[string]bool{}
	for _, v := range Variables {
		timeVars[v.Name] = v.TimeDependent
	}
	reads := map[string]bool{}
	for _, ref := range a.ReferenceMap() {
		if ref.Name != "" && len(ref.OverloadIDs) == 0 {
			if _, known := timeVars[ref.Name]; known {
				reads[ref.Name] = true
			}
		}
	}
	segs := map[string]bool{}
	root := celast.NavigateAST(a)
	literal := func(e celast.Expr) (string, bool) {
		if e.Kind() != celast.LiteralKind {
			return "", false
		}
		s, ok := e.AsLiteral().(types.String)
		return string(s), ok
	}
	for _, call := range celast.MatchDescendants(root, celast.FunctionMatcher("in_segment")) {
		arg := call.AsCall().Args()[0]
		s, ok := literal(arg)
		switch {
		case !ok:
			at(arg, "in_segment needs a string literal segment id")
		case !ValidID(s):
			at(arg, fmt.Sprintf("%q is not a valid segment id", s))
		default:
			segs[s] = true
		}
	}
	for _, call := range celast.MatchDescendants(root, celast.FunctionMatcher("in_rfm_group")) {
		arg := call.AsCall().Args()[0]
		s, ok := literal(arg)
		switch {
		case !ok:
			at(arg, "in_rfm_group needs a string literal group name")
		case !rfm.ValidGroup(s):
			at(arg, fmt.Sprintf("%q is not an RFM group (one of %v)", s, rfm.Groups))
		default:
			reads["rfm_group"] = true
		}
	}
	for _, name := range []string{"count", "sum"} {
		for _, call := range celast.MatchDescendants(root, celast.FunctionMatcher(name)) {
			args := call.AsCall().Args()
			if len(args) == 0 {
				continue
			}
			last := args[len(args)-1]
			if t := a.GetType(last.ID()); t == nil || !t.IsExactType(cel.DurationType) {
				continue
			}
			d, ok := windowLiteral(last)
			switch {
			case !ok:
				at(last, "window must be days(<int>), hours(<int>) or duration(\"<literal>\")")
			case d <= 0 || d > MaxWindow:
				at(last, fmt.Sprintf("window must be positive and at most %d days", int(MaxWindow/(24*time.Hour))))
			default:
				r.maxWindow = max(r.maxWindow, d)
				r.timeDependent = true
			}
		}
	}
	if len(issues) > 0 {
		slices.SortFunc(issues, func(a, b Issue) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return &CompileError{Issues: issues}
	}
	for name := range reads {
		r.reads = append(r.reads, name)
		if timeVars[name] {
			r.timeDependent = true
		}
	}
	slices.Sort(r.reads)
	for s := range segs {
		r.segments = append(r.segments, s)
	}
	slices.Sort(r.segments)
	return nil
}

// windowLiteral reads a window argument written as days(n), hours(n) or
// duration("…") with a literal.
func windowLiteral(e celast.Expr) (time.Duration, bool) {
	if e.Kind() != celast.CallKind {
		return 0, false
	}
	call := e.AsCall()
	if len(call.Args()) != 1 || call.Args()[0].Kind() != celast.LiteralKind {
		return 0, false
	}
	lit := call.Args()[0].AsLiteral()
	switch call.FunctionName() {
	case "days", "hours":
		n, ok := lit.(types.Int)
		if !ok || n > 1_000_000 || n < -1_000_000 {
			return 0, false
		}
		unit := time.Hour
		if call.FunctionName() == "days" {
			unit = 24 * time.Hour
		}
		return time.Duration(n) * unit, true
	case "duration":
		s, ok := lit.(types.String)
		if !ok {
			return 0, false
		}
		d, err := time.ParseDuration(string(s))
		return d, err == nil
	}
	return 0, false
}

// Eval evaluates the rule on one input.
func (r *Rule) Eval(in *Input) (bool, error) {
	out, _, err := r.prg.Eval(in.activation())
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%w: result is %s, not bool", ErrEvaluation, out.Type().TypeName())
	}
	return bool(b), nil
}
