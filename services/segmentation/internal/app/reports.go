package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/backoff"
	"github.com/affinity-platform/affinity/pkg/postgres"

	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// Intervals are the bucket lengths of the size-over-time and population
// queries (UTC; weeks start on Monday).
var Intervals = []string{"day", "week", "month"}

// ValidInterval reports whether s is one of Intervals.
func ValidInterval(s string) bool {
	for _, v := range Intervals {
		if v == s {
			return true
		}
	}
	return false
}

// Membership says whether a customer is in a segment and since when.
type Membership struct {
	Member    bool
	EnteredAt time.Time
}

// CheckMembership reports whether the customer is in the segment now. An
// unknown segment is segment.ErrNotFound; an unknown customer is simply
// not a member.
func (a *App) CheckMembership(ctx context.Context, segmentID, customerID string) (Membership, error) {
	q := sqlc.New(a.pool)
	if err := segmentExists(ctx, q, segmentID); err != nil {
		return Membership{}, err
	}
	at, err := q.MemberSince(ctx, sqlc.MemberSinceParams{SegmentID: segmentID, CustomerID: customerID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Membership{}, nil
	}
	if err != nil {
		return Membership{}, fmt.Errorf("read membership: %w", err)
	}
	return Membership{Member: true, EnteredAt: at}, nil
}

func segmentExists(ctx context.Context, q *sqlc.Queries, id string) error {
	if _, err := q.GetSegment(ctx, id); errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", segment.ErrNotFound, id)
	} else if err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	return nil
}

// ExportPage is one page of a segment export.
type ExportPage struct {
	Members     []sqlc.SegmentMembersRow
	SegmentSize int64
}

// ExportMembers reads up to limit members after the given customer id,
// with the segment's current size so a client can show progress.
func (a *App) ExportMembers(ctx context.Context, segmentID, after string, limit int) (ExportPage, error) {
	q := sqlc.New(a.pool)
	s, err := q.GetSegment(ctx, segmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ExportPage{}, fmt.Errorf("%w: %s", segment.ErrNotFound, segmentID)
	}
	if err != nil {
		return ExportPage{}, fmt.Errorf("read segment: %w", err)
	}
	rows, err := q.SegmentMembers(ctx, sqlc.SegmentMembersParams{SegmentID: segmentID, CustomerID: after, Limit: int32(limit)})
	if err != nil {
		return ExportPage{}, fmt.Errorf("read members: %w", err)
	}
	return ExportPage{Members: rows, SegmentSize: s.Size}, nil
}

// SizeBucket is a segment's size in one bucket of a size-over-time chart.
type SizeBucket struct {
	Start      time.Time
	Size       int64 // the last size measured in the bucket
	Min, Max   int64
	MeasuredAt time.Time
}

// SizeSeries returns a segment's measured sizes in buckets of the interval
// over [from, to); a zero to means until now. Sizes are measured after
// every evaluation of the segment and by the size recorder (RecordSizes,
// every RECOMPUTE_EVERY); when the range reaches now, the current size is
// the last point, so a chart of a new segment has a point at once.
func (a *App) SizeSeries(ctx context.Context, segmentID, interval string, from, to time.Time) ([]SizeBucket, error) {
	now := a.Now()
	if to.IsZero() {
		to = now.Add(time.Microsecond)
	}
	q := sqlc.New(a.pool)
	s, err := q.GetSegment(ctx, segmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", segment.ErrNotFound, segmentID)
	}
	if err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	rows, err := q.SegmentSizeBuckets(ctx, sqlc.SegmentSizeBucketsParams{Unit: interval, SegmentID: segmentID, StartTime: from, EndTime: to})
	if err != nil {
		return nil, fmt.Errorf("read sizes: %w", err)
	}
	out := make([]SizeBucket, len(rows))
	for i, r := range rows {
		out[i] = SizeBucket{Start: r.PeriodStart.UTC(), Size: r.Size, Min: r.MinSize, Max: r.MaxSize, MeasuredAt: r.MeasuredAt.UTC()}
	}
	if !now.Before(from) && now.Before(to) {
		start := bucketStart(now, interval)
		if n := len(out); n > 0 && out[n-1].Start.Equal(start) {
			b := &out[n-1]
			b.Size, b.Min, b.Max, b.MeasuredAt = s.Size, min(b.Min, s.Size), max(b.Max, s.Size), now
		} else {
			out = append(out, SizeBucket{Start: start, Size: s.Size, Min: s.Size, Max: s.Size, MeasuredAt: now})
		}
	}
	return out, nil
}

// bucketStart is the UTC start of the bucket containing t, as PostgreSQL's
// date_trunc computes it (weeks start on Monday).
func bucketStart(t time.Time, interval string) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch interval {
	case "week":
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}

// RecordSizes stores every segment's current size, so segments whose
// membership only changes through events (and is therefore never fully
// re-evaluated by the schedule) still get points on the size chart. It
// also drops anonymous interactions older than the longest rule window
// that were never identified.
func (a *App) RecordSizes(ctx context.Context) error {
	now := a.Now()
	q := sqlc.New(a.pool)
	if err := q.RecordAllSizes(ctx, now); err != nil {
		return fmt.Errorf("record segment sizes: %w", err)
	}
	if _, err := q.PurgeAnonymousEvents(ctx, now.Add(-segment.MaxWindow)); err != nil {
		return fmt.Errorf("purge anonymous interactions: %w", err)
	}
	return nil
}

// StatsSyncEvery is how often the copies the population statistics read
// (stats_orders, stats_activity) are brought up to date in the
// background. A call re-derives the rows of every profile written since
// the previous sync; without the background sync the first dashboard call
// after a large import paid for the whole import (seconds per hundred
// thousand profiles), now it finds at most a minute of changes.
const StatsSyncEvery = time.Minute

// ReportWorkers are the passes this file adds to Workers: the size
// recorder, every RECOMPUTE_EVERY (hourly by default) but at least daily,
// and the population statistics sync, every StatsSyncEvery; each on one
// replica per period (RunScheduled).
func (a *App) ReportWorkers() []func(context.Context) error {
	every := min(a.cfg.RecomputeEvery, 24*time.Hour)
	return []func(context.Context) error{
		a.scheduledLoop("segment sizes", every, a.RecordSizes),
		a.scheduledLoop("population statistics", StatsSyncEvery, a.SyncStats),
	}
}

// scheduledLoop runs fn at once and then every period as the scheduled
// pass name (RunScheduled), logging its failures, until ctx ends.
func (a *App) scheduledLoop(name string, every time.Duration, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if _, err := a.RunScheduled(ctx, name, every, fn); err != nil && ctx.Err() == nil {
				a.log.ErrorContext(ctx, "scheduled pass failed", "pass", name, "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

// Template returns a ready-made segment by id.
func Template(id string) (segment.Template, bool) {
	for _, t := range segment.Templates {
		if t.ID == id {
			return t, true
		}
	}
	return segment.Template{}, false
}

// RFMCell is one recency x frequency cell of the RFM grid.
type RFMCell struct {
	R, F            int
	Customers       int64
	AverageMonetary int64 // average net spend, minor units
}

// RFMGrid is the latest population scoring as a grid.
type RFMGrid struct {
	ScoredAt   *time.Time // nil before the first scoring
	Population int64
	Cells      []RFMCell // all 25, recency-major
	Groups     map[rfm.Group]int64
}

// RFMGridNow returns the customers of the latest scoring run per recency x
// frequency cell (all 25 cells, empty ones with zero) and per named group.
// Customers scored by an older run only (all their orders were cancelled
// since) are not counted.
func (a *App) RFMGridNow(ctx context.Context) (RFMGrid, error) {
	q := sqlc.New(a.pool)
	var g RFMGrid
	g.Groups = map[rfm.Group]int64{}
	g.Cells = make([]RFMCell, 0, 25)
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			g.Cells = append(g.Cells, RFMCell{R: r, F: f})
		}
	}
	run, err := q.LatestRFMRun(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, nil
	}
	if err != nil {
		return g, fmt.Errorf("read rfm run: %w", err)
	}
	at := run.ScoredAt.UTC()
	g.ScoredAt, g.Population = &at, run.Population
	cells, err := q.RFMGridCells(ctx, run.ScoredAt)
	if err != nil {
		return g, fmt.Errorf("read rfm grid: %w", err)
	}
	for _, c := range cells {
		if c.RfmR < 1 || c.RfmR > 5 || c.RfmF < 1 || c.RfmF > 5 {
			continue
		}
		cell := &g.Cells[(c.RfmR-1)*5+(c.RfmF-1)]
		cell.Customers, cell.AverageMonetary = c.Customers, c.AverageMonetary
	}
	groups, err := q.RFMGridGroups(ctx, run.ScoredAt)
	if err != nil {
		return g, fmt.Errorf("read rfm groups: %w", err)
	}
	for _, r := range groups {
		g.Groups[rfm.Group(r.RfmGroup)] = r.Customers
	}
	return g, nil
}

// PopulationTotals are the customer base's figures now.
type PopulationTotals struct {
	Customers, Buyers, RepeatBuyers, Active30d, Orders, Revenue int64
}

// PopulationPeriod is one period's figures; see docs/segmentation.md for
// the formulas.
type PopulationPeriod struct {
	Start, End                                time.Time
	CustomersAtStart, NewCustomers            int64
	CustomersAtEnd, ActiveCustomers           int64
	Orders, Revenue, BuyersByEnd, RepeatByEnd int64
}

// RetentionRate is (customers at end - new customers) / customers at start,
// 0 when there were no customers at the start.
func (p PopulationPeriod) RetentionRate() float64 {
	if p.CustomersAtStart == 0 {
		return 0
	}
	return float64(p.CustomersAtEnd-p.NewCustomers) / float64(p.CustomersAtStart)
}

// PopulationStats are the overview figures of the console.
type PopulationStats struct {
	Totals     PopulationTotals
	Periods    []PopulationPeriod
	Currency   string
	ComputedAt time.Time
}

// MaxPeriods bounds a population query: each period scans the orders once
// per figure.
const MaxPeriods = 400

// Population computes the totals now and the figures of every interval
// period from the one containing from until to, in SQL over the facts (the
// counted_orders and customer_activity views).
func (a *App) Population(ctx context.Context, interval string, from, to time.Time) (PopulationStats, error) {
	if !ValidInterval(interval) {
		return PopulationStats{}, fmt.Errorf("interval %q: must be day, week or month", interval)
	}
	if err := a.SyncStats(ctx); err != nil {
		return PopulationStats{}, err
	}
	now := a.Now()
	q := sqlc.New(a.pool)
	out := PopulationStats{Currency: a.cfg.Currency, ComputedAt: now}
	t, err := q.PopulationTotals(ctx, sqlc.PopulationTotalsParams{Now: now, Currency: a.cfg.Currency})
	if err != nil {
		return out, fmt.Errorf("population totals: %w", err)
	}
	out.Totals = PopulationTotals{Customers: t.Customers, Buyers: t.Buyers, RepeatBuyers: t.RepeatBuyers, Active30d: t.Active30d, Orders: t.Orders, Revenue: t.Revenue}
	rows, err := q.PopulationPeriods(ctx, sqlc.PopulationPeriodsParams{Currency: a.cfg.Currency, EndTime: to, Unit: interval, StartTime: from})
	if err != nil {
		return out, fmt.Errorf("population periods: %w", err)
	}
	for _, r := range rows {
		out.Periods = append(out.Periods, PopulationPeriod{Start: r.PeriodStart.UTC(), End: r.PeriodEnd.UTC(), CustomersAtStart: r.CustomersAtStart,
			NewCustomers: r.NewCustomers, CustomersAtEnd: r.CustomersAtEnd, ActiveCustomers: r.ActiveCustomers, Orders: r.Orders,
			Revenue: r.Revenue, BuyersByEnd: r.BuyersByEnd, RepeatByEnd: r.RepeatBuyersByEnd})
	}
	return out, nil
}

// SyncStats brings stats_orders and stats_activity up to date with the
// facts: it re-derives the rows of every profile written since the last
// sync (changed_xid at or after the stored horizon) from the
// counted_orders and customer_activity views. It runs in one repeatable-
// read transaction whose snapshot's xmin becomes the next horizon, so a
// transaction still running now is read again next time and none is
// missed; concurrent syncs serialise on the stats_sync row. The first sync
// reads every profile; later ones only the changed ones.
func (a *App) SyncStats(ctx context.Context) error {
	err := postgres.InTxOptions(ctx, a.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		q := sqlc.New(tx)
		from, err := q.LockStatsSync(ctx)
		if err != nil {
			return fmt.Errorf("lock stats sync: %w", err)
		}
		next, err := q.StatsHorizonNow(ctx)
		if err != nil {
			return fmt.Errorf("read snapshot horizon: %w", err)
		}
		if err := q.DeleteStatsActivity(ctx, from); err != nil {
			return fmt.Errorf("clear changed activity: %w", err)
		}
		if _, err := q.DeleteStatsOrders(ctx, from); err != nil {
			return fmt.Errorf("clear changed orders: %w", err)
		}
		if _, err := q.InsertStatsOrders(ctx, from); err != nil {
			return fmt.Errorf("copy changed orders: %w", err)
		}
		if err := q.InsertStatsActivity(ctx, from); err != nil {
			return fmt.Errorf("copy changed activity: %w", err)
		}
		if err := q.SetStatsHorizon(ctx, next); err != nil {
			return fmt.Errorf("store stats horizon: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync population statistics: %w", err)
	}
	return nil
}

// PeriodCount is how many interval periods [from, to) spans, counting the
// partial first one, for validating requests before running them.
func PeriodCount(interval string, from, to time.Time) int {
	n := 0
	for t := bucketStart(from, interval); t.Before(to) && n <= MaxPeriods; n++ {
		switch interval {
		case "week":
			t = t.AddDate(0, 0, 7)
		case "month":
			t = t.AddDate(0, 1, 0)
		default:
			t = t.AddDate(0, 0, 1)
		}
	}
	return n
}

// Currency is the reporting currency of monetary figures.
func (a *App) Currency() string { return a.cfg.Currency }

// RFMPass is the scheduler_runs name of RFM scoring, shared by the
// scheduled run (Workers) and the on-demand one (RecomputeRFM).
const RFMPass = "rfm scoring"

// ErrScoringRunning is returned by RecomputeRFM while another scoring (the
// scheduled one or another on-demand one, on any replica) is in progress.
var ErrScoringRunning = errors.New("an RFM scoring is running; retry when it has finished")

// RecomputeRFM scores the population now, on demand, exactly as the
// scheduled run does (ScoreRFM, which also refits CLV and re-evaluates the
// segments reading RFM, CLV or churn risk). It claims the scheduled pass's
// run the way RunScheduled does (same advisory lock, same scheduler_runs
// row) but regardless of how recently it ran, so it never overlaps the
// scheduled run or another on-demand one, and the scheduled run of the
// same period is skipped after it. While another scoring runs it waits
// for it (a replica's startup scoring, say) up to rfmWaitLimit, then gives
// up with ErrScoringRunning.
func (a *App) RecomputeRFM(ctx context.Context) (RFMReport, error) {
	deadline := time.Now().Add(rfmWaitLimit)
	for retry := 0; ; retry++ {
		claimed, err := a.claimRFM(ctx)
		if err != nil {
			return RFMReport{}, err
		}
		if claimed {
			break
		}
		if time.Now().After(deadline) || !backoff.Sleep(ctx, backoff.Delay(100*time.Millisecond, 2*time.Second, retry)) {
			return RFMReport{}, ErrScoringRunning
		}
	}
	rep, runErr := a.ScoreRFM(ctx)
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := sqlc.New(a.pool).FinishPass(context.WithoutCancel(ctx), sqlc.FinishPassParams{Name: RFMPass, LastError: msg}); err != nil && runErr == nil {
		runErr = fmt.Errorf("record rfm scoring: %w", err)
	}
	return rep, runErr
}

// rfmWaitLimit bounds how long an on-demand scoring waits for one already
// running.
const rfmWaitLimit = time.Minute

// claimRFM claims the RFM scoring pass now, unless another scoring holds it.
func (a *App) claimRFM(ctx context.Context) (bool, error) {
	claimed := false
	stale := max(3*a.cfg.ScoreEvery, 15*time.Minute)
	err := postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		claimed = false
		q := sqlc.New(tx)
		locked, err := q.TryPassLock(ctx, sqlc.TryPassLockParams{Class: schedulerLockClass, Name: RFMPass})
		if err != nil {
			return fmt.Errorf("try scheduler lock: %w", err)
		}
		if !locked {
			return nil
		}
		n, err := q.ClaimPassNow(ctx, sqlc.ClaimPassNowParams{Name: RFMPass, StaleSeconds: stale.Seconds()})
		claimed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim rfm scoring: %w", err)
	}
	return claimed, nil
}
