package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeTx is a transaction that can hold back writes whose results nobody
// reads and send them together, in one network round trip, right before the
// next read or at the end of the unit of work. A Redeem ends with three
// such writes (the ledger changes, the outbox events, the idempotency
// response); sent one by one they cost three round trips, each of which
// wakes the database backend and the service once more on a machine where
// both share two cores.
//
// Writes are held back only once deferWrites was called, so every Exec
// before it behaves as usual (including callers that read RowsAffected).
// A held-back write's error surfaces at the flush, inside the same
// transaction and InTx's retry, so nothing commits that failed.
type pipeTx struct {
	pgx.Tx
	deferring bool
	pending   []queued
	// err is a failed flush's error: the transaction is aborted and
	// every later flush reports it.
	err error
}

type queued struct {
	sql  string
	args []any
}

// Deferring reports whether an Exec now is held back (the store then writes
// small change sets as plain statements, which cost no extra round trip).
func (p *pipeTx) Deferring() bool { return p.deferring }

// Exec runs sql, or holds it back while deferring (its command tag is then
// empty: callers that need it must run before deferWrites).
func (p *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.deferring {
		p.pending = append(p.pending, queued{sql: sql, args: args})
		return pgconn.CommandTag{}, nil
	}
	if err := p.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return p.Tx.Exec(ctx, sql, args...)
}

// Query sends the held-back writes first, so the read sees them.
func (p *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Query(ctx, sql, args...)
}

// QueryRow sends the held-back writes first, so the read sees them.
func (p *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := p.flush(ctx); err != nil {
		return errRow{err}
	}
	return p.Tx.QueryRow(ctx, sql, args...)
}

// SendBatch sends the held-back writes first, so the batch sees them: in
// the same round trip, ahead of the batch's own statements. A Redeem's
// outbox events go out as a batch (the key locks and the insert), so its
// ledger writes and its events share one round trip.
func (p *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if len(p.pending) == 0 || p.err != nil {
		if err := p.flush(ctx); err != nil {
			return errResults{err}
		}
		return p.Tx.SendBatch(ctx, b)
	}
	q := p.pending
	p.pending, p.deferring = nil, false
	all := &pgx.Batch{}
	for _, w := range q {
		all.Queue(w.sql, w.args...)
	}
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	res := p.Tx.SendBatch(ctx, all)
	for range q {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			// The transaction is aborted: the flush's error is kept for
			// the end of the unit, where InTx sees it (and retries a
			// serialization failure).
			p.err = fmt.Errorf("pipelined write: %w", err)
			return errResults{p.err}
		}
	}
	// What is left are the caller's statements' results.
	return res
}

// errResults is a batch that failed before its first statement.
type errResults struct{ err error }

func (r errResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, r.err }
func (r errResults) Query() (pgx.Rows, error)         { return nil, r.err }
func (r errResults) QueryRow() pgx.Row                { return errRow(r) }
func (r errResults) Close() error                     { return r.err }

// Tx is nil: the batch began no transaction.
func (r errResults) Tx() pgx.Tx { return nil }

// CopyFrom sends the held-back writes first.
func (p *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := p.flush(ctx); err != nil {
		return 0, err
	}
	return p.Tx.CopyFrom(ctx, table, cols, src)
}

// flush sends the held-back writes in one batch and stops deferring.
func (p *pipeTx) flush(ctx context.Context) error {
	p.deferring = false
	if p.err != nil {
		return p.err
	}
	if len(p.pending) == 0 {
		return nil
	}
	q := p.pending
	p.pending = nil
	b := &pgx.Batch{}
	for _, w := range q {
		b.Queue(w.sql, w.args...)
	}
	res := p.Tx.SendBatch(ctx, b)
	for range q {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			p.err = fmt.Errorf("pipelined write: %w", err)
			return p.err
		}
	}
	if err := res.Close(); err != nil {
		p.err = fmt.Errorf("pipelined writes: %w", err)
	}
	return p.err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// deferWrites holds back this unit's writes until its next read or its end;
// call it after the unit's last read whose result it needs.
func (u *Unit) deferWrites() {
	if p, ok := u.tx.(*pipeTx); ok {
		p.deferring = true
	}
}
