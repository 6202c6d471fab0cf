package segment

import (
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
)

// Input is everything a rule can see about one customer at one time.
// Segments holds the customer's current memberships (for in_segment); Graph
// evaluation updates it as it goes so dependent segments see fresh results.
type Input struct {
	CustomerID   string
	Traits       profile.Traits
	Orders       []profile.OrderFact   // oldest first, as profile.OrderFacts returns them
	Interactions []profile.Interaction // oldest first
	Segments     map[string]bool
	Now          time.Time
}

// NewInput builds the input for a profile at time now.
func NewInput(p *profile.Profile, t profile.Traits, segments map[string]bool, now time.Time) *Input {
	return &Input{
		CustomerID:   p.CustomerID,
		Traits:       t,
		Orders:       p.OrderFacts(t.Currency),
		Interactions: p.SortedInteractions(),
		Segments:     segments,
		Now:          now,
	}
}

// membershipsVar is the hidden variable the in_segment and in_rfm_group
// macros expand to; it is not part of the documented catalog.
const membershipsVar = "memberships"

var membershipsType = cel.OpaqueType("affinity.segment.Memberships")

// activation resolves variable names lazily from the input: a rule reads a
// handful of the ~40 variables, so building a map per profile would be the
// dominant cost of a full recompute.
type activation struct{ in *Input }

func (in *Input) activation() interpreter.Activation { return activation{in} }

// Parent implements interpreter.Activation.
func (activation) Parent() interpreter.Activation { return nil }

// ResolveName implements interpreter.Activation.
func (a activation) ResolveName(name string) (any, bool) {
	t := &a.in.Traits
	switch name {
	case "order_count":
		return types.Int(t.OrderCount), true
	case "total_spend":
		return types.Int(t.TotalSpend), true
	case "average_order_value":
		return types.Int(t.AverageOrderValue), true
	case "recency_days":
		return types.Int(t.RecencyDays), true
	case "avg_days_between_orders":
		return types.Double(t.AvgDaysBetweenOrders), true
	case "first_order_at":
		return types.Timestamp{Time: zeroEpoch(t.FirstOrderAt)}, true
	case "last_order_at":
		return types.Timestamp{Time: zeroEpoch(t.LastOrderAt)}, true
	case "favourite_categories":
		return types.NewStringList(types.DefaultTypeAdapter, t.FavouriteCategories), true
	case "channels_used":
		return types.NewStringList(types.DefaultTypeAdapter, t.ChannelsUsed), true
	case "preferred_channel":
		return types.String(t.PreferredChannel), true
	case "lifecycle":
		return types.String(t.Lifecycle), true
	case "tier":
		return types.String(t.Tier), true
	case "points_balance":
		return types.Int(t.PointsBalance), true
	case "referrals_made":
		return types.Int(t.ReferralsMade), true
	case "referrals_converted":
		return types.Int(t.ReferralsConverted), true
	case "csat":
		return surveyScore(t.CSAT), true
	case "csat_trend":
		return types.String(t.CSAT.Trend), true
	case "nps":
		return surveyScore(t.NPS), true
	case "nps_trend":
		return types.String(t.NPS.Trend), true
	case "ces":
		return surveyScore(t.CES), true
	case "ces_trend":
		return types.String(t.CES.Trend), true
	case "rfm_r":
		return types.Int(t.RFM.R), true
	case "rfm_f":
		return types.Int(t.RFM.F), true
	case "rfm_m":
		return types.Int(t.RFM.M), true
	case "rfm_group":
		return types.String(t.RFM.Group), true
	case "churn_risk":
		return types.Double(t.ChurnRisk), true
	case "prob_alive":
		return types.Double(t.ProbAlive), true
	case "clv":
		return types.Int(t.CLV), true
	case "expected_orders":
		return types.Double(t.ExpectedOrders), true
	case "has_abandoned_cart":
		return types.Bool(t.HasAbandonedCart), true
	case "abandoned_cart_value":
		return types.Int(t.AbandonedCartValue), true
	case "country":
		return types.String(t.Country), true
	case "days_since_signup":
		return types.Int(t.DaysSinceSignup), true
	case "days_until_birthday":
		return types.Int(t.DaysUntilBirthday), true
	case "consents":
		return types.DefaultTypeAdapter.NativeToValue(nonNil(t.Consents)), true
	case "attributes":
		return types.DefaultTypeAdapter.NativeToValue(nonNil(t.Attributes)), true
	case "now":
		return types.Timestamp{Time: a.in.Now}, true
	case "orders":
		return history{in: a.in, typ: ordersType}, true
	case "spend":
		return history{in: a.in, typ: spendType}, true
	case "interactions":
		return history{in: a.in, typ: interactionsType}, true
	case membershipsVar:
		return history{in: a.in, typ: membershipsType}, true
	}
	return nil, false
}

func nonNil[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

func zeroEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

func surveyScore(s profile.SurveyTrait) types.Int {
	if s.Count == 0 {
		return -1
	}
	return types.Int(s.Latest)
}

// history is the opaque value behind orders, spend, interactions and
// memberships: it carries the input so the aggregate functions can read
// the facts and the evaluation time.
type history struct {
	in  *Input
	typ *types.Type
}

// ConvertToNative implements ref.Val; history never leaves a rule.
func (h history) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("history values cannot be converted")
}

// ConvertToType implements ref.Val.
func (h history) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return h.typ
	}
	return types.NewErr("history values cannot be converted to %s", t.TypeName())
}

// Equal implements ref.Val; histories are not comparable in rules.
func (h history) Equal(ref.Val) ref.Val { return types.False }

// Type implements ref.Val.
func (h history) Type() ref.Type { return h.typ }

// Value implements ref.Val.
func (h history) Value() any { return h.in }

func asHistory(v ref.Val) (history, bool) {
	h, ok := v.(history)
	return h, ok
}

// since returns the start of a window ending at the input's time.
func since(h history, w ref.Val) (time.Time, bool) {
	d, ok := w.(types.Duration)
	if !ok {
		return time.Time{}, false
	}
	return h.in.Now.Add(-d.Duration), true
}

// countOrders counts orders placed after from (inclusive of from), in a
// category when cat is not empty (an order is "in" a category when it has
// net spend there).
func countOrders(h history, from time.Time, cat string) types.Int {
	var n int
	for _, o := range ordersFrom(h.in.Orders, from) {
		if cat == "" || o.Categories[cat] > 0 {
			n++
		}
	}
	return types.Int(n)
}

func sumSpend(h history, from time.Time, cat string) types.Int {
	var s int64
	for _, o := range ordersFrom(h.in.Orders, from) {
		if cat == "" {
			s += o.Net
		} else {
			s += o.Categories[cat]
		}
	}
	return types.Int(s)
}

// ordersFrom returns the suffix of time-sorted orders at or after from, by
// binary search: windows are usually short and histories long.
func ordersFrom(os []profile.OrderFact, from time.Time) []profile.OrderFact {
	i, _ := slices.BinarySearchFunc(os, from, func(o profile.OrderFact, t time.Time) int { return o.At.Compare(t) })
	return os[i:]
}

func countInteractions(h history, from time.Time, kind, cat string) types.Int {
	is := h.in.Interactions
	i, _ := slices.BinarySearchFunc(is, from, func(x profile.Interaction, t time.Time) int { return x.At.Compare(t) })
	var n int
	for _, x := range is[i:] {
		if string(x.Kind) == kind && (cat == "" || x.Category == cat) {
			n++
		}
	}
	return types.Int(n)
}

var farPast = time.Unix(0, 0).UTC().AddDate(-100, 0, 0)

func bad() ref.Val { return types.NewErr("unexpected argument types") }

// functions declares the rule language's functions and macros.
func functions() []cel.EnvOption {
	dur := func(unit time.Duration) func(ref.Val) ref.Val {
		return func(v ref.Val) ref.Val {
			n, ok := v.(types.Int)
			if !ok || n < -1_000_000 || n > 1_000_000 {
				return types.NewErr("window out of range")
			}
			return types.Duration{Duration: time.Duration(n) * unit}
		}
	}
	agg := func(typ *types.Type, fn func(history, time.Time, string) types.Int, name, idPrefix string) cel.EnvOption {
		return cel.Function(name,
			cel.MemberOverload(idPrefix, []*cel.Type{typ}, cel.IntType, cel.UnaryBinding(func(v ref.Val) ref.Val {
				h, ok := asHistory(v)
				if !ok {
					return bad()
				}
				return fn(h, farPast, "")
			})),
			cel.MemberOverload(idPrefix+"_window", []*cel.Type{typ, cel.DurationType}, cel.IntType, cel.BinaryBinding(func(v, w ref.Val) ref.Val {
				h, ok := asHistory(v)
				from, ok2 := since(h, w)
				if !ok || !ok2 {
					return bad()
				}
				return fn(h, from, "")
			})),
			cel.MemberOverload(idPrefix+"_category_window", []*cel.Type{typ, cel.StringType, cel.DurationType}, cel.IntType, cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				h, ok := asHistory(args[0])
				cat, ok2 := args[1].(types.String)
				from, ok3 := since(h, args[2])
				if !ok || !ok2 || !ok3 {
					return bad()
				}
				return fn(h, from, string(cat))
			})),
		)
	}
	return []cel.EnvOption{
		cel.Variable(membershipsVar, membershipsType),
		cel.Function("days", cel.Overload("days_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(24*time.Hour)))),
		cel.Function("hours", cel.Overload("hours_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(time.Hour)))),
		agg(ordersType, countOrders, "count", "orders_count"),
		agg(spendType, sumSpend, "sum", "spend_sum"),
		cel.Function("count",
			cel.MemberOverload("interactions_count_kind_window", []*cel.Type{interactionsType, cel.StringType, cel.DurationType}, cel.IntType, cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				h, ok := asHistory(args[0])
				kind, ok2 := args[1].(types.String)
				from, ok3 := since(h, args[2])
				if !ok || !ok2 || !ok3 {
					return bad()
				}
				return countInteractions(h, from, string(kind), "")
			})),
			cel.MemberOverload("interactions_count_kind_category_window", []*cel.Type{interactionsType, cel.StringType, cel.StringType, cel.DurationType}, cel.IntType, cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				h, ok := asHistory(args[0])
				kind, ok2 := args[1].(types.String)
				cat, ok3 := args[2].(types.String)
				from, ok4 := since(h, args[3])
				if !ok || !ok2 || !ok3 || !ok4 {
					return bad()
				}
				return countInteractions(h, from, string(kind), string(cat))
			})),
		),
		cel.Function("in_segment", cel.MemberOverload("memberships_in_segment", []*cel.Type{membershipsType, cel.StringType}, cel.BoolType, cel.BinaryBinding(func(v, id ref.Val) ref.Val {
			h, ok := asHistory(v)
			s, ok2 := id.(types.String)
			if !ok || !ok2 {
				return bad()
			}
			return types.Bool(h.in.Segments[string(s)])
		}))),
		cel.Function("in_rfm_group", cel.MemberOverload("memberships_in_rfm_group", []*cel.Type{membershipsType, cel.StringType}, cel.BoolType, cel.BinaryBinding(func(v, g ref.Val) ref.Val {
			h, ok := asHistory(v)
			s, ok2 := g.(types.String)
			if !ok || !ok2 {
				return bad()
			}
			return types.Bool(h.in.Traits.RFM.Group == string(s))
		}))),
		cel.Macros(
			cel.GlobalMacro("in_segment", 1, viaMemberships("in_segment")),
			cel.GlobalMacro("in_rfm_group", 1, viaMemberships("in_rfm_group")),
		),
	}
}

// viaMemberships rewrites f(x) into memberships.f(x): CEL functions do not
// see the activation, so the customer's memberships travel as a hidden
// receiver while rules keep the plain f(x) syntax.
func viaMemberships(fn string) cel.MacroFactory {
	return func(eh cel.MacroExprFactory, _ celast.Expr, args []celast.Expr) (celast.Expr, *common.Error) {
		return eh.NewMemberCall(fn, eh.NewIdent(membershipsVar), args...), nil
	}
}

// Changed returns the variables whose values differ between two inputs of
// the same customer, sorted; feed it to Graph.Affected to re-evaluate only
// the segments a profile change can affect.
func Changed(before, after *Input) []string {
	var out []string
	ab, aa := before.activation(), after.activation()
	for _, v := range Variables {
		switch v.Name {
		case "orders", "spend":
			if !reflect.DeepEqual(before.Orders, after.Orders) {
				out = append(out, v.Name)
			}
			continue
		case "interactions":
			if !reflect.DeepEqual(before.Interactions, after.Interactions) {
				out = append(out, v.Name)
			}
			continue
		}
		x, _ := ab.ResolveName(v.Name)
		y, _ := aa.ResolveName(v.Name)
		if x.(ref.Val).Equal(y.(ref.Val)) != types.True {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}
