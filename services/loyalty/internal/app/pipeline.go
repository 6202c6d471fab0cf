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

// SendBatch sends the held-back writes first, so the batch sees them.
func (p *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if len(p.pending) == 0 {
		return p.Tx.SendBatch(ctx, b)
	}
	// A failed flush leaves the transaction aborted, so the batch fails
	// too; the flush's own error is kept for the end of the unit, where
	// InTx sees it (and retries a serialization failure).
	_ = p.flush(ctx)
	return p.Tx.SendBatch(ctx, b)
}

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
