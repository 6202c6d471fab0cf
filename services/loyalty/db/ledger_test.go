package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/services/loyalty/db"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// entry is one row of an INSERT into entries.
type entry struct {
	id, member   string
	points, said int64
}

// insertEntries inserts the entries in one statement, as the service does
// for an order batch, so the entries trigger runs once for all of them.
func insertEntries(ctx context.Context, tx pgx.Tx, es ...entry) error {
	var ids, members []string
	var points, said []int64
	for _, e := range es {
		ids, members, points, said = append(ids, e.id), append(members, e.member), append(points, e.points), append(said, e.said)
	}
	_, err := tx.Exec(ctx, `INSERT INTO entries (id, member_id, type, points, balance_after, created_at)
		SELECT id, member_id, 'adjustment', points, said, now()
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS e(id, member_id, points, said, n)
		ORDER BY n`, ids, members, points, said)
	return err
}

func TestTheLedgerTriggerRefusesEveryEntryWhoseBalanceAfterIsNotTheLedgerSum(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, db.Migrations)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO members (customer_id, enrolled_at) VALUES ('m1', now()), ('m2', now())`); err != nil {
		t.Fatal(err)
	}
	// m1 starts at 100, m2 at 0; every case runs in a transaction that
	// is rolled back, so each starts from these balances.
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return insertEntries(ctx, tx, entry{"seed", "m1", 100, 100}) }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []entry
		// want is each member's balance after the statement; nil when
		// the statement must be refused.
		want map[string]int64
	}{
		{name: "one entry with the right balance moves the balance", entries: []entry{{"a", "m1", -30, 70}},
			want: map[string]int64{"m1": 70, "m2": 0}},
		{name: "one entry claiming a stale balance is refused", entries: []entry{{"a", "m1", -30, 100}}},
		{name: "one entry for an unknown member is refused", entries: []entry{{"a", "nobody", 5, 5}}},
		{name: "several entries of one member build on each other", entries: []entry{{"a", "m1", -30, 70}, {"b", "m1", 10, 80}},
			want: map[string]int64{"m1": 80, "m2": 0}},
		{name: "several entries where the second ignores the first are refused", entries: []entry{{"a", "m1", -30, 70}, {"b", "m1", 10, 110}}},
		{name: "entries of two members each build on their own balance", entries: []entry{{"a", "m1", -30, 70}, {"b", "m2", 5, 5}},
			want: map[string]int64{"m1": 70, "m2": 5}},
		{name: "entries of two members where one is stale are refused", entries: []entry{{"a", "m1", -30, 70}, {"b", "m2", 5, 105}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			err = insertEntries(ctx, tx, tc.entries...)
			if tc.want == nil {
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
					t.Fatalf("expected the insert refused with check_violation (23514), got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected the insert accepted, got %v", err)
			}
			for m, want := range tc.want {
				var got, sum int64
				if err := tx.QueryRow(ctx, `SELECT balance, (SELECT COALESCE(sum(points), 0) FROM entries WHERE member_id = $1)::bigint
					FROM members WHERE customer_id = $1`, m).Scan(&got, &sum); err != nil {
					t.Fatal(err)
				}
				if got != want || sum != want {
					t.Errorf("member %s: expected balance and entry sum %d, got balance %d, sum %d", m, want, got, sum)
				}
			}
		})
	}
}

func TestSpendingPartOfALotIsAHOTUpdateAndEmptyingItClosesIt(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, db.Migrations)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO lots (id, member_id, entry_id, source, points, remaining, earned_at)
		VALUES ('l1', 'm1', 'e1', 'accrual', 10, 10, now())`); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// This transaction's own counters: no other backend adds to them.
	hot := func() int64 {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_hot_updated('lots'::regclass)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	open := func() bool {
		var o bool
		if err := tx.QueryRow(ctx, `SELECT open FROM lots WHERE id = 'l1'`).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	before := hot()
	if _, err := tx.Exec(ctx, `UPDATE lots SET remaining = 4 WHERE id = 'l1'`); err != nil {
		t.Fatal(err)
	}
	if got := hot() - before; got != 1 {
		t.Errorf("expected spending part of the lot to be 1 HOT update, got %d", got)
	}
	if !open() {
		t.Errorf("expected the lot with 4 points left to be open, got closed")
	}
	if _, err := tx.Exec(ctx, `UPDATE lots SET remaining = 0 WHERE id = 'l1'`); err != nil {
		t.Fatal(err)
	}
	if open() {
		t.Errorf("expected the emptied lot to be closed, got open")
	}
	var listed int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM lots WHERE member_id = 'm1' AND open`).Scan(&listed); err != nil {
		t.Fatal(err)
	}
	if listed != 0 {
		t.Errorf("expected no open lot of m1 after emptying its only lot, got %d", listed)
	}
}
