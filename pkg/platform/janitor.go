package platform

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
)

// janitor keeps the platform's bookkeeping tables from growing forever: it
// deletes inbox rows and idempotency keys past their retention. Deleting is
// idempotent, so replicas may run it at the same time.
type janitor struct {
	pool                     *pgxpool.Pool
	inboxAge, idempotencyAge time.Duration
	interval                 time.Duration
	log                      *slog.Logger
}

// sweep runs one pass and returns how many rows each table lost.
func (j janitor) sweep(ctx context.Context, now time.Time) (inbox, keys int64, err error) {
	if inbox, err = consumer.PruneInbox(ctx, j.pool, j.inboxAge); err != nil {
		return 0, 0, err
	}
	if keys, err = idempotency.Prune(ctx, j.pool, now.Add(-j.idempotencyAge)); err != nil {
		return inbox, 0, err
	}
	return inbox, keys, nil
}

// run sweeps every interval until ctx ends. A failed sweep is logged and
// tried again at the next interval; it never stops the service.
func (j janitor) run(ctx context.Context) error {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		inbox, keys, err := j.sweep(ctx, time.Now())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			j.log.WarnContext(ctx, "janitor sweep failed", "err", err)
			continue
		}
		if inbox > 0 || keys > 0 {
			j.log.InfoContext(ctx, "janitor sweep", "inbox_rows", inbox, "idempotency_keys", keys)
		}
	}
}
