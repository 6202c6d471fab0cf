package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/postgres"
)

// schedulerLockClass is the first key of the advisory locks guarding the
// scheduled passes (the second is hashtext of the pass's name). Two-key
// advisory locks never collide with the outbox relay's one-key lock.
const schedulerLockClass = 0x5e6d

// profileLockClass is the first key of the advisory lock UpdateProfile
// takes on a customer (the second is hashtext of the customer id).
const profileLockClass = 0x5e70

// RunScheduled runs fn as the scheduled pass name on this replica only if
// no replica started it less than 90 % of every ago and none is running it
// (one that started more than max(3×every, 15m) ago counts as crashed). The
// claim is taken in a short transaction under a transaction-level advisory
// lock on the pass, so replicas ticking at the same moment cannot both
// claim it, and the start recorded in scheduler_runs makes the replicas
// that tick later in the same period skip. It reports whether fn ran; fn's
// error is returned and recorded.
func (a *App) RunScheduled(ctx context.Context, name string, every time.Duration, fn func(context.Context) error) (bool, error) {
	claimed := false
	stale := max(3*every, 15*time.Minute)
	err := postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		claimed = false
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, schedulerLockClass, name).Scan(&locked); err != nil {
			return fmt.Errorf("try scheduler lock %s: %w", name, err)
		}
		if !locked {
			return nil // another replica is claiming this very moment
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO scheduler_runs AS r (name, started_at, runs) VALUES ($1, now(), 1)
			ON CONFLICT (name) DO UPDATE SET started_at = now(), runs = r.runs + 1
			WHERE r.started_at <= now() - $2::float8 * interval '1 second'
			  AND (r.finished_at >= r.started_at OR r.started_at <= now() - $3::float8 * interval '1 second')`,
			name, (every - every/10).Seconds(), stale.Seconds())
		if err != nil {
			return fmt.Errorf("claim scheduled run %s: %w", name, err)
		}
		claimed = tag.RowsAffected() == 1
		return nil
	})
	if err != nil || !claimed {
		return false, err
	}
	runErr := fn(ctx)
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	// Recorded even when ctx ended, so the next replica need not wait for
	// the crash timeout.
	if _, err := a.pool.Exec(context.WithoutCancel(ctx), `UPDATE scheduler_runs SET finished_at = now(), last_error = $2 WHERE name = $1`, name, msg); err != nil && runErr == nil {
		runErr = fmt.Errorf("record scheduled run %s: %w", name, err)
	}
	return true, runErr
}
