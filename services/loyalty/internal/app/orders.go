package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// EarnOrder is a completed purchase to earn points on.
type EarnOrder struct {
	Order earning.Order
	// PartnerID is the coalition partner that awards the points, if any.
	PartnerID string
	// Spend is the money the order counts toward spend-measured tiers.
	Spend int64
}

// Earned is what an order earned.
type Earned struct {
	Points  int64
	Entries []ledger.Entry
	Result  earning.Result
	Balance Balance
}

// EarnOrder credits the points an order earns, once per order id: a second
// earn of the same order fails with ErrOrderAlreadyEarned and changes
// nothing.
func (u *Unit) EarnOrder(ctx context.Context, cmd EarnOrder) (Earned, error) {
	res, errs, err := u.EarnOrders(ctx, []EarnOrder{cmd})
	if err != nil {
		return Earned{}, err
	}
	return res[0], errs[0]
}

// EarnOrders earns a batch of orders in this transaction with a fixed number
// of statements however many orders there are: one to lock every member and
// load their lots, one to find orders already earned, one to write every
// lot, entry, member and order, and one for the events. errs[i] is the
// per-order outcome that does not fail the batch (invalid order, currency
// mismatch, already earned); the returned error fails the whole batch.
func (u *Unit) EarnOrders(ctx context.Context, cmds []EarnOrder) ([]Earned, []error, error) {
	return u.earnOrders(ctx, cmds, false)
}

// IngestOrders earns a batch of orders like EarnOrders for a caller that
// needs only the per-order outcomes (the order events' consumer): it reads
// the members' lots only where a credit needs them (members with a deficit
// or a debt, see store.LockAccountsForAccrual) and computes no balances.
func (u *Unit) IngestOrders(ctx context.Context, cmds []EarnOrder) ([]error, error) {
	_, errs, err := u.earnOrders(ctx, cmds, true)
	return errs, err
}

// earnOrders is EarnOrders; lean skips the lots a pure credit does not need
// and the balances in the results.
func (u *Unit) earnOrders(ctx context.Context, cmds []EarnOrder, lean bool) ([]Earned, []error, error) {
	results := make([]Earned, len(cmds))
	errs := make([]error, len(cmds))
	var memberIDs, orderIDs []string
	seenMember := map[string]bool{}
	for i, c := range cmds {
		if err := c.Order.Validate(); err != nil {
			errs[i] = fmt.Errorf("earn order: %w", err)
			continue
		}
		if c.Order.Currency != u.a.cfg.Program.Currency {
			errs[i] = fmt.Errorf("order %s in %s, program is %s: %w", c.Order.ID, c.Order.Currency, u.a.cfg.Program.Currency, money.ErrCurrencyMismatch)
			continue
		}
		orderIDs = append(orderIDs, c.Order.ID)
		if !seenMember[c.Order.CustomerID] {
			seenMember[c.Order.CustomerID] = true
			memberIDs = append(memberIDs, c.Order.CustomerID)
		}
	}
	if len(memberIDs) == 0 {
		return results, errs, nil
	}
	slices.Sort(memberIDs)
	var locked map[string]*store.Locked
	var err error
	if lean {
		locked, err = u.st.LockAccountsForAccrual(ctx, memberIDs, newID, u.now)
	} else {
		locked, err = u.st.LockAccounts(ctx, memberIDs, nil, newID, u.now)
	}
	if err != nil {
		return nil, nil, err
	}
	existing, err := u.st.Q.ExistingOrders(ctx, orderIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("earned orders: %w", err)
	}
	earned := make(map[string]bool, len(existing))
	for _, id := range existing {
		earned[id] = true
	}
	rules, err := u.activeRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	lc, err := u.tierLadder(ctx)
	if err != nil {
		return nil, nil, err
	}
	domainRules := make([]earning.Rule, 0, len(rules))
	budgetUsed := map[string]int64{}
	var capped []string
	for _, r := range rules {
		domainRules = append(domainRules, r.Value)
		budgetUsed[r.Value.ID] = r.BudgetUsed
		if r.Value.Cap.MaxPointsPerMember > 0 {
			capped = append(capped, r.Value.ID)
		}
	}
	// used[member][rule@window] is what members earned from capped rules.
	type useKey struct {
		member, rule string
		start        time.Time
	}
	used := map[useKey]int64{}
	if len(capped) > 0 {
		rows, err := u.st.Q.MembersRuleUsage(ctx, sqlc.MembersRuleUsageParams{MemberIds: memberIDs, RuleIds: capped})
		if err != nil {
			return nil, nil, fmt.Errorf("rule usage: %w", err)
		}
		for _, row := range rows {
			used[useKey{row.MemberID, row.RuleID, row.WindowStart.UTC()}] += row.Points
		}
	}
	budgetSpent := map[string]int64{}
	var usageWrites []useKey
	usageAdds := map[useKey]int64{}
	type tally struct{ earned, orders int64 }
	tallies := map[string]*tally{}
	var b store.Batch
	var fresh []earning.Order
	for i, c := range cmds {
		if errs[i] != nil {
			continue
		}
		o := c.Order
		if earned[o.ID] {
			errs[i] = fmt.Errorf("order %s: %w", o.ID, ErrOrderAlreadyEarned)
			continue
		}
		l := locked[o.CustomerID]
		t := tallies[o.CustomerID]
		if t == nil {
			t = &tally{}
			tallies[o.CustomerID] = t
		}
		member := earning.Member{ID: o.CustomerID, Segments: l.Member.Segments, FirstOrder: l.Member.OrdersCount+t.orders == 0}
		if tr, ok := lc.ladder.Effective(l.Member.Tier, u.now); lc.ok && ok {
			member.TierID, member.TierMultiplierPercent = tr.ID, tr.Benefits.EarnMultiplierPercent
		}
		usage := earning.Usage{MemberPoints: map[string]int64{}, BudgetUsed: map[string]int64{}}
		for _, r := range domainRules {
			usage.BudgetUsed[r.ID] = budgetUsed[r.ID] + budgetSpent[r.ID]
			if r.Cap.MaxPointsPerMember > 0 {
				usage.MemberPoints[r.ID] = used[useKey{o.CustomerID, r.ID, capStart(r, o.CompletedAt)}]
			}
		}
		res, err := earning.EarnOrder(u.program(), domainRules, o, member, usage)
		if err != nil {
			if errors.Is(err, validation.ErrInvalid) || errors.Is(err, money.ErrCurrencyMismatch) || errors.Is(err, money.ErrOverflow) {
				errs[i] = err
				continue
			}
			return nil, nil, err
		}
		var es []ledger.Entry
		if res.Points > 0 {
			if es, err = l.Account.Credit(ledger.Credit{Type: ledger.TypeAccrual, Points: res.Points, OrderID: o.ID, ReferenceID: o.ID,
				RuleIDs: res.RuleIDs, Description: "order " + o.ID, PendingUntil: res.PendingUntil, ExpiresAt: res.ExpiresAt,
				PartnerID: c.PartnerID}, u.now); err != nil {
				return nil, nil, err
			}
		}
		earned[o.ID] = true
		t.earned += res.Points
		t.orders++
		for _, a := range res.Awards {
			if a.Points <= 0 || a.RuleID == earning.BaseRuleID || a.RuleID == earning.TierRuleID(member.TierID) {
				continue
			}
			k := slices.IndexFunc(domainRules, func(r earning.Rule) bool { return r.ID == a.RuleID })
			if k < 0 {
				continue
			}
			r := domainRules[k]
			key := useKey{o.CustomerID, r.ID, capStart(r, o.CompletedAt)}
			if _, ok := usageAdds[key]; !ok {
				usageWrites = append(usageWrites, key)
			}
			usageAdds[key] += a.Points
			used[key] += a.Points
			budgetSpent[r.ID] += a.Points
		}
		ob, err := json.Marshal(o)
		if err != nil {
			return nil, nil, fmt.Errorf("encode order: %w", err)
		}
		rb, err := json.Marshal(res)
		if err != nil {
			return nil, nil, fmt.Errorf("encode earn result: %w", err)
		}
		b.Orders = append(b.Orders, store.OrderRow{OrderID: o.ID, MemberID: o.CustomerID, Order: ob, Result: rb, Points: res.Points,
			SpendMinor: c.Spend, CreatedAt: u.now})
		results[i] = Earned{Points: res.Points, Entries: es, Result: res}
		fresh = append(fresh, o)
	}
	if len(b.Orders) == 0 {
		return results, errs, nil
	}
	// Challenges count the orders earned now; a completion credits its
	// reward to the member's account before the account is written.
	bonus, prizes, err := u.recordChallenges(ctx, fresh, locked)
	if err != nil {
		return nil, nil, err
	}
	b.Redemptions = append(b.Redemptions, prizes...)
	for id, pts := range bonus {
		tallies[id].earned += pts
	}
	for _, id := range memberIDs {
		if t := tallies[id]; t != nil && t.orders > 0 {
			b.AddAccount(locked[id].Account, t.earned, t.orders)
		}
	}
	if err := u.st.Apply(ctx, &b); err != nil {
		return nil, nil, err
	}
	for _, k := range usageWrites {
		if err := u.st.Q.AddRuleUsage(ctx, sqlc.AddRuleUsageParams{RuleID: k.rule, MemberID: k.member, WindowStart: k.start, Points: usageAdds[k]}); err != nil {
			return nil, nil, fmt.Errorf("rule usage: %w", err)
		}
	}
	for _, r := range domainRules {
		spent := budgetSpent[r.ID]
		if spent == 0 {
			continue
		}
		n, err := u.st.Q.SpendBudget(ctx, sqlc.SpendBudgetParams{ID: r.ID, Points: spent, Budget: r.Cap.BudgetPoints})
		if err != nil {
			return nil, nil, fmt.Errorf("rule budget: %w", err)
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("rule %s: %w", r.ID, ErrBudgetExhausted)
		}
		for j := range u.rules {
			if u.rules[j].Value.ID == r.ID {
				u.rules[j].BudgetUsed += spent
			}
		}
	}
	var all []ledger.Entry
	for _, id := range memberIDs {
		if t := tallies[id]; t != nil && t.orders > 0 {
			all = append(all, locked[id].Account.Changes().Entries...)
		}
	}
	if err := u.publish(ctx, all, eventInfo{}); err != nil {
		return nil, nil, err
	}
	for _, id := range memberIDs {
		if t := tallies[id]; t != nil && t.orders > 0 {
			if err := u.evaluateTier(ctx, id, locked[id].Member.Tier); err != nil {
				return nil, nil, err
			}
		}
	}
	for i := range results {
		if errs[i] != nil || lean {
			continue
		}
		l := locked[cmds[i].Order.CustomerID]
		if results[i].Balance, err = u.balance(l.Account, l.Member); err != nil {
			return nil, nil, err
		}
	}
	return results, errs, nil
}

// RefundOrder is a refund or cancellation of an earned order.
type RefundOrder struct {
	OrderID string
	// RefundID names the refund; each is applied once.
	RefundID string
	// Lines refunded now; ignored for a cancellation.
	Lines  []earning.RefundLine
	Cancel bool
	// Amount refunded, taken off the order's spend for spend tiers.
	Amount int64
}

// Refunded says what a refund took back.
type Refunded struct {
	Points    int64
	Shortfall int64
	Applied   bool
}

// RefundOrder claws back the points the refunded lines earned, from the
// lots the order created first. An order that never earned, a refund id seen
// before and anything after a cancellation change nothing.
func (u *Unit) RefundOrder(ctx context.Context, customerID string, r RefundOrder) (Refunded, error) {
	acct, m, err := u.account(ctx, customerID, nil)
	if err != nil {
		return Refunded{}, err
	}
	row, err := u.st.Q.GetOrder(ctx, r.OrderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Refunded{}, nil
	}
	if err != nil {
		return Refunded{}, fmt.Errorf("order %s: %w", r.OrderID, err)
	}
	if row.MemberID != customerID || row.Cancelled || slices.Contains(row.RefundIds, r.RefundID) {
		return Refunded{}, nil
	}
	o, err := decode[earning.Order](row.Order, "order "+r.OrderID)
	if err != nil {
		return Refunded{}, err
	}
	res, err := decode[earning.Result](row.Result, "earn result of "+r.OrderID)
	if err != nil {
		return Refunded{}, err
	}
	before, err := decode[[]earning.RefundLine](row.Refunded, "refunds of "+r.OrderID)
	if err != nil {
		return Refunded{}, err
	}
	lines := r.Lines
	if r.Cancel {
		lines = earning.FullRefund(o)
	}
	pts, err := earning.Refund(o, res, before, lines)
	if err != nil {
		return Refunded{}, err
	}
	out := Refunded{Points: pts, Applied: true}
	if pts > 0 {
		partner, err := u.st.Q.OrderPartner(ctx, sqlc.OrderPartnerParams{MemberID: customerID, OrderID: r.OrderID})
		if err != nil {
			return Refunded{}, fmt.Errorf("partner of order %s: %w", r.OrderID, err)
		}
		cr, err := acct.Clawback(ledger.Clawback{OrderID: r.OrderID, Points: pts, ReferenceID: r.RefundID, Policy: u.a.cfg.DebtPolicy,
			PartnerID: partner}, u.now)
		if err != nil {
			return Refunded{}, err
		}
		out.Shortfall = cr.Shortfall
		if err := u.st.SaveAccount(ctx, acct, 0, 0); err != nil {
			return Refunded{}, err
		}
		reason := eventsv1.ReversalReason_REVERSAL_REASON_REFUND
		if r.Cancel {
			reason = eventsv1.ReversalReason_REVERSAL_REASON_CANCELLATION
		}
		uncollected := int64(0)
		if u.a.cfg.DebtPolicy == ledger.CapAtZero {
			uncollected = cr.Shortfall
		}
		if err := u.publish(ctx, acct.Changes().Entries, eventInfo{reason: reason, uncollected: uncollected}); err != nil {
			return Refunded{}, err
		}
	}
	all, err := json.Marshal(append(before, lines...))
	if err != nil {
		return Refunded{}, fmt.Errorf("encode refunds: %w", err)
	}
	spend := max(row.SpendMinor-r.Amount, 0)
	if r.Cancel {
		spend = 0
	}
	if err := u.st.Q.UpdateOrderRefunds(ctx, sqlc.UpdateOrderRefundsParams{OrderID: r.OrderID, Refunded: all,
		RefundIds: append(row.RefundIds, r.RefundID), Cancelled: r.Cancel, SpendMinor: spend}); err != nil {
		return Refunded{}, fmt.Errorf("update order %s: %w", r.OrderID, err)
	}
	if err := u.reviseChallenges(ctx, customerID, o, append(before, lines...), r.Cancel); err != nil {
		return Refunded{}, err
	}
	return out, u.evaluateTier(ctx, customerID, m.Tier)
}

// measure sums the member's qualifying measure over the ladder's window.
func (u *Unit) measure(ctx context.Context, q *sqlc.Queries, l tier.Ladder, memberID string, now time.Time) (int64, error) {
	from, to := l.Window(now)
	// The window ends at now exclusive; entries written by this transaction
	// carry now, so the window is closed one tick later to include them.
	to = to.Add(time.Microsecond)
	var n int64
	var err error
	if l.Measure == tier.MeasureSpend {
		n, err = q.SpendInWindow(ctx, sqlc.SpendInWindowParams{MemberID: memberID, FromTime: from, ToTime: to})
	} else {
		n, err = q.PointsEarnedInWindow(ctx, sqlc.PointsEarnedInWindowParams{MemberID: memberID, FromTime: from, ToTime: to})
	}
	if err != nil {
		return 0, fmt.Errorf("tier measure of %s: %w", memberID, err)
	}
	return n, nil
}

// evaluateTier re-qualifies a locked member and announces a change.
func (u *Unit) evaluateTier(ctx context.Context, memberID string, st tier.Status) error {
	lc, err := u.tierLadder(ctx)
	if err != nil || !lc.ok {
		return err
	}
	n, err := u.measure(ctx, u.st.Q, lc.ladder, memberID, u.now)
	if err != nil {
		return err
	}
	next, change := lc.ladder.Evaluate(st, n, u.now)
	// An ended override or membership that left the tier as it was is
	// still a change of state to save.
	if change == nil && next.RequalifyAt.Equal(st.RequalifyAt) && next.QualifiedTierID == st.QualifiedTierID &&
		(next.Override == nil) == (st.Override == nil) && (next.Subscription == nil) == (st.Subscription == nil) {
		return nil
	}
	eff, _ := lc.ladder.Effective(next, u.now)
	// The review date also covers an override's or a paid membership's end,
	// so the job ends them on time.
	if err := u.st.SaveTier(ctx, memberID, next, eff.ID, reviewAt(next)); err != nil {
		return err
	}
	if change == nil {
		return nil
	}
	return u.publishTier(ctx, memberID, change, eff.Name, reviewAt(next))
}

// ReviewTier re-evaluates one member's tier now (the scheduled review at
// the end of a qualification window).
func (u *Unit) ReviewTier(ctx context.Context, memberID string) error {
	m, err := u.st.LockMember(ctx, memberID, u.now)
	if err != nil {
		return err
	}
	if err := u.evaluateTier(ctx, memberID, m.Tier); err != nil {
		return err
	}
	if err := u.st.Q.ClearDueReview(ctx, sqlc.ClearDueReviewParams{CustomerID: memberID, Now: u.now}); err != nil {
		return fmt.Errorf("tier review of %s: %w", memberID, err)
	}
	return nil
}

// capStart is the start of the rule's cap window at t as stored: a rule
// without a start date counts from the epoch.
func capStart(r earning.Rule, t time.Time) time.Time {
	start, _ := r.CapWindow(t)
	if start.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return start.UTC()
}

// EarnBonus credits the bonus rules of a non-order occasion (sign-up, a
// product review, a custom event) once per member and occasion id; it
// returns the points credited (0 when no rule applies or the occasion was
// credited before).
func (u *Unit) EarnBonus(ctx context.Context, memberID string, ev earning.Event) (int64, error) {
	acct, m, err := u.account(ctx, memberID, nil)
	if err != nil {
		return 0, err
	}
	done, err := u.st.Q.BonusExists(ctx, sqlc.BonusExistsParams{MemberID: memberID, ReferenceID: ev.ID})
	if err != nil {
		return 0, fmt.Errorf("bonus %s of %s: %w", ev.ID, memberID, err)
	}
	if done {
		return 0, nil
	}
	rules, err := u.activeRules(ctx)
	if err != nil {
		return 0, err
	}
	lc, err := u.tierLadder(ctx)
	if err != nil {
		return 0, err
	}
	member := earning.Member{ID: memberID, Segments: m.Segments}
	if tr, ok := lc.ladder.Effective(m.Tier, u.now); lc.ok && ok {
		member.TierID = tr.ID
	}
	domainRules := make([]earning.Rule, len(rules))
	usage := earning.Usage{MemberPoints: map[string]int64{}, BudgetUsed: map[string]int64{}}
	var capped []string
	for i, r := range rules {
		domainRules[i] = r.Value
		usage.BudgetUsed[r.Value.ID] = r.BudgetUsed
		if r.Value.Cap.MaxPointsPerMember > 0 {
			capped = append(capped, r.Value.ID)
		}
	}
	if len(capped) > 0 {
		rows, err := u.st.Q.MembersRuleUsage(ctx, sqlc.MembersRuleUsageParams{MemberIds: []string{memberID}, RuleIds: capped})
		if err != nil {
			return 0, fmt.Errorf("rule usage: %w", err)
		}
		for _, row := range rows {
			for _, r := range domainRules {
				if r.ID == row.RuleID && capStart(r, ev.At).Equal(row.WindowStart.UTC()) {
					usage.MemberPoints[r.ID] += row.Points
				}
			}
		}
	}
	res, err := earning.EarnEvent(u.program(), domainRules, ev, member, usage)
	if err != nil || res.Points == 0 {
		return 0, err
	}
	if _, err := acct.Credit(ledger.Credit{Type: ledger.TypeAccrual, Points: res.Points, ReferenceID: ev.ID, RuleIDs: res.RuleIDs,
		Description: "bonus " + ev.ID, ExpiresAt: res.ExpiresAt}, u.now); err != nil {
		return 0, err
	}
	if err := u.st.SaveAccount(ctx, acct, res.Points, 0); err != nil {
		return 0, err
	}
	for _, a := range res.Awards {
		if a.Points <= 0 {
			continue
		}
		i := slices.IndexFunc(domainRules, func(r earning.Rule) bool { return r.ID == a.RuleID })
		if i < 0 {
			continue
		}
		r := domainRules[i]
		if err := u.st.Q.AddRuleUsage(ctx, sqlc.AddRuleUsageParams{RuleID: r.ID, MemberID: memberID, WindowStart: capStart(r, ev.At), Points: a.Points}); err != nil {
			return 0, fmt.Errorf("rule usage: %w", err)
		}
		n, err := u.st.Q.SpendBudget(ctx, sqlc.SpendBudgetParams{ID: r.ID, Points: a.Points, Budget: r.Cap.BudgetPoints})
		if err != nil {
			return 0, fmt.Errorf("rule budget: %w", err)
		}
		if n == 0 {
			return 0, fmt.Errorf("rule %s: %w", r.ID, ErrBudgetExhausted)
		}
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{source: eventsv1.EarnSource_EARN_SOURCE_BONUS}); err != nil {
		return 0, err
	}
	return res.Points, u.evaluateTier(ctx, memberID, m.Tier)
}
