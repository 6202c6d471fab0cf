package idempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/proto"
)

// The statements a Claim queues. They are the ClaimKey and SetResponse
// queries Do runs (queries/idempotency.sql), as plain text so that callers
// can put them into their own pgx.Batch.
const (
	claimSQL = `INSERT INTO idempotency_keys (scope, key, request_hash)
VALUES ($1, $2, $3)
ON CONFLICT (scope, key) DO NOTHING`
	setResponseSQL = `UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2`
	getKeySQL      = `SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2`
)

// ErrNotSettled means Claimed was asked before the claim's result was read.
var ErrNotSettled = errors.New("idempotency: the claim's result has not been read yet")

// Claim is Do taken apart, for callers that save round trips by sending
// the claim in the same pgx.Batch as the statements around it (typically:
// BEGIN, the claim and the call's first reads in one batch; the call's
// writes, the stored response and COMMIT in another). The guarantees are
// Do's, provided the caller keeps Do's order:
//
//  1. NewClaim, then Queue the claim in the transaction before any of the
//     call's writes (in the same batch as BEGIN is fine);
//  2. when Claimed reports true, do the work and QueueResponse in the same
//     transaction before its COMMIT (in the same batch as the COMMIT is
//     fine: a failed statement makes PostgreSQL skip the rest of the batch,
//     COMMIT included);
//  3. when Claimed reports false, roll the transaction back without writing
//     anything and answer with Replay.
//
// Concurrent calls with one key are serialized by the primary key as in
// Do: the second claim waits for the first transaction and then reports
// false (it committed) or true (it rolled back).
type Claim struct {
	scope, key string
	hash       []byte
	settled    bool
	claimed    bool
}

// NewClaim validates key (ErrMissingKey, ErrKeyTooLong) and hashes request;
// scope and request mean what they mean for Do.
func NewClaim(scope, key string, request proto.Message) (*Claim, error) {
	switch {
	case key == "":
		return nil, ErrMissingKey
	case len(key) > MaxKeyLength:
		return nil, ErrKeyTooLong
	}
	hash, err := requestHash(request)
	if err != nil {
		return nil, err
	}
	return &Claim{scope: scope, key: key, hash: hash}, nil
}

// Queue adds the claim's statement to b and returns it. Its result is read
// by the callback the statement carries (pgx runs it when the batch
// results are closed, or the caller runs it in turn with
// q.Fn(results)); after that Claimed answers.
func (c *Claim) Queue(b *pgx.Batch) *pgx.QueuedQuery {
	c.settled, c.claimed = false, false
	q := b.Queue(claimSQL, c.scope, c.key, c.hash)
	q.Exec(func(ct pgconn.CommandTag) error {
		c.settled, c.claimed = true, ct.RowsAffected() == 1
		return nil
	})
	return q
}

// Claimed reports whether this call claimed the key and so must do the
// work (true), or the key was used before and the call must be answered
// with Replay (false). It is ErrNotSettled before the claim's result was
// read.
func (c *Claim) Claimed() (bool, error) {
	if !c.settled {
		return false, ErrNotSettled
	}
	return c.claimed, nil
}

// QueueResponse adds the statement that stores resp as the key's answer to
// b, which must run in the claiming transaction. A nil resp is stored as
// an empty message and replayed as an empty message of the caller's type.
func (c *Claim) QueueResponse(b *pgx.Batch, resp proto.Message) error {
	var stored []byte
	if resp != nil {
		var err error
		if stored, err = (proto.MarshalOptions{Deterministic: true}).Marshal(resp); err != nil {
			return fmt.Errorf("idempotency: encode response: %w", err)
		}
	}
	if stored == nil {
		stored = []byte{}
	}
	b.Queue(setResponseSQL, c.scope, c.key, stored)
	return nil
}

// Querier runs a query that returns one row: a pool, a connection or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Replay returns the stored answer to a key that the claim found used
// (Claimed reported false): the response of the call that used it, or
// ErrKeyReused when that call had a different request. q may be a pool:
// a claim reports false only once the other transaction has committed, so
// its row is visible to any later statement.
//
// A key pruned between the claim and Replay reads as pgx.ErrNoRows
// (wrapped); running the call again claims it anew.
func Replay[T proto.Message](ctx context.Context, q Querier, c *Claim) (T, error) {
	var zero T
	var hash, stored []byte
	if err := q.QueryRow(ctx, getKeySQL, c.scope, c.key).Scan(&hash, &stored); err != nil {
		return zero, fmt.Errorf("idempotency: read key: %w", err)
	}
	if !bytes.Equal(hash, c.hash) {
		return zero, ErrKeyReused
	}
	out, ok := zero.ProtoReflect().Type().New().Interface().(T)
	if !ok {
		return zero, fmt.Errorf("idempotency: cannot create a %T", zero)
	}
	if err := proto.Unmarshal(stored, out); err != nil {
		return zero, fmt.Errorf("idempotency: decode stored response: %w", err)
	}
	return out, nil
}
