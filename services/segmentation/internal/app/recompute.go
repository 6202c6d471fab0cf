package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// Scope says which segments a recompute evaluates.
type Scope int

// Recompute scopes.
const (
	// ScopeScheduled evaluates the time-dependent segments and the
	// segments not yet fully evaluated since their last change (and
	// everything depending on either).
	ScopeScheduled Scope = iota
	// ScopeAll evaluates every segment.
	ScopeAll
)

// RecomputeResult summarises a full pass.
type RecomputeResult struct {
	Profiles int
	Segments []string
	Changes  int
}

// decoded is a profile whose membership a full pass wants to change, with
// the profile version its snapshot belongs to.
type decoded struct {
	id      string
	version int64
	snap    profile.Snapshot
}

// evalCache evaluates the scope over every profile of the in-memory cache
// (as of its last sync), on every core, from the stored memberships, and
// returns the profiles whose membership would change, decoded, in customer
// id order, and how many profiles it evaluated.
//
// It is a filter: a profile is kept at its first segment whose result
// differs from the stored membership (the changes themselves, including
// those of segments depending on it through in_segment, are computed again
// under lock by applyPending). Until that first difference the memberships
// a rule sees through in_segment are the stored ones, exactly as
// segment.Graph.Evaluate would have them. Each worker decodes with its own
// reused profile.Decoder and input, so a profile that does not change
// allocates nothing.
func (a *App) evalCache(ctx context.Context, g *segment.Graph, scope []string, now time.Time, model *clv.Model) ([]*decoded, int, error) {
	c := &a.cache
	// Read-locked for the whole pass: syncs wait, and the entries do not
	// move under the workers.
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	// Memberships as one bit per segment and profile (entry), in the order
	// of scope followed by the other segments its rules read.
	segs := slices.Clone(scope)
	rules := make([]*segment.Rule, len(scope))
	for k, id := range scope {
		rules[k], _ = g.Rule(id)
		for _, ref := range rules[k].Segments() {
			if !slices.Contains(segs, ref) {
				segs = append(segs, ref)
			}
		}
	}
	words := (len(segs) + 63) / 64
	member, err := a.cachedMemberships(ctx, segs, words)
	if err != nil {
		return nil, 0, err
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, n/1024))
	changed := make([][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			d := profile.NewDecoder()
			in := &segment.Input{Segments: map[string]bool{}, Now: now}
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				e := &c.entries[i]
				s, err := d.Decode(c.snap(e))
				if err != nil {
					errs[w] = fmt.Errorf("decode snapshot %s: %w", c.id(e), err)
					return
				}
				s.Refresh(now, a.traits, model)
				s.Traits.RFM = profile.RFMScore{R: int(e.r), F: int(e.f), M: int(e.m), Group: c.groups[e.group]}
				bits := member[i*words : (i+1)*words]
				// Only the segments rules read are filled in; rules cannot
				// read the customer id, so it is not materialised.
				clear(in.Segments)
				for k := len(scope); k < len(segs); k++ {
					if bits[k/64]&(1<<(k%64)) != 0 {
						in.Segments[segs[k]] = true
					}
				}
				for k := range scope {
					if bits[k/64]&(1<<(k%64)) != 0 {
						in.Segments[segs[k]] = true
					}
				}
				in.Traits, in.Orders, in.Interactions = s.Traits, s.Orders, s.Interactions
				for k, r := range rules {
					// A failing rule means "not a member", as in Evaluate.
					v, _ := r.Eval(in)
					if v != (bits[k/64]&(1<<(k%64)) != 0) {
						changed[w] = append(changed[w], i)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	var pending []*decoded
	for _, idx := range changed {
		for _, i := range idx {
			e := &c.entries[i]
			d := &decoded{id: string(c.id(e)), version: e.version}
			if err := d.snap.UnmarshalBinary(c.snap(e)); err != nil {
				return nil, 0, fmt.Errorf("decode snapshot %s: %w", d.id, err)
			}
			d.snap.Refresh(now, a.traits, model)
			d.snap.Traits.RFM = profile.RFMScore{R: int(e.r), F: int(e.f), M: int(e.m), Group: c.groups[e.group]}
			pending = append(pending, d)
		}
	}
	slices.SortFunc(pending, func(x, y *decoded) int { return strings.Compare(x.id, y.id) })
	return pending, n, nil
}

// cachedMemberships reads the stored members of segs into a bitset of
// words words per cache entry (bit k of an entry: member of segs[k]), one
// segment per query on two connections at once. Members whose profile the
// cache does not hold yet (created after its sync) are left out: the event
// path that created them evaluated them. Call with c.mu read-locked.
func (a *App) cachedMemberships(ctx context.Context, segs []string, words int) ([]uint64, error) {
	c := &a.cache
	member := make([]uint64, len(c.entries)*words)
	next := atomic.Int64{}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(segs) {
					return
				}
				rows, err := a.pool.Query(ctx, `SELECT customer_id FROM memberships WHERE segment_id = $1`, segs[k])
				if err != nil {
					errs[w] = fmt.Errorf("read members of %s: %w", segs[k], err)
					return
				}
				for rows.Next() {
					if i := c.lookupBytes(rows.RawValues()[0]); i >= 0 {
						// Bits of other segments share the word: set atomically.
						atomic.OrUint64(&member[int(i)*words+k/64], 1<<(k%64))
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					errs[w] = fmt.Errorf("read members of %s: %w", segs[k], err)
					return
				}
			}
		})
	}
	wg.Wait()
	return member, errors.Join(errs...)
}

// Recompute evaluates the segments of the scope over every profile, from
// the in-memory profile cache (synced first), and writes only the
// membership changes, RecomputeBatch customers per transaction with their
// profiles locked, so a concurrent event for the same customer waits and
// no change is announced twice. Time-dependent traits are refreshed from
// the stored snapshots, never recomputed from the facts.
func (a *App) Recompute(ctx context.Context, scope Scope) (RecomputeResult, error) {
	var res RecomputeResult
	now := a.Now()
	q := sqlc.New(a.pool)
	g, _, err := a.loadGraph(ctx, q)
	if err != nil {
		return res, err
	}
	var ids []string
	switch scope {
	case ScopeAll:
		ids = g.Order()
	default:
		stale, err := q.StaleSegments(ctx)
		if err != nil {
			return res, fmt.Errorf("read stale segments: %w", err)
		}
		set := map[string]bool{}
		for _, id := range g.TimeDependent() {
			set[id] = true
		}
		for _, id := range stale {
			set[id] = true
			for _, d := range g.Dependents(id) {
				set[d] = true
			}
		}
		for _, id := range g.Order() {
			if set[id] {
				ids = append(ids, id)
			}
		}
	}
	return a.recompute(ctx, ids, now)
}

// RecomputeSegments evaluates the given segments and everything that
// depends on them over every profile (after a create or an update).
func (a *App) RecomputeSegments(ctx context.Context, ids ...string) (RecomputeResult, error) {
	now := a.Now()
	g, _, err := a.loadGraph(ctx, sqlc.New(a.pool))
	if err != nil {
		return RecomputeResult{}, err
	}
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
		for _, d := range g.Dependents(id) {
			set[d] = true
		}
	}
	var scope []string
	for _, id := range g.Order() {
		if set[id] {
			scope = append(scope, id)
		}
	}
	return a.recompute(ctx, scope, now)
}

// recompute evaluates the scope over every profile from the in-memory
// profile cache, synced first so the pass sees every profile committed
// before it started, and writes only the membership changes, in
// transactions of at most RecomputeBatch customers each. A profile changed
// after the sync has a newer version than the cached one and is left to
// the event path that changed it (see applyPending), so no change is
// announced twice.
func (a *App) recompute(ctx context.Context, scope []string, now time.Time) (RecomputeResult, error) {
	res := RecomputeResult{Segments: scope}
	if len(scope) == 0 {
		return res, nil
	}
	q := sqlc.New(a.pool)
	versions, err := q.SegmentVersions(ctx)
	if err != nil {
		return res, fmt.Errorf("read segment versions: %w", err)
	}
	model, err := a.currentModel(ctx, q)
	if err != nil {
		return res, err
	}
	if err := a.SyncProfileCache(ctx); err != nil {
		return res, err
	}
	g, _, err := a.loadGraph(ctx, q)
	if err != nil {
		return res, err
	}
	// Segments deleted since the scope was chosen are skipped.
	live := slices.DeleteFunc(slices.Clone(scope), func(id string) bool { _, ok := g.Rule(id); return !ok })
	// Evaluate without locks (the steady state of a scheduled pass
	// changes nothing and must not write); only customers whose
	// membership changes are locked and checked again below.
	pending, n, err := a.evalCache(ctx, g, live, now, model)
	if err != nil {
		return res, err
	}
	res.Profiles = n
	for start := 0; start < len(pending); start += a.cfg.RecomputeBatch {
		// The graph is read again per transaction, so a segment deleted
		// meanwhile is neither written nor announced.
		g, names, err := a.loadGraph(ctx, q)
		if err != nil {
			return res, err
		}
		live := slices.DeleteFunc(slices.Clone(live), func(id string) bool { _, ok := g.Rule(id); return !ok })
		changed, err := a.applyPending(ctx, g, names, live, pending[start:min(len(pending), start+a.cfg.RecomputeBatch)], now)
		if err != nil {
			return res, err
		}
		res.Changes += changed
	}
	err = postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		tq := sqlc.New(tx)
		for _, v := range versions {
			if !slices.Contains(scope, v.SegmentID) {
				continue
			}
			if err := tq.MarkEvaluated(ctx, sqlc.MarkEvaluatedParams{SegmentID: v.SegmentID, Version: v.Version, At: &now}); err != nil {
				return fmt.Errorf("mark %s evaluated: %w", v.SegmentID, err)
			}
			if err := tq.RecordSize(ctx, sqlc.RecordSizeParams{ID: v.SegmentID, At: now}); err != nil {
				return fmt.Errorf("record size of %s: %w", v.SegmentID, err)
			}
		}
		return nil
	})
	return res, err
}

// applyPending locks the customers whose membership a recompute wants to
// change, skips those whose profile changed since it was read (the event
// path evaluated them with fresher data, under the same lock, and
// announced what changed), evaluates the rest again on their current
// memberships and stores and announces the changes.
func (a *App) applyPending(ctx context.Context, g *segment.Graph, names map[string]string, scope []string, pending []*decoded, now time.Time) (int, error) {
	var p sqlc.LockUnchangedParams
	byID := make(map[string]*decoded, len(pending))
	for _, d := range pending {
		p.Ids, p.Versions = append(p.Ids, d.id), append(p.Versions, d.version)
		byID[d.id] = d
	}
	changed := 0
	err := postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		changed = 0
		tq := sqlc.New(tx)
		locked, err := tq.LockUnchanged(ctx, p)
		if err != nil {
			return fmt.Errorf("lock profiles: %w", err)
		}
		ms, err := membershipsOf(ctx, tq, locked)
		if err != nil {
			return err
		}
		var changes []segment.Change
		for _, id := range locked {
			d := byID[id]
			c, _, _ := g.Recompute(inputOf(id, &d.snap, ms[id], now), scope)
			changes = append(changes, c...)
		}
		changed = len(changes)
		return applyChanges(ctx, tx, changes, names, false)
	})
	return changed, err
}

// RFMReport is the outcome of a population scoring.
type RFMReport struct {
	ScoredAt   time.Time
	Population int
	Sizes      map[rfm.Group]int
}

// ScoreRFM scores every customer with orders by quintiles over the whole
// population, stores the scores and re-evaluates the segments that read
// them. It also refits the CLV model on the same population.
func (a *App) ScoreRFM(ctx context.Context) (RFMReport, error) {
	now := a.Now()
	q := sqlc.New(a.pool)
	rows, err := q.RFMPopulation(ctx)
	if err != nil {
		return RFMReport{}, fmt.Errorf("read rfm population: %w", err)
	}
	pop := make([]rfm.Customer, 0, len(rows))
	for _, r := range rows {
		pop = append(pop, rfm.Customer{ID: r.CustomerID, RecencyDays: max(0, int(now.Sub(*r.LastOrderAt)/(24*time.Hour))), Frequency: int(r.OrderCount), Monetary: r.TotalSpend})
	}
	scores, err := rfm.Scores(pop)
	if err != nil {
		return RFMReport{}, err
	}
	rep := RFMReport{ScoredAt: now, Population: len(pop), Sizes: rfm.Sizes(scores)}
	sizes, err := json.Marshal(rep.Sizes)
	if err != nil {
		return rep, fmt.Errorf("encode rfm sizes: %w", err)
	}
	const chunk = 20_000
	for start := 0; start < len(pop); start += chunk {
		var p sqlc.SetRFMParams
		p.ScoredAt = &now
		for _, c := range pop[start:min(len(pop), start+chunk)] {
			s := scores[c.ID]
			p.Ids = append(p.Ids, c.ID)
			p.Rs, p.Fs, p.Ms = append(p.Rs, int32(s.R)), append(p.Fs, int32(s.F)), append(p.Ms, int32(s.M))
			p.Groups = append(p.Groups, string(s.Group))
		}
		if err := q.SetRFM(ctx, p); err != nil {
			return rep, fmt.Errorf("store rfm scores: %w", err)
		}
	}
	if err := q.InsertRFMRun(ctx, sqlc.InsertRFMRunParams{ScoredAt: now, Population: int64(len(pop)), Sizes: sizes}); err != nil {
		return rep, fmt.Errorf("store rfm run: %w", err)
	}
	if err := a.FitCLV(ctx); err != nil && !errors.Is(err, clv.ErrNotEnoughData) {
		a.log.WarnContext(ctx, "clv fit failed", "err", err)
	}
	g, _, err := a.loadGraph(ctx, q)
	if err != nil {
		return rep, err
	}
	affected := g.Affected([]string{"rfm_r", "rfm_f", "rfm_m", "rfm_group", "clv", "churn_risk", "prob_alive", "expected_orders"})
	if _, err := a.recompute(ctx, affected, now); err != nil {
		return rep, err
	}
	return rep, nil
}

// FitCLV fits BG/NBD + Gamma-Gamma on every customer's order history (from
// the stored snapshots) and stores the model; traits use it from then on.
func (a *App) FitCLV(ctx context.Context) error {
	now := a.Now()
	q := sqlc.New(a.pool)
	var cs []clv.Customer
	after := ""
	for {
		rows, err := q.SnapshotPage(ctx, sqlc.SnapshotPageParams{CustomerID: after, Limit: 5000})
		if err != nil {
			return fmt.Errorf("read profiles: %w", err)
		}
		for _, r := range rows {
			var s profile.Snapshot
			if err := s.UnmarshalBinary(r.Snapshot); err != nil {
				return fmt.Errorf("decode snapshot %s: %w", r.CustomerID, err)
			}
			if len(s.Orders) > 0 {
				cs = append(cs, profile.History(s.Orders, now))
			}
		}
		if len(rows) < 5000 {
			break
		}
		after = rows[len(rows)-1].CustomerID
	}
	m, err := clv.Fit(cs, clv.Options{HorizonDays: 365, Margin: 1, Penalty: 0.001})
	if err != nil {
		return fmt.Errorf("fit clv: %w", err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode clv model: %w", err)
	}
	if err := q.SaveModel(ctx, sqlc.SaveModelParams{FittedAt: now, Model: raw}); err != nil {
		return fmt.Errorf("store clv model: %w", err)
	}
	a.forgetModel()
	return nil
}

// CheckCarts announces every cart left unbought for AbandonCartAfter with
// CartAbandoned, once per cart, and re-evaluates the customer's segments.
// It returns how many carts it announced.
func (a *App) CheckCarts(ctx context.Context) (int, error) {
	q := sqlc.New(a.pool)
	after, announced := "", 0
	for {
		ids, err := q.DueCarts(ctx, sqlc.DueCartsParams{Now: a.Now(), After: after, Lim: 500})
		if err != nil {
			return announced, fmt.Errorf("read open carts: %w", err)
		}
		for _, id := range ids {
			err := postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
				return a.UpdateProfile(ctx, tx, id, func(p *profile.Profile) error {
					now := a.Now()
					c, ok := p.FindAbandonedCart(now, a.traits.AbandonCartAfter)
					if !ok {
						return nil
					}
					if _, done := p.NotifiedCarts[c.Key]; done {
						return nil
					}
					p.NotifiedCarts[c.Key] = now
					announced++
					return outbox.Add(ctx, tx, cartAbandoned(p.CustomerID, c, a.cfg.Currency, now))
				})
			})
			if err != nil {
				return announced, err
			}
		}
		if len(ids) < 500 {
			return announced, nil
		}
		after = ids[len(ids)-1]
	}
}

func cartAbandoned(customerID string, c profile.AbandonedCart, currency string, now time.Time) events.Event {
	ca := &segev.CartAbandoned{CustomerId: customerID, CartId: c.Key, CartValue: &commercev1.Money{AmountMinor: c.Value, Currency: currency},
		LastActivityAt: timestamppb.New(c.LastActivity), OccurredAt: timestamppb.New(now)}
	for _, it := range c.Items {
		ca.Items = append(ca.Items, &segev.CartItem{ProductId: it.SKU, Sku: it.SKU, Quantity: it.Quantity, UnitPrice: &commercev1.Money{AmountMinor: it.Price, Currency: currency}})
	}
	return events.Event{Topic: topics.SegmentationEvents, Source: Source, Subject: customerID, Key: customerID, Time: now,
		Payload: &segev.SegmentationEvent{Event: &segev.SegmentationEvent_CartAbandoned{CartAbandoned: ca}}}
}

// Workers are the scheduled passes: time-based re-evaluation, RFM scoring
// with CLV fitting, and the abandoned-cart check. Every replica ticks, but
// each pass runs on one replica at a time and once per period (see
// RunScheduled).
func (a *App) Workers() []func(context.Context) error {
	every := func(name string, d time.Duration, fn func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error {
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				if _, err := a.RunScheduled(ctx, name, d, fn); err != nil && ctx.Err() == nil {
					a.log.ErrorContext(ctx, name+" failed", "err", err)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		}
	}
	return []func(context.Context) error{
		every("scheduled recompute", a.cfg.RecomputeEvery, func(ctx context.Context) error { _, err := a.Recompute(ctx, ScopeScheduled); return err }),
		every("rfm scoring", a.cfg.ScoreEvery, func(ctx context.Context) error { _, err := a.ScoreRFM(ctx); return err }),
		every("cart check", a.cfg.CartCheckEvery, func(ctx context.Context) error { _, err := a.CheckCarts(ctx); return err }),
		a.warmProfileCache,
	}
}
