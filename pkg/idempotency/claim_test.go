package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

// pipelinedCall is the way Claim is meant to be used: BEGIN and the claim
// in one batch, the effect, then the stored response and COMMIT in one
// batch; a used key rolls back and replays. fail makes the effect fail
// after the claim, so the transaction rolls back.
func pipelinedCall(ctx context.Context, pool *pgxpool.Pool, scope, key, body string, fail bool, calls *atomic.Int32) (*wrapperspb.Int64Value, bool, error) {
	c, err := idempotency.NewClaim(scope, key, wrapperspb.String(body))
	if err != nil {
		return nil, false, err
	}
	resp, err := claimAndRun(ctx, pool, c, body, fail, calls)
	if !errors.Is(err, errUsed) {
		return resp, false, err
	}
	// Replay after the call's connection went back to the pool: holding
	// it while waiting for another could exhaust a small pool.
	out, err := idempotency.Replay[*wrapperspb.Int64Value](ctx, pool, c)
	return out, err == nil, err
}

// errUsed: the claim found the key used.
var errUsed = errors.New("key used")

func claimAndRun(ctx context.Context, pool *pgxpool.Pool, c *idempotency.Claim, body string, fail bool, calls *atomic.Int32) (resp *wrapperspb.Int64Value, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	c.Queue(&b)
	br := conn.SendBatch(ctx, &b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("begin and claim: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	claimed, err := c.Claimed()
	if err != nil {
		return nil, err
	}
	if !claimed {
		return nil, errUsed
	}
	calls.Add(1)
	var n int64
	if err := tx.QueryRow(ctx, "INSERT INTO effects (what) VALUES ($1) RETURNING id", body).Scan(&n); err != nil {
		return nil, err
	}
	if fail {
		return nil, errors.New("the call failed after its effect")
	}
	resp = wrapperspb.Int64(n)
	var end pgx.Batch
	if err := c.QueueResponse(&end, resp); err != nil {
		return nil, err
	}
	end.Queue("COMMIT")
	if err := tx.SendBatch(ctx, &end).Close(); err != nil {
		return nil, fmt.Errorf("store response and commit: %w", err)
	}
	return resp, nil
}

func TestPipelinedClaimRunsConcurrentCallsWithOneKeyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	const callers = 16
	var calls atomic.Int32
	var wg sync.WaitGroup
	resps := make([]int64, callers)
	replays := make([]bool, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, replayed, err := pipelinedCall(ctx, pool, "s", "same", "body", false, &calls)
			resps[i], replays[i], errs[i] = r.GetValue(), replayed, err
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: unexpected error: %v", i, errs[i])
		}
		if !replays[i] {
			fresh++
		}
		if resps[i] != resps[0] {
			t.Errorf("caller %d: expected the first answer %d, got %d", i, resps[0], resps[i])
		}
	}
	if fresh != 1 || calls.Load() != 1 {
		t.Errorf("expected exactly one caller to run the call, got %d fresh answers and %d runs", fresh, calls.Load())
	}
	if got := countEffects(t, pool); got != 1 {
		t.Errorf("expected 1 effect, got %d", got)
	}
}

func TestClaimAndDoShareTheKeySpace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	var calls atomic.Int32
	req := wrapperspb.String("reward-7")
	// First through Do, then a pipelined retry: the retry replays Do's answer.
	var first *wrapperspb.Int64Value
	if err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		first, _, err = redeem(ctx, tx, "s", "k-do", req, &calls)
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	got, replayed, err := pipelinedCall(ctx, pool, "s", "k-do", "reward-7", false, &calls)
	if err != nil || !replayed || !proto.Equal(got, first) {
		t.Errorf("pipelined retry of a Do call: expected replay of %v, got %v (replayed %v, err %v)", first, got, replayed, err)
	}
	// First pipelined, then a retry through Do.
	second, _, err := pipelinedCall(ctx, pool, "s", "k-claim", "reward-7", false, &calls)
	if err != nil {
		t.Fatalf("pipelined call: %v", err)
	}
	var again *wrapperspb.Int64Value
	var doReplayed bool
	if err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		again, doReplayed, err = redeem(ctx, tx, "s", "k-claim", req, &calls)
		return err
	}); err != nil {
		t.Fatalf("Do retry: %v", err)
	}
	if !doReplayed || !proto.Equal(again, second) {
		t.Errorf("Do retry of a pipelined call: expected replay of %v, got %v (replayed %v)", second, again, doReplayed)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("expected 2 runs (one per key), got %d", n)
	}
}

func TestClaimedIsAnErrorBeforeTheClaimWasRead(t *testing.T) {
	t.Parallel()
	c, err := idempotency.NewClaim("s", "k", wrapperspb.String("x"))
	if err != nil {
		t.Fatalf("NewClaim: %v", err)
	}
	var b pgx.Batch
	c.Queue(&b)
	if _, err := c.Claimed(); !errors.Is(err, idempotency.ErrNotSettled) {
		t.Errorf("expected ErrNotSettled before the batch ran, got %v", err)
	}
}
