package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// redeem is a stand-in for an RPC: it records its effect in a table (so a
// second run would be visible) and answers with the number of effects.
func redeem(ctx context.Context, tx pgx.Tx, scope, key string, req *wrapperspb.StringValue, calls *atomic.Int32) (*wrapperspb.Int64Value, bool, error) {
	return idempotency.Do(ctx, tx, scope, key, req, func() (*wrapperspb.Int64Value, error) {
		calls.Add(1)
		var n int64
		err := tx.QueryRow(ctx, "INSERT INTO effects (what) VALUES ($1) RETURNING id", req.GetValue()).Scan(&n)
		if err != nil {
			return nil, err
		}
		return wrapperspb.Int64(n), nil
	})
}

func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.NewDB(t, idempotency.Migrations)
	if _, err := pool.Exec(context.Background(), "CREATE TABLE effects (id bigserial PRIMARY KEY, what text NOT NULL)"); err != nil {
		t.Fatalf("create effects table: %v", err)
	}
	return pool
}

func countEffects(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM effects").Scan(&n); err != nil {
		t.Fatalf("count effects: %v", err)
	}
	return n
}

type call struct {
	scope, key, body string
	fail             bool // the call fails after its effect, which rolls back
	wantReplayed     bool
	wantErr          error // errAny: any error
	wantResp         int64 // 0: do not check
}

// errAny marks a call expected to fail with whatever error.
var errAny = errors.New("any error")

// doCall runs one call through Do in its own transaction.
func doCall(ctx context.Context, pool *pgxpool.Pool, scope, key, body string, fail bool, calls *atomic.Int32) (resp *wrapperspb.Int64Value, replayed bool, err error) {
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if !fail {
			resp, replayed, err = redeem(ctx, tx, scope, key, wrapperspb.String(body), calls)
			return err
		}
		_, _, err = idempotency.Do(ctx, tx, scope, key, wrapperspb.String(body), func() (*wrapperspb.Int64Value, error) {
			calls.Add(1)
			if _, err := tx.Exec(ctx, "INSERT INTO effects (what) VALUES ($1)", body); err != nil {
				return nil, err
			}
			return nil, errors.New("the call failed after its effect")
		})
		return err
	})
	return resp, replayed, err
}

// Do and the pipelined Claim keep the same promises, so every case runs
// through both.
func TestACallRunsOncePerKeyAndReplaysItsResponse(t *testing.T) {
	t.Parallel()
	ways := []struct {
		name string
		run  func(ctx context.Context, pool *pgxpool.Pool, scope, key, body string, fail bool, calls *atomic.Int32) (*wrapperspb.Int64Value, bool, error)
	}{
		{"through Do", doCall},
		{"through a pipelined claim", pipelinedCall},
	}
	tests := []struct {
		name        string
		calls       []call
		wantEffects int
	}{
		{
			name: "a retry with the same key and body gets the first response without a second effect",
			calls: []call{
				{scope: "s", key: "k1", body: "reward-7", wantResp: 1},
				{scope: "s", key: "k1", body: "reward-7", wantReplayed: true, wantResp: 1},
				{scope: "s", key: "k1", body: "reward-7", wantReplayed: true, wantResp: 1},
			},
			wantEffects: 1,
		},
		{
			name: "the same key with a different body is rejected",
			calls: []call{
				{scope: "s", key: "k1", body: "reward-7", wantResp: 1},
				{scope: "s", key: "k1", body: "reward-8", wantErr: idempotency.ErrKeyReused},
			},
			wantEffects: 1,
		},
		{
			name: "the same key in another scope is another call",
			calls: []call{
				{scope: "customer-1", key: "k1", body: "reward-7", wantResp: 1},
				{scope: "customer-2", key: "k1", body: "reward-7", wantResp: 2},
			},
			wantEffects: 2,
		},
		{
			name: "different keys are different calls",
			calls: []call{
				{scope: "s", key: "k1", body: "reward-7", wantResp: 1},
				{scope: "s", key: "k2", body: "reward-7", wantResp: 2},
			},
			wantEffects: 2,
		},
		{
			name: "a call that fails after its effect leaves the key free for the retry",
			calls: []call{
				{scope: "s", key: "k1", body: "x", fail: true, wantErr: errAny},
				{scope: "s", key: "k1", body: "x", wantResp: 2},
				{scope: "s", key: "k1", body: "x", wantReplayed: true, wantResp: 2},
			},
			wantEffects: 1,
		},
		{
			name: "a missing key is rejected before any effect",
			calls: []call{
				{scope: "s", key: "", body: "reward-7", wantErr: idempotency.ErrMissingKey},
			},
		},
		{
			name: "a key longer than the limit is rejected",
			calls: []call{
				{scope: "s", key: strings.Repeat("k", idempotency.MaxKeyLength+1), body: "reward-7", wantErr: idempotency.ErrKeyTooLong},
			},
		},
	}
	for _, way := range ways {
		for _, tt := range tests {
			t.Run(way.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				pool := newDB(t)
				var calls atomic.Int32
				failed := 0
				for i, c := range tt.calls {
					if c.fail {
						failed++
					}
					resp, replayed, err := way.run(ctx, pool, c.scope, c.key, c.body, c.fail, &calls)
					switch {
					case c.wantErr == errAny:
						if err == nil {
							t.Fatalf("call %d: expected an error, got none", i)
						}
						continue
					case !errors.Is(err, c.wantErr):
						t.Fatalf("call %d: expected error %v, got %v", i, c.wantErr, err)
					case err != nil:
						continue
					}
					if replayed != c.wantReplayed {
						t.Errorf("call %d: expected replayed %v, got %v", i, c.wantReplayed, replayed)
					}
					if c.wantResp != 0 && resp.GetValue() != c.wantResp {
						t.Errorf("call %d: expected response %d, got %d", i, c.wantResp, resp.GetValue())
					}
				}
				if got := countEffects(t, pool); got != tt.wantEffects {
					t.Errorf("effects: expected %d, got %d", tt.wantEffects, got)
				}
				// A failed call ran once and was rolled back; nothing else runs twice.
				if got := int(calls.Load()); got != tt.wantEffects+failed {
					t.Errorf("calls of fn: expected %d, got %d", tt.wantEffects+failed, got)
				}
			})
		}
	}
}

func TestDoReleasesTheKeyWhenTheCallFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	errBoom := errors.New("boom")
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, _, err := idempotency.Do(ctx, tx, "s", "k", wrapperspb.String("a"), func() (*wrapperspb.Int64Value, error) {
			return nil, errBoom
		})
		return err
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("failing call: expected the call's error, got %v", err)
	}
	var calls atomic.Int32
	var replayed bool
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		_, replayed, err = redeem(ctx, tx, "s", "k", wrapperspb.String("a"), &calls)
		return err
	})
	if err != nil {
		t.Fatalf("retry after a failed call: %v", err)
	}
	if replayed || calls.Load() != 1 {
		t.Errorf("retry after a failed call: expected the call to run (replayed false, 1 call), got replayed %v, %d calls", replayed, calls.Load())
	}
}

func TestDoRunsConcurrentCallsWithOneKeyOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		iso  pgx.TxIsoLevel
	}{
		{"read committed", pgx.ReadCommitted},
		{"serializable", pgx.Serializable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := newDB(t)
			const n = 8
			var (
				calls     atomic.Int32
				wg        sync.WaitGroup
				mu        sync.Mutex
				responses []int64
				fresh     int
				errs      []error
			)
			for range n {
				wg.Go(func() {
					var (
						resp     *wrapperspb.Int64Value
						replayed bool
					)
					err := postgres.InTxOptions(ctx, pool, pgx.TxOptions{IsoLevel: tt.iso}, func(tx pgx.Tx) error {
						var err error
						resp, replayed, err = idempotency.Do(ctx, tx, "s", "same-key", wrapperspb.String("reward-7"), func() (*wrapperspb.Int64Value, error) {
							calls.Add(1)
							// Holding the claim a moment lets the other
							// callers pile up on it; the result must not
							// depend on it.
							time.Sleep(20 * time.Millisecond)
							var id int64
							err := tx.QueryRow(ctx, "INSERT INTO effects (what) VALUES ('x') RETURNING id").Scan(&id)
							return wrapperspb.Int64(id), err
						})
						return err
					})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					responses = append(responses, resp.GetValue())
					if !replayed {
						fresh++
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				t.Errorf("concurrent call: %v", err)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("calls of fn: expected 1, got %d", got)
			}
			if fresh != 1 {
				t.Errorf("calls answered without replay: expected 1, got %d", fresh)
			}
			for _, r := range responses {
				if r != responses[0] {
					t.Errorf("responses: expected all equal, got %v", responses)
					break
				}
			}
			if got := countEffects(t, pool); got != 1 {
				t.Errorf("effects: expected 1, got %d", got)
			}
		})
	}
}

func TestPruneDeletesOnlyOldKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	var calls atomic.Int32
	for _, key := range []string{"old", "new"} {
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, _, err := redeem(ctx, tx, "s", key, wrapperspb.String("a"), &calls)
			return err
		})
		if err != nil {
			t.Fatalf("call with key %s: %v", key, err)
		}
	}
	if _, err := pool.Exec(ctx, "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'old'"); err != nil {
		t.Fatalf("age key: %v", err)
	}
	n, err := idempotency.Prune(ctx, pool, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if n != 1 {
		t.Errorf("pruned keys: expected 1, got %d", n)
	}
	var left []string
	rows, err := pool.Query(ctx, "SELECT key FROM idempotency_keys")
	if err != nil {
		t.Fatalf("list keys: %v", err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("collect keys: %v", err)
	}
	if len(left) != 1 || left[0] != "new" {
		t.Errorf("keys after Prune: expected [new], got %v", left)
	}
}

func TestReplayedResponseEqualsTheOriginal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	var first, second *wrapperspb.Int64Value
	var calls atomic.Int32
	for _, dst := range []**wrapperspb.Int64Value{&first, &second} {
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			var err error
			*dst, _, err = redeem(ctx, tx, "s", "k", wrapperspb.String("a"), &calls)
			return err
		})
		if err != nil {
			t.Fatalf("call: %v", err)
		}
	}
	if !proto.Equal(first, second) {
		t.Errorf("replayed response: expected %v, got %v", first, second)
	}
}

func TestKeyFromPrefersTheBodyFieldOverTheHeader(t *testing.T) {
	t.Parallel()
	withHeader := metadata.NewIncomingContext(context.Background(), metadata.Pairs(idempotency.MetadataKey, "from-header"))
	cases := []struct {
		name  string
		ctx   context.Context
		field string
		want  string
	}{
		{"the body field alone", context.Background(), "from-body", "from-body"},
		{"both", withHeader, "from-body", "from-body"},
		{"the header alone", withHeader, "", "from-header"},
		{"neither", context.Background(), "", ""},
	}
	for _, c := range cases {
		if got := idempotency.KeyFrom(c.ctx, c.field); got != c.want {
			t.Errorf("%s: KeyFrom = %q, want %q", c.name, got, c.want)
		}
	}
}
