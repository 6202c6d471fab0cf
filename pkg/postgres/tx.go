package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxTxAttempts bounds how often InTx and InTxOptions run a transaction that
// keeps failing with a retryable error.
const MaxTxAttempts = 10

// Backoff between attempts: full jitter over an exponentially growing
// window, so that transactions that collided once do not collide again in
// lockstep.
const (
	retryBaseDelay = 5 * time.Millisecond
	retryMaxDelay  = 500 * time.Millisecond
)

// InTx runs fn in a read-committed transaction on pool and commits it when fn
// returns nil; see InTxOptions.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return InTxOptions(ctx, pool, pgx.TxOptions{}, fn)
}

// InTxOptions runs fn in a transaction with opts and commits it when fn
// returns nil. When fn or the commit fails with a serialization failure
// (SQLSTATE 40001) or a deadlock (40P01), the transaction is rolled back and
// run again after a jittered backoff, up to MaxTxAttempts times; fn must
// therefore have no effects outside the transaction. Any other error rolls
// the transaction back and is returned wrapped, so errors.Is and errors.As
// still find fn's own errors.
func InTxOptions(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, pool, opts, fn)
		if err == nil {
			return nil
		}
		if !IsRetryable(err) {
			return fmt.Errorf("postgres: transaction: %w", err)
		}
		if attempt == MaxTxAttempts {
			return fmt.Errorf("postgres: transaction still failing after %d attempts: %w", attempt, err)
		}
		window := min(retryBaseDelay<<(attempt-1), retryMaxDelay)
		delay := rand.N(window) + time.Millisecond //nolint:gosec // jitter needs no cryptographic randomness
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: transaction: %w (after retryable error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// IsRetryable reports whether err means PostgreSQL aborted a transaction that
// would succeed if run again: a serialization failure (40001) or a deadlock
// (40P01).
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}
