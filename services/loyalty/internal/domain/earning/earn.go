package earning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// ErrPartnerInactive: the partner may not award points now (FailedPrecondition).
var ErrPartnerInactive = errors.New("partner is not active")

// Program is the base earning configuration.
type Program struct {
	// Currency of the program; orders in another currency earn nothing.
	Currency string
	BaseRate Rate
	// Lines with these SKUs or under these categories never earn (shipping,
	// gift cards: buying a gift card and spending it would earn twice).
	ExcludedSKUs       []string
	ExcludedCategories []string
	// MinOrderValue of eligible lines below which an order earns nothing.
	MinOrderValue int64
	// ReturnWindow: order points stay pending this long.
	ReturnWindow time.Duration
	Expiry       expiry.Policy
}

// Validate checks the program configuration.
func (p Program) Validate() error {
	var c validation.Collector
	c.Check(money.ValidCurrency(p.Currency), "currency", "must be an ISO 4217 code, got %q", p.Currency)
	c.Nest("base_rate", p.BaseRate.Validate())
	c.Check(p.BaseRate.Per.Currency == p.Currency, "base_rate.per.currency", "must be the program currency %s", p.Currency)
	c.Check(p.MinOrderValue >= 0, "min_order_value", "must not be negative")
	c.Check(p.ReturnWindow >= 0, "return_window", "must not be negative")
	c.Nest("expiry", p.Expiry.Validate())
	return c.Err()
}

// Line is one order line.
type Line struct {
	LineID       string
	SKU          string
	ProductID    string
	CategoryPath []string
	Quantity     int64
	UnitPrice    int64
	Discount     int64
}

// Net is what the customer paid for the line.
func (l Line) Net() (int64, error) {
	gross, err := money.MulInt(l.Quantity, l.UnitPrice)
	if err != nil {
		return 0, fmt.Errorf("line %s: %w", l.LineID, err)
	}
	return gross - l.Discount, nil
}

// Order is a completed order as earning sees it.
type Order struct {
	ID         string
	CustomerID string
	Channel    string
	Currency   string
	Lines      []Line
	// CompletedAt decides which rules are in their window.
	CompletedAt time.Time
}

// MaxLines bounds an order's size so a hostile event cannot make earning
// allocate without limit.
const MaxLines = 1000

// Validate checks the order.
func (o Order) Validate() error {
	var c validation.Collector
	c.Check(o.ID != "", "order_id", "is required")
	c.Check(o.CustomerID != "", "customer_id", "is required")
	c.Check(money.ValidCurrency(o.Currency), "currency", "must be an ISO 4217 code, got %q", o.Currency)
	c.Check(len(o.Lines) <= MaxLines, "lines", "at most %d lines, got %d", MaxLines, len(o.Lines))
	c.Check(!o.CompletedAt.IsZero(), "completed_at", "is required")
	seen := make(map[string]bool, len(o.Lines))
	for i, l := range o.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		c.Check(l.LineID != "" && !seen[l.LineID], f+".line_id", "must be present and unique")
		seen[l.LineID] = true
		c.Check(l.Quantity > 0, f+".quantity", "must be positive, got %d", l.Quantity)
		c.Check(l.UnitPrice >= 0, f+".unit_price.amount_minor", "must not be negative")
		c.Check(l.Discount >= 0, f+".discount.amount_minor", "must not be negative")
		if net, err := l.Net(); err != nil {
			c.Add(f+".unit_price.amount_minor", "too large")
		} else {
			c.Check(net >= 0, f+".discount.amount_minor", "must not exceed the line total")
		}
	}
	return c.Err()
}

// Member is what earning needs to know about the member.
type Member struct {
	ID     string
	TierID string
	// TierMultiplierPercent is the tier's benefit (150 = 1.5x base); 0 or
	// 100 means none.
	TierMultiplierPercent int32
	Segments              []string
	// FirstOrder: this is the member's first completed order.
	FirstOrder bool
}

// InSegment reports membership of a segment.
func (m Member) InSegment(id string) bool { return slices.Contains(m.Segments, id) }

// Usage is what rules have already awarded, loaded by the app layer for the
// rules' cap windows. Budget enforcement must be repeated atomically when
// persisting (a conditional update of the rule's spent budget), because
// other members earn from the same budget concurrently.
type Usage struct {
	// MemberPoints per rule id in the rule's current CapWindow.
	MemberPoints map[string]int64
	// BudgetUsed per rule id across all members.
	BudgetUsed map[string]int64
}

// Award is what one source contributed.
type Award struct {
	// RuleID is the rule; BaseRuleID for the base rate, TierRuleID(...) for a tier multiplier.
	RuleID string
	Kind   AwardKind
	Points int64
	// Capped says the award was cut by a per-member cap or the budget.
	Capped bool
}

// BaseRuleID names the base rate in Award.RuleID and in per-rule reports.
const BaseRuleID = "base"

// TierRuleID names a tier's multiplier in Award.RuleID.
func TierRuleID(tierID string) string { return "tier:" + tierID }

// LineResult is the points one line earned, which refunds claw back.
type LineResult struct {
	LineID string
	// Eligible is the line's net value if it can earn, else 0.
	Eligible int64
	Points   int64
}

// Result is an earn with its explanation.
type Result struct {
	Points int64
	Base   int64
	Lines  []LineResult
	// OrderPoints are order-level bonuses not tied to a line.
	OrderPoints int64
	Awards      []Award
	// HeldOut lists the rules the member would have earned from but is in
	// the holdout group of; recorded so lift can be measured.
	HeldOut []string
	// RuleIDs produced points (base and tier included), in award order.
	RuleIDs []string
	// PendingUntil and ExpiresAt are the dates for the lot.
	PendingUntil time.Time
	ExpiresAt    time.Time
}

// EligibleTotal is the order value that could earn.
func (r Result) EligibleTotal() int64 {
	var s int64
	for _, l := range r.Lines {
		s += l.Eligible
	}
	return s
}

// sortRules orders rules by priority (higher first) then id, so which rule
// hits a shared cap first is deterministic.
func sortRules(rules []Rule) []Rule {
	out := slices.Clone(rules)
	slices.SortStableFunc(out, func(a, b Rule) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// capFor is how many points rule r may still award member.
func capFor(r Rule, u Usage, want int64) (int64, bool) {
	allowed := want
	if r.Cap.MaxPointsPerMember > 0 {
		allowed = min(allowed, max(r.Cap.MaxPointsPerMember-u.MemberPoints[r.ID], 0))
	}
	if r.Cap.BudgetPoints > 0 {
		allowed = min(allowed, max(r.Cap.BudgetPoints-u.BudgetUsed[r.ID], 0))
	}
	return allowed, allowed < want
}

// EarnOrder computes the points for a completed order. Base points are
// computed on the whole eligible value (one rounding, not one per line) and
// then spread over the lines by the largest remainder, so per-line points
// add up exactly and refunds can claw back line by line.
//
// The order of evaluation, which decides the result when caps bind:
//  1. lines excluded by the program (SKUs, categories) never earn; below the
//     program's minimum eligible value the order earns nothing at all;
//  2. base points at the program rate;
//  3. the member's tier multiplier on base points (never capped);
//  4. every active rule for the trigger, priority first: all matching rules
//     stack. A multiplier applies to the base points of its matching lines
//     only (so two 2x rules give 3x, not 4x); a rate rule earns on the value
//     of its matching lines; a bonus is order-level. Members in a rule's
//     holdout are skipped and listed in HeldOut; the per-member cap and the
//     budget then cut the award to what is left.
func EarnOrder(p Program, rules []Rule, o Order, m Member, u Usage) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("earn order: %w", err)
	}
	res := Result{Lines: make([]LineResult, len(o.Lines))}
	if o.Currency != p.Currency {
		return Result{}, fmt.Errorf("earn order %s in %s, program is %s: %w", o.ID, o.Currency, p.Currency, money.ErrCurrencyMismatch)
	}
	excluded := Target{ExcludedSKUs: p.ExcludedSKUs, ExcludedCategories: p.ExcludedCategories}
	weights := make([]int64, len(o.Lines))
	var total int64
	for i, l := range o.Lines {
		res.Lines[i].LineID = l.LineID
		net, _ := l.Net() // validated
		if !excluded.matchesLine(l) {
			continue
		}
		res.Lines[i].Eligible = net
		weights[i] = net
		var err error
		if total, err = money.AddInt(total, net); err != nil {
			return Result{}, validation.Field("lines", "order value too large")
		}
	}
	if total == 0 || total < p.MinOrderValue {
		return res, nil
	}
	base, err := p.BaseRate.PointsFor(total)
	if err != nil {
		return Result{}, err
	}
	baseLines, err := money.Distribute(base, weights)
	if err != nil {
		return Result{}, err
	}
	linePts := slices.Clone(baseLines)
	award := func(a Award) {
		res.Awards = append(res.Awards, a)
		if a.Points > 0 {
			res.RuleIDs = append(res.RuleIDs, a.RuleID)
		}
	}
	res.Base = base
	award(Award{RuleID: BaseRuleID, Kind: AwardRate, Points: base})

	if pct := m.TierMultiplierPercent; pct > 100 && m.TierID != "" {
		extra, err := money.MulDiv(base, int64(pct-100), 100, money.RoundDown)
		if err != nil {
			return Result{}, err
		}
		parts, _ := money.Distribute(extra, baseLines)
		for i := range linePts {
			linePts[i] += parts[i]
		}
		award(Award{RuleID: TierRuleID(m.TierID), Kind: AwardMultiplier, Points: extra})
	}

	for _, r := range sortRules(rules) {
		if !r.Trigger.orderTriggered() || (r.Trigger == TriggerFirstOrder && !m.FirstOrder) ||
			!r.ActiveAt(o.CompletedAt) || !r.Target.matchesMember(m) {
			continue
		}
		if len(r.Target.Channels) > 0 && !slices.Contains(r.Target.Channels, o.Channel) {
			continue
		}
		match := make([]int64, len(o.Lines)) // weights of matching lines for this rule
		var matchValue int64
		for i, l := range o.Lines {
			if res.Lines[i].Eligible > 0 && r.Target.matchesLine(l) {
				match[i] = res.Lines[i].Eligible
				matchValue += match[i]
			}
		}
		if matchValue == 0 || matchValue < r.Target.MinOrderValue {
			continue
		}
		var want int64
		var spread []int64 // weights to spread the award over lines; nil for order-level
		switch r.Kind {
		case AwardRate:
			want, err = r.Rate.PointsFor(matchValue)
			spread = match
		case AwardMultiplier:
			bw := make([]int64, len(o.Lines))
			var matchedBase int64
			for i := range match {
				if match[i] > 0 {
					bw[i] = baseLines[i]
					matchedBase += baseLines[i]
				}
			}
			want, err = money.MulDiv(matchedBase, int64(r.MultiplierPercent-100), 100, money.RoundDown)
			spread = bw
		case AwardBonus:
			want = r.BonusPoints
		}
		if err != nil {
			return Result{}, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if want <= 0 {
			continue
		}
		if InHoldout(r.ID, m.ID, r.HoldoutPercent) {
			res.HeldOut = append(res.HeldOut, r.ID)
			continue
		}
		got, capped := capFor(r, u, want)
		if got > 0 && spread != nil {
			parts, err := money.Distribute(got, spread)
			if err != nil {
				return Result{}, err
			}
			for i := range linePts {
				linePts[i] += parts[i]
			}
		} else {
			res.OrderPoints += got
		}
		award(Award{RuleID: r.ID, Kind: r.Kind, Points: got, Capped: capped})
	}
	for i := range res.Lines {
		res.Lines[i].Points = linePts[i]
		res.Points += linePts[i]
	}
	res.Points += res.OrderPoints
	if p.ReturnWindow > 0 {
		res.PendingUntil = o.CompletedAt.Add(p.ReturnWindow)
	}
	res.ExpiresAt = p.Expiry.LotExpiry(o.CompletedAt)
	if !res.ExpiresAt.IsZero() && !res.PendingUntil.IsZero() && !res.PendingUntil.Before(res.ExpiresAt) {
		res.PendingUntil = time.Time{} // an expiry shorter than the return window wins; never pending forever
	}
	return res, nil
}

// Event is a non-order occasion that may earn a fixed bonus.
type Event struct {
	// ID is the occasion's stable id (e.g. "birthday:2026", a review id);
	// the app layer credits each (member, id) once.
	ID      string
	Trigger Trigger
	// Name of a custom event.
	Name string
	At   time.Time
}

// EarnEvent computes the bonus points of a non-order event: every active
// bonus rule for its trigger, with targeting, holdout and caps.
func EarnEvent(p Program, rules []Rule, ev Event, m Member, u Usage) (Result, error) {
	var c validation.Collector
	c.Check(ev.ID != "", "event_id", "is required")
	c.Check(ev.Trigger > TriggerFirstOrder && ev.Trigger <= TriggerCustomEvent, "trigger", "must be a non-order trigger")
	c.Check(ev.Trigger != TriggerCustomEvent || ev.Name != "", "custom_event_name", "is required")
	c.Check(!ev.At.IsZero(), "occurred_at", "is required")
	if err := c.Err(); err != nil {
		return Result{}, fmt.Errorf("earn event: %w", err)
	}
	var res Result
	for _, r := range sortRules(rules) {
		if r.Trigger != ev.Trigger || r.Kind != AwardBonus || !r.ActiveAt(ev.At) || !r.Target.matchesMember(m) {
			continue
		}
		if r.Trigger == TriggerCustomEvent && r.CustomEvent != ev.Name {
			continue
		}
		if InHoldout(r.ID, m.ID, r.HoldoutPercent) {
			res.HeldOut = append(res.HeldOut, r.ID)
			continue
		}
		got, capped := capFor(r, u, r.BonusPoints)
		res.Awards = append(res.Awards, Award{RuleID: r.ID, Kind: AwardBonus, Points: got, Capped: capped})
		if got > 0 {
			res.RuleIDs = append(res.RuleIDs, r.ID)
		}
		res.OrderPoints += got
	}
	res.Points = res.OrderPoints
	res.ExpiresAt = p.Expiry.LotExpiry(ev.At)
	return res, nil
}

// RefundLine is part of an order line being refunded.
type RefundLine struct {
	LineID string
	// Quantity of units returned; when 0, Amount decides (a price
	// adjustment without a return).
	Quantity int64
	Amount   int64
}

// Refund computes how many points to take back for a refund, given the
// order, its earn result, what was refunded before (cumulative per line) and
// this refund. Work is cumulative: the points clawed back after all refunds
// so far are floor(line points x refunded fraction), minus what earlier
// refunds took, so two half refunds take exactly what one full refund would.
// Order-level bonuses go back in proportion to the refunded eligible value.
func Refund(o Order, earned Result, before, now []RefundLine) (int64, error) {
	lines := make(map[string]int, len(o.Lines))
	for i, l := range o.Lines {
		lines[l.LineID] = i
	}
	if len(earned.Lines) != len(o.Lines) {
		return 0, fmt.Errorf("refund of order %s: earn result has %d lines, order %d", o.ID, len(earned.Lines), len(o.Lines))
	}
	type frac struct{ qty, amt int64 }
	cum := func(rs []RefundLine, into []frac, field string) error {
		for i, r := range rs {
			idx, ok := lines[r.LineID]
			f := fmt.Sprintf("%s[%d]", field, i)
			if !ok {
				return validation.Field(f+".line_id", "unknown line %q", r.LineID)
			}
			if r.Quantity < 0 || r.Amount < 0 {
				return validation.Field(f, "quantity and amount must not be negative")
			}
			into[idx].qty += r.Quantity
			into[idx].amt += r.Amount
		}
		return nil
	}
	prev := make([]frac, len(o.Lines))
	after := make([]frac, len(o.Lines))
	if err := cum(before, prev, "previous_refunds"); err != nil {
		return 0, err
	}
	if err := cum(before, after, "previous_refunds"); err != nil {
		return 0, err
	}
	if err := cum(now, after, "refunded_lines"); err != nil {
		return 0, err
	}
	// share returns the clawed part of v for line i at cumulative refund f.
	share := func(v int64, i int, f frac) (int64, error) {
		l := o.Lines[i]
		if f.qty > 0 {
			return money.MulDiv(v, min(f.qty, l.Quantity), l.Quantity, money.RoundDown)
		}
		net, _ := l.Net()
		if net <= 0 {
			return 0, nil
		}
		return money.MulDiv(v, min(f.amt, net), net, money.RoundDown)
	}
	var points, valBefore, valAfter int64
	for i := range o.Lines {
		lp := earned.Lines[i].Points
		a, err := share(lp, i, after[i])
		if err != nil {
			return 0, err
		}
		b, err := share(lp, i, prev[i])
		if err != nil {
			return 0, err
		}
		points += a - b
		ev := earned.Lines[i].Eligible
		va, _ := share(ev, i, after[i])
		vb, _ := share(ev, i, prev[i])
		valAfter += va
		valBefore += vb
	}
	if total := earned.EligibleTotal(); earned.OrderPoints > 0 && total > 0 {
		a, err := money.MulDiv(earned.OrderPoints, valAfter, total, money.RoundDown)
		if err != nil {
			return 0, err
		}
		b, err := money.MulDiv(earned.OrderPoints, valBefore, total, money.RoundDown)
		if err != nil {
			return 0, err
		}
		points += a - b
	}
	return points, nil
}

// FullRefund lists every line of the order in full, for a cancellation.
func FullRefund(o Order) []RefundLine {
	out := make([]RefundLine, len(o.Lines))
	for i, l := range o.Lines {
		out[i] = RefundLine{LineID: l.LineID, Quantity: l.Quantity}
	}
	return out
}

// RuleRepository gives the app layer's earning handlers what they need.
type RuleRepository interface {
	// ActiveRules returns rules that may apply at t (status active, in window).
	ActiveRules(ctx context.Context, at time.Time) ([]Rule, error)
	// Usage returns the member's points per rule in each rule's CapWindow
	// at t, and each rule's budget used.
	Usage(ctx context.Context, memberID string, rules []Rule, at time.Time) (Usage, error)
	// Program returns the program's earning configuration.
	Program(ctx context.Context) (Program, error)
}

// EarnRepository stores each order's earn result so refunds can be
// computed from exactly what was earned.
type EarnRepository interface {
	OrderEarn(ctx context.Context, orderID string) (Order, Result, []RefundLine, error)
}
