package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
)

// jobLock is the transaction-scoped advisory lock the scheduled jobs take,
// so that several replicas running them at once never work on the same batch
// twice (the others find the lock taken and wait for the next tick).
const jobLock = 0x6c6f79616c7479 // "loyalty"

// JobStats says what one run of the scheduled jobs did.
type JobStats struct {
	ExpiredMembers int
	ReleasedHolds  int
	Warnings       int
	TierReviews    int
	// Recognized is how many members recognition looked at.
	Recognized int
	// PrizesGranted counts owed challenge prizes issued now that their
	// reward has stock again.
	PrizesGranted int
}

// batch is how many members, holds or lots one job transaction handles, so
// that a large backlog is worked off in short transactions.
const batch = 100

// RunJobs runs the scheduled jobs once, until nothing is due: expire due
// lots (PointsExpired), expire lapsed holds, announce PointsWillExpire, and
// review tiers whose qualification window ended. Each run counts in
// loyalty.expiry.runs with outcome success or failure; a run cut short by
// ctx (shutdown) is neither.
func (a *App) RunJobs(ctx context.Context) (JobStats, error) {
	st, err := a.runJobs(ctx)
	switch {
	case err == nil:
		a.expiryRuns.Add(ctx, 1, metric.WithAttributes(outcomeSuccess))
	case ctx.Err() == nil:
		a.expiryRuns.Add(ctx, 1, metric.WithAttributes(outcomeFailure))
	}
	return st, err
}

var (
	outcomeSuccess = attribute.String("outcome", "success")
	outcomeFailure = attribute.String("outcome", "failure")
)

func (a *App) runJobs(ctx context.Context) (JobStats, error) {
	var st JobStats
	// Recognition walks the members in id order once per run, so members
	// whose occasion the domain turns down cannot hold up the others.
	var cursor string
	for {
		var n JobStats
		err := a.InTx(ctx, func(u *Unit) error {
			n = JobStats{}
			got, err := u.st.Q.TryJobLock(ctx, jobLock)
			if err != nil {
				return fmt.Errorf("job lock: %w", err)
			}
			if !got {
				return nil
			}
			next := cursor
			if err := u.jobBatch(ctx, &n); err != nil {
				return err
			}
			if n.Recognized, err = u.recognize(ctx, &next); err != nil {
				return err
			}
			cursor = next
			return nil
		})
		if err != nil {
			return st, err
		}
		st.ExpiredMembers += n.ExpiredMembers
		st.ReleasedHolds += n.ReleasedHolds
		st.Warnings += n.Warnings
		st.TierReviews += n.TierReviews
		st.Recognized += n.Recognized
		st.PrizesGranted += n.PrizesGranted
		if n == (JobStats{}) {
			return st, nil
		}
	}
}

func (u *Unit) jobBatch(ctx context.Context, n *JobStats) error {
	holds, err := u.st.Q.DueHolds(ctx, sqlc.DueHoldsParams{ExpiresAt: u.now, Limit: batch})
	if err != nil {
		return fmt.Errorf("due holds: %w", err)
	}
	for _, id := range holds {
		if _, err := u.ReleaseHold(ctx, id, ""); err != nil {
			return fmt.Errorf("expire hold %s: %w", id, err)
		}
		n.ReleasedHolds++
	}
	members, err := u.st.Q.MembersWithDueLots(ctx, sqlc.MembersWithDueLotsParams{ExpiresAt: tp(u.now), Limit: batch})
	if err != nil {
		return fmt.Errorf("members with due lots: %w", err)
	}
	for _, id := range members {
		acct, _, err := u.account(ctx, id, nil)
		if err != nil {
			return err
		}
		if len(acct.ExpireDue(u.now)) == 0 {
			continue
		}
		if err := u.st.SaveAccount(ctx, acct, 0, 0); err != nil {
			return err
		}
		if err := u.publish(ctx, acct.Changes().Entries, eventInfo{}); err != nil {
			return err
		}
		n.ExpiredMembers++
	}
	if p := u.a.cfg.Program.Expiry; p.Kind == expiry.Inactivity {
		cutoff := expiry.AddMonths(u.now.In(loc(p)), -p.InactivityMonths).UTC()
		ids, err := u.st.Q.InactiveMembers(ctx, sqlc.InactiveMembersParams{Cutoff: cutoff, Now: u.now, Lim: batch})
		if err != nil {
			return fmt.Errorf("inactive members: %w", err)
		}
		for _, id := range ids {
			acct, _, err := u.account(ctx, id, nil)
			if err != nil {
				return err
			}
			if !p.InactivityDue(acct.State().LastActivity, u.now) {
				continue
			}
			if _, ok := acct.ExpireAll(u.now); !ok {
				continue
			}
			if err := u.st.SaveAccount(ctx, acct, 0, 0); err != nil {
				return err
			}
			if err := u.publish(ctx, acct.Changes().Entries, eventInfo{}); err != nil {
				return err
			}
			n.ExpiredMembers++
		}
	}
	if p := u.a.cfg.Program.Expiry; p.WarnBefore > 0 && p.Kind == expiry.FixedPeriod {
		lots, err := u.st.Q.LotsToWarn(ctx, sqlc.LotsToWarnParams{Now: u.now, Until: u.now.Add(p.WarnBefore), Lim: batch})
		if err != nil {
			return fmt.Errorf("lots to warn: %w", err)
		}
		ids := make([]string, 0, len(lots))
		evs := make([]events.Event, 0, len(lots))
		for _, l := range lots {
			ids = append(ids, l.ID)
			evs = append(evs, events.Event{Topic: topics.LoyaltyEvents, Source: Source, Subject: l.MemberID, Time: u.now,
				Payload: &eventsv1.LoyaltyEvent{Event: &eventsv1.LoyaltyEvent_PointsWillExpire{PointsWillExpire: &eventsv1.PointsWillExpire{
					CustomerId: l.MemberID, Points: l.Remaining, ExpiresAt: ts(*l.ExpiresAt), OccurredAt: ts(u.now)}}}})
		}
		if len(lots) > 0 {
			if err := outbox.Add(ctx, u.tx, evs...); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if err := u.st.Q.MarkLotsWarned(ctx, sqlc.MarkLotsWarnedParams{At: u.now, Ids: ids}); err != nil {
				return fmt.Errorf("mark warned: %w", err)
			}
		}
		n.Warnings += len(lots)
	}
	if n.PrizesGranted, err = u.grantOwedPrizes(ctx, batch); err != nil {
		return err
	}
	review, err := u.st.Q.MembersDueForReview(ctx, sqlc.MembersDueForReviewParams{Now: u.now, Lim: batch})
	if err != nil {
		return fmt.Errorf("tier reviews due: %w", err)
	}
	for _, id := range review {
		if err := u.ReviewTier(ctx, id); err != nil {
			return err
		}
		n.TierReviews++
	}
	return nil
}

// JobWorker runs the scheduled jobs every interval until ctx ends; errors
// are logged and retried at the next tick.
func (a *App) JobWorker(interval time.Duration, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := a.RunJobs(ctx); err != nil && ctx.Err() == nil {
				log.Error("loyalty jobs", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

func loc(p expiry.Policy) *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}
