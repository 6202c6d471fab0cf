// Package idempotency makes a mutating RPC safe to retry: the first call with
// an idempotency key does the work and stores its response, and a retry with
// the same key and the same request gets that response back without doing
// the work again.
//
// The key is claimed in the caller's own database transaction, before the
// work runs, so the claim, the work and the stored response commit or roll
// back together: a failed call leaves no trace and may be retried, a
// successful one is answered from the table forever after (until pruned).
// Concurrent calls with one key are serialized by the primary key: the
// second waits for the first transaction and then replays its response.
//
// Do costs its own round trips (the claim, and storing the response). Claim
// offers the same guarantees in pieces a caller can queue into its own
// pgx.Batch: the claim together with BEGIN and the call's first reads, the
// stored response together with COMMIT (see Claim).
//
// Callers map the sentinel errors once, in their gRPC ports:
// ErrMissingKey and ErrKeyTooLong to codes.InvalidArgument, ErrKeyReused to
// codes.AlreadyExists (the key was already used for a different request; the
// client must pick a new key).
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/idempotency/internal/db"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

//go:embed migrations/*.sql
var embedded embed.FS

// Migrations creates the idempotency_keys table. Add it to the service's
// migration sets.
var Migrations = postgres.MigrationSet{Name: "idempotency", FS: postgres.Sub(embedded, "migrations")}

// MaxKeyLength bounds the length of a key in bytes; clients usually send a
// UUID.
const MaxKeyLength = 255

var (
	// ErrMissingKey means the call carried no idempotency key.
	ErrMissingKey = errors.New("idempotency key is required")
	// ErrKeyTooLong means the key is longer than MaxKeyLength bytes.
	ErrKeyTooLong = fmt.Errorf("idempotency key is longer than %d bytes", MaxKeyLength)
	// ErrKeyReused means the key was used before, in the same scope, with
	// a different request.
	ErrKeyReused = errors.New("idempotency key was already used with a different request")
)

// Do runs fn at most once per (scope, key) and returns its response.
//
// scope separates key spaces: use the full RPC method name plus whatever the
// key must not be shared across, typically the authenticated subject
// ("loyalty.v1.LoyaltyService/Redeem:" + customerID). request is the RPC's
// request message; its deterministic encoding is hashed so that reusing the
// key for a different request is detected.
//
// On the first call Do claims the key in tx, calls fn and stores the response
// fn returns, all in tx; the caller commits tx. If fn fails, Do returns its
// error unchanged and the caller must roll tx back, which releases the key.
// On a later call with the same request Do returns the stored response with
// replayed true and does not call fn. With a different request it returns
// ErrKeyReused. A nil response from fn is stored, and replayed, as an empty
// message of type T.
//
// Under REPEATABLE READ or SERIALIZABLE a claim racing a concurrent commit of
// the same key fails with a serialization error; run Do inside postgres.InTx
// or InTxOptions, whose retry then replays the response.
func Do[T proto.Message](ctx context.Context, tx pgx.Tx, scope, key string, request proto.Message, fn func() (T, error)) (resp T, replayed bool, err error) {
	var zero T
	switch {
	case key == "":
		return zero, false, ErrMissingKey
	case len(key) > MaxKeyLength:
		return zero, false, ErrKeyTooLong
	}
	hash, err := requestHash(request)
	if err != nil {
		return zero, false, err
	}
	q := db.New(tx)
	claimed, err := q.ClaimKey(ctx, db.ClaimKeyParams{Scope: scope, Key: key, RequestHash: hash})
	if err != nil {
		return zero, false, fmt.Errorf("idempotency: claim key: %w", err)
	}
	if claimed == 1 {
		resp, err := fn()
		if err != nil {
			return zero, false, err
		}
		stored, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
		if err != nil {
			return zero, false, fmt.Errorf("idempotency: encode response: %w", err)
		}
		if err := q.SetResponse(ctx, db.SetResponseParams{Scope: scope, Key: key, Response: stored}); err != nil {
			return zero, false, fmt.Errorf("idempotency: store response: %w", err)
		}
		return resp, false, nil
	}

	row, err := q.GetKey(ctx, db.GetKeyParams{Scope: scope, Key: key})
	if err != nil {
		return zero, false, fmt.Errorf("idempotency: read key: %w", err)
	}
	if !bytes.Equal(row.RequestHash, hash) {
		return zero, false, ErrKeyReused
	}
	// A new message of T's type: T is a pointer type, so its zero value
	// is nil, but a nil generated message still knows its type.
	out, ok := zero.ProtoReflect().Type().New().Interface().(T)
	if !ok {
		return zero, false, fmt.Errorf("idempotency: cannot create a %T", zero)
	}
	if err := proto.Unmarshal(row.Response, out); err != nil {
		return zero, false, fmt.Errorf("idempotency: decode stored response: %w", err)
	}
	return out, true, nil
}

// requestHash identifies a request by its type and deterministic encoding.
// Deterministic encoding is stable within one build of the program, which is
// what matters for a client retrying within the retention period.
func requestHash(request proto.Message) ([]byte, error) {
	if request == nil {
		return nil, errors.New("idempotency: request is nil")
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("idempotency: encode request: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(request.ProtoReflect().Descriptor().FullName()))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil), nil
}

// Prune deletes keys created before cutoff, so that the table does not grow
// forever; a retry with a pruned key runs the call again. Run it
// periodically with a cutoff well beyond any client's retry window (for
// example 24 hours ago). It returns the number of keys deleted.
func Prune(ctx context.Context, pool *pgxpool.Pool, cutoff time.Time) (int64, error) {
	n, err := db.New(pool).DeleteKeysBefore(ctx, cutoff)
	if err != nil {
		return 0, fmt.Errorf("idempotency: prune keys: %w", err)
	}
	return n, nil
}

// MetadataKey is the gRPC metadata that carries an idempotency key; the REST
// gateway fills it from the Idempotency-Key header.
const MetadataKey = "idempotency-key"

// KeyFrom returns the idempotency key of a call: the request's own field
// when set, else the Idempotency-Key header (MetadataKey).
func KeyFrom(ctx context.Context, field string) string {
	if field != "" {
		return field
	}
	if v := metadata.ValueFromIncomingContext(ctx, MetadataKey); len(v) > 0 {
		return v[0]
	}
	return ""
}
