package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
)

// errKeyUsed means the claim found the idempotency key used by an earlier
// call: the unit stops and the call is answered from the stored response.
var errKeyUsed = errors.New("idempotency key already used")

// errHeldRead means a caller tried to read rows of a batch sent while the
// unit holds writes back; held-back statements have no results yet.
var errHeldRead = errors.New("results of a held-back batch cannot be read")

// DoPipelined is Do in two round trips to PostgreSQL instead of six, for
// commands (Redeem) whose profile is dominated by backends idle in
// transaction waiting for the next statement:
//
//  1. BEGIN, the idempotency claim and the command's first statements (the
//     member lock and the reads of its account, which the store sends as
//     one batch) go out together;
//  2. the command's writes, its outbox events, the stored response and
//     COMMIT go out together.
//
// Do's guarantees hold: the claim runs before anything else in the
// transaction (a concurrent call with the same key waits for this one and
// then replays it), a used key stops the command before it writes and
// answers with the stored response (or idempotency.ErrKeyReused), and a
// failing statement in the last batch makes PostgreSQL skip the rest,
// COMMIT included. Serialization failures and deadlocks are retried like
// postgres.InTx does.
func DoPipelined[T proto.Message](ctx context.Context, a *App, k Key, fn func(context.Context, *Unit) (T, error)) (T, error) {
	var zero T
	c, err := idempotency.NewClaim(k.Scope, k.Key, k.Request)
	if err != nil {
		return zero, err
	}
	set, err := a.currentSettings(ctx)
	if err != nil {
		return zero, err
	}
	for attempt := 1; ; attempt++ {
		resp, err := runPipelined(ctx, a, c, set, fn)
		if errors.Is(err, errKeyUsed) {
			// Replayed after the connection went back to the pool, so
			// that waiting for another cannot exhaust it.
			resp, err = idempotency.Replay[T](ctx, a.pool, c)
			if errors.Is(err, pgx.ErrNoRows) && attempt < postgres.MaxTxAttempts {
				continue // pruned since the claim: claim it anew
			}
		}
		if err == nil {
			return resp, nil
		}
		if !postgres.IsRetryable(err) {
			return zero, fmt.Errorf("postgres: transaction: %w", err)
		}
		if attempt == postgres.MaxTxAttempts {
			return zero, fmt.Errorf("postgres: transaction still failing after %d attempts: %w", attempt, err)
		}
		// The jittered backoff of postgres.InTx.
		window := min(5*time.Millisecond<<(attempt-1), 500*time.Millisecond)
		t := time.NewTimer(rand.N(window) + time.Millisecond) //nolint:gosec // jitter needs no cryptographic randomness
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("postgres: transaction: %w (after retryable error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// runPipelined runs one attempt of DoPipelined on a connection of its own.
func runPipelined[T proto.Message](ctx context.Context, a *App, c *idempotency.Claim, set SettingsRecord, fn func(context.Context, *Unit) (T, error)) (T, error) {
	var zero T
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		return zero, fmt.Errorf("acquire connection: %w", err)
	}
	// A connection left inside a transaction (a failed rollback) is
	// destroyed by Release rather than reused.
	defer conn.Release()
	t := &claimTx{conn: conn, claim: c}
	u := a.unit(t)
	u.set = set
	resp, err := fn(ctx, u)
	if err == nil {
		var end pgx.Batch
		if err = c.QueueResponse(&end, resp); err == nil {
			err = t.finish(ctx, &end)
		}
	}
	if err != nil {
		_ = t.Rollback(ctx)
		if errors.Is(t.err, errKeyUsed) {
			// Whatever fn made of it, the key was used: the stored
			// response answers.
			return zero, errKeyUsed
		}
		return zero, err
	}
	return resp, nil
}

// currentSettings is loadSettings outside the transaction: the replica's
// copy when fresh, else read from the pool (a transaction begun only to
// read the settings would cost a round trip more).
func (a *App) currentSettings(ctx context.Context) (SettingsRecord, error) {
	a.settings.mu.Lock()
	rec, fresh := a.settings.rec, a.settings.loaded && time.Since(a.settings.fetched) < a.settingsRefresh
	a.settings.mu.Unlock()
	if fresh {
		return rec, nil
	}
	rec, err := readSettings(ctx, sqlc.New(a.pool), a.cfg, a.Now().Truncate(time.Microsecond))
	if err != nil {
		return SettingsRecord{}, err
	}
	a.remember(rec)
	return rec, nil
}

// claimTx is the transaction of DoPipelined. It begins lazily: BEGIN and
// the idempotency claim go out in front of the first batch the command
// sends (or alone, in front of its first other statement). Once the
// command calls holdBackWrites, its Execs and batches are held back and go
// out with the stored response and COMMIT in finish.
//
// A held-back batch reports success for every Exec and refuses reads
// (errHeldRead): its statements have not run yet. Their errors surface in
// finish, which fails and rolls back; nothing commits that failed.
type claimTx struct {
	conn  *pgxpool.Conn
	claim *idempotency.Claim
	// tx is nil until BEGIN was sent.
	tx        pgx.Tx
	deferring bool
	pending   []*pgx.QueuedQuery
	// err is sticky: a failed batch aborted the transaction.
	err error
}

var _ pgx.Tx = (*claimTx)(nil)

// Deferring reports whether an Exec now is held back (the store then writes
// small change sets as plain statements, which cost no extra round trip).
func (t *claimTx) Deferring() bool { return t.deferring }

// begin sends BEGIN and the claim, followed by rest when not nil, and
// returns the batch's results positioned at rest's first statement (the
// caller closes them). A used key ends the transaction's use: errKeyUsed.
func (t *claimTx) begin(ctx context.Context, rest *pgx.Batch) (pgx.BatchResults, error) {
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	// Generic plans: profiling Redeem found PostgreSQL planning its
	// parameterised statements (and the entries trigger's query) afresh
	// for every call, about a fifth of the backends' samples. The
	// statements of a command are key lookups and single-row writes that
	// need no value-specific plan; measured -12% backend CPU per
	// redemption. SET LOCAL ends with the transaction.
	b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
	claim := t.claim.Queue(&b)
	if rest != nil {
		b.QueuedQueries = append(b.QueuedQueries, rest.QueuedQueries...)
	}
	br := t.conn.SendBatch(ctx, &b)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		t.err = fmt.Errorf("begin: %w", err)
		return nil, t.err
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		t.err = fmt.Errorf("generic plans: %w", err)
		return nil, t.err
	}
	if err := claim.Fn(br); err != nil {
		_ = br.Close()
		t.err = fmt.Errorf("claim idempotency key: %w", err)
		return nil, t.err
	}
	if claimed, err := t.claim.Claimed(); err != nil || !claimed {
		_ = br.Close()
		t.err = errKeyUsed
		return nil, t.err
	}
	if rest == nil {
		if err := br.Close(); err != nil {
			t.err = fmt.Errorf("begin: %w", err)
			return nil, t.err
		}
		return nil, nil
	}
	return br, nil
}

// ready begins the transaction when it has not begun and sends held-back
// writes, so that a statement run now sees them.
func (t *claimTx) ready(ctx context.Context) error {
	if t.err != nil {
		return t.err
	}
	if t.tx == nil {
		if _, err := t.begin(ctx, nil); err != nil {
			return err
		}
	}
	t.deferring = false
	if len(t.pending) == 0 {
		return nil
	}
	b := &pgx.Batch{QueuedQueries: t.pending}
	t.pending = nil
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		t.err = fmt.Errorf("held-back writes: %w", err)
	}
	return t.err
}

// finish sends the held-back writes, end's statements and COMMIT in one
// batch.
func (t *claimTx) finish(ctx context.Context, end *pgx.Batch) error {
	if t.err != nil {
		return t.err
	}
	if t.tx == nil {
		// Nothing was sent yet: the claim must be known before any
		// write goes out with a COMMIT behind it.
		if _, err := t.begin(ctx, nil); err != nil {
			return err
		}
	}
	b := &pgx.Batch{QueuedQueries: t.pending}
	t.pending, t.deferring = nil, false
	b.QueuedQueries = append(b.QueuedQueries, end.QueuedQueries...)
	b.Queue("COMMIT")
	br := t.tx.SendBatch(ctx, b)
	for i, q := range b.QueuedQueries {
		var ct pgconn.CommandTag
		var err error
		if q.Fn != nil {
			err = q.Fn(br)
		} else {
			ct, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			t.err = fmt.Errorf("write and commit: %w", err)
			return t.err
		}
		if i == len(b.QueuedQueries)-1 && ct.String() == "ROLLBACK" {
			_ = br.Close()
			t.err = pgx.ErrTxCommitRollback
			return t.err
		}
	}
	if err := br.Close(); err != nil {
		t.err = fmt.Errorf("write and commit: %w", err)
	}
	return t.err
}

// Begin starts a savepoint in the transaction.
func (t *claimTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	return t.tx.Begin(ctx)
}

// Commit sends what is held back and commits.
func (t *claimTx) Commit(ctx context.Context) error { return t.finish(ctx, &pgx.Batch{}) }

// Rollback ends the transaction when one is open on the connection.
func (t *claimTx) Rollback(ctx context.Context) error {
	t.pending, t.deferring = nil, false
	if t.tx == nil || t.conn.Conn().PgConn().TxStatus() == 'I' {
		return nil
	}
	return t.tx.Rollback(ctx)
}

// CopyFrom sends what is held back first.
func (t *claimTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ready(ctx); err != nil {
		return 0, err
	}
	return t.tx.CopyFrom(ctx, table, cols, src)
}

// SendBatch holds b back while deferring; otherwise it sends b (behind
// BEGIN and the claim when the transaction has not begun).
func (t *claimTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.err != nil {
		return errResults{t.err}
	}
	if t.deferring {
		t.pending = append(t.pending, b.QueuedQueries...)
		return &heldResults{left: len(b.QueuedQueries)}
	}
	if t.tx == nil {
		br, err := t.begin(ctx, b)
		if err != nil {
			return errResults{err}
		}
		return br
	}
	if err := t.ready(ctx); err != nil {
		return errResults{err}
	}
	return t.tx.SendBatch(ctx, b)
}

// LargeObjects is the transaction's; it needs the transaction begun.
func (t *claimTx) LargeObjects() pgx.LargeObjects {
	if t.tx == nil {
		return pgx.LargeObjects{}
	}
	return t.tx.LargeObjects()
}

// Prepare prepares on the connection.
func (t *claimTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// Exec holds sql back while deferring, else runs it.
func (t *claimTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.err != nil {
		return pgconn.CommandTag{}, t.err
	}
	if t.deferring {
		t.pending = append(t.pending, &pgx.QueuedQuery{SQL: sql, Arguments: args})
		return pgconn.CommandTag{}, nil
	}
	if err := t.ready(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.tx.Exec(ctx, sql, args...)
}

// Query sends what is held back first, so the read sees it.
func (t *claimTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

// QueryRow sends what is held back first, so the read sees it.
func (t *claimTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.ready(ctx); err != nil {
		return errRow{err}
	}
	return t.tx.QueryRow(ctx, sql, args...)
}

// Conn is the underlying connection.
func (t *claimTx) Conn() *pgx.Conn { return t.conn.Conn() }

// heldResults are the results of a held-back batch.
type heldResults struct{ left int }

func (r *heldResults) Exec() (pgconn.CommandTag, error) {
	if r.left == 0 {
		return pgconn.CommandTag{}, errors.New("no more results in the batch")
	}
	r.left--
	return pgconn.CommandTag{}, nil
}
func (r *heldResults) Query() (pgx.Rows, error) { return nil, errHeldRead }
func (r *heldResults) QueryRow() pgx.Row        { return errRow{errHeldRead} }
func (r *heldResults) Close() error             { return nil }

// Tx is nil: a held-back batch begins no transaction.
func (r *heldResults) Tx() pgx.Tx { return nil }

// holdBackWrites holds this unit's writes back until its next read or its
// end (see deferWrites); on a DoPipelined unit until its COMMIT.
func (u *Unit) holdBackWrites() {
	if t, ok := u.tx.(*claimTx); ok {
		t.deferring = true
		return
	}
	u.deferWrites()
}
