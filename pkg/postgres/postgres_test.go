package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migrations(name string, files map[string]string) postgres.MigrationSet {
	fsys := fstest.MapFS{}
	for path, sql := range files {
		fsys[path] = &fstest.MapFile{Data: []byte(sql)}
	}
	return postgres.MigrationSet{Name: name, FS: fsys}
}

var (
	accounts = migrations("accounts", map[string]string{
		"00001_accounts.sql": `-- +goose Up
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
-- +goose Down
DROP TABLE accounts;
`,
		"00002_account_names.sql": `-- +goose Up
ALTER TABLE accounts ADD COLUMN name text NOT NULL DEFAULT '';
-- +goose Down
ALTER TABLE accounts DROP COLUMN name;
`,
	})
	audit = migrations("audit", map[string]string{
		"00001_audit.sql": `-- +goose Up
CREATE TABLE audit (id bigserial PRIMARY KEY, what text NOT NULL);
-- +goose Down
DROP TABLE audit;
`,
	})
)

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// appliedVersion returns the highest applied version in a set's goose table.
func appliedVersion(t *testing.T, pool *pgxpool.Pool, set string) int64 {
	t.Helper()
	var v int64
	err := pool.QueryRow(context.Background(),
		"SELECT max(version_id) FROM "+pgx.Identifier{"goose_" + set}.Sanitize()+" WHERE is_applied").Scan(&v)
	if err != nil {
		t.Fatalf("read goose_%s: %v", set, err)
	}
	return v
}

func TestMigrateAppliesSetsToAFreshDatabaseAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	for run := 1; run <= 2; run++ {
		if err := postgres.Migrate(ctx, url, accounts, audit); err != nil {
			t.Fatalf("Migrate run %d: %v", run, err)
		}
	}
	pool := connect(t, url)
	tests := []struct {
		set  string
		want int64
	}{
		{"accounts", 2},
		{"audit", 1},
	}
	for _, tt := range tests {
		if got := appliedVersion(t, pool, tt.set); got != tt.want {
			t.Errorf("version of set %s: expected %d, got %d", tt.set, tt.want, got)
		}
	}
	if _, err := pool.Exec(ctx, "INSERT INTO accounts (id, balance, name) VALUES (1, 0, 'a'); INSERT INTO audit (what) VALUES ('x')"); err != nil {
		t.Errorf("tables of both sets should exist: %v", err)
	}
}

func TestMigrateFromManyReplicasAtOnceAppliesEachMigrationOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- postgres.Migrate(ctx, url, accounts, audit) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	pool := connect(t, url)
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM goose_accounts WHERE version_id > 0").Scan(&rows); err != nil {
		t.Fatalf("count applied migrations: %v", err)
	}
	if rows != 2 {
		t.Errorf("applied migrations of set accounts: expected 2 rows, got %d", rows)
	}
}

func TestMigrateRejectsABadSetName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name string }{{""}, {"Upper"}, {"with-dash"}, {"1digit"}}
	for _, tt := range tests {
		set := accounts
		set.Name = tt.name
		// No server is needed: the name is checked before connecting.
		if err := postgres.Migrate(context.Background(), "postgres://127.0.0.1:1/x", set); err == nil {
			t.Errorf("Migrate with set name %q: expected an error, got nil", tt.name)
		}
	}
}

func TestMigrateReportsABrokenMigration(t *testing.T) {
	t.Parallel()
	broken := migrations("broken", map[string]string{
		"00001_broken.sql": "-- +goose Up\nCREATE TABLE nope (;\n",
	})
	err := postgres.Migrate(context.Background(), pgtest.NewDBURL(t), broken)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42601" {
		t.Errorf("Migrate with a syntax error: expected a wrapped 42601 error, got %v", err)
	}
}

func TestInTxRetriesASerializationFailureUntilBothTransactionsCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE seq (n int NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}

	// Each transaction reads max(n) and inserts max+1: write skew that
	// SERIALIZABLE must abort when the two run side by side. A barrier
	// makes both read before either writes, on their first attempt.
	var (
		calls   atomic.Int32
		arrived sync.WaitGroup
	)
	arrived.Add(2)
	work := func(first *bool) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			calls.Add(1)
			var maxN int
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(n), 0) FROM seq").Scan(&maxN); err != nil {
				return err
			}
			if *first {
				*first = false
				arrived.Done()
				arrived.Wait()
			}
			_, err := tx.Exec(ctx, "INSERT INTO seq VALUES ($1)", maxN+1)
			return err
		}
	}
	serializable := pgx.TxOptions{IsoLevel: pgx.Serializable}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			first := true
			errs[i] = postgres.InTxOptions(ctx, pool, serializable, work(&first))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: expected success after retry, got %v", i, err)
		}
	}
	if got := calls.Load(); got < 3 {
		t.Errorf("calls of fn: expected at least 3 (one retry), got %d", got)
	}
	rows, err := pool.Query(ctx, "SELECT n FROM seq ORDER BY n")
	if err != nil {
		t.Fatalf("read result: %v", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("collect result: %v", err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("rows after both transactions: expected [1 2], got %v", got)
	}
}

func TestInTxRetriesADeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE acc (id int PRIMARY KEY, v int NOT NULL); INSERT INTO acc VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	// Two transactions lock the rows in opposite orders; the barrier makes
	// each hold its first lock before asking for the second.
	var (
		calls   atomic.Int32
		arrived sync.WaitGroup
	)
	arrived.Add(2)
	work := func(a, b int, first *bool) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			calls.Add(1)
			if _, err := tx.Exec(ctx, "UPDATE acc SET v = v + 1 WHERE id = $1", a); err != nil {
				return err
			}
			if *first {
				*first = false
				arrived.Done()
				arrived.Wait()
			}
			_, err := tx.Exec(ctx, "UPDATE acc SET v = v + 1 WHERE id = $1", b)
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, order := range [][2]int{{1, 2}, {2, 1}} {
		wg.Go(func() {
			first := true
			errs[i] = postgres.InTx(ctx, pool, work(order[0], order[1], &first))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: expected success after retry, got %v", i, err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("calls of fn: expected 3 (one deadlock victim retried), got %d", got)
	}
	var v1, v2 int
	if err := pool.QueryRow(ctx, "SELECT (SELECT v FROM acc WHERE id = 1), (SELECT v FROM acc WHERE id = 2)").Scan(&v1, &v2); err != nil {
		t.Fatalf("read result: %v", err)
	}
	if v1 != 2 || v2 != 2 {
		t.Errorf("values after both transactions: expected 2 and 2, got %d and %d", v1, v2)
	}
}

var errDomain = errors.New("insufficient points")

func TestInTxReturnsOtherErrorsWrappedAfterOneAttemptAndRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	tests := []struct {
		name  string
		fn    func(tx pgx.Tx) error
		check func(error) bool
	}{
		{
			name: "an error of fn is returned so errors.Is finds it",
			fn: func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO u VALUES (10)"); err != nil {
					return err
				}
				return errDomain
			},
			check: func(err error) bool { return errors.Is(err, errDomain) },
		},
		{
			name: "a unique violation is returned so errors.As finds it",
			fn: func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO u VALUES (10)"); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO u VALUES (1)")
				return err
			},
			check: func(err error) bool {
				var pgErr *pgconn.PgError
				return errors.As(err, &pgErr) && pgErr.Code == "23505"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				calls++
				return tt.fn(tx)
			})
			if err == nil || !tt.check(err) {
				t.Errorf("InTx: expected the wrapped error, got %v", err)
			}
			if calls != 1 {
				t.Errorf("calls of fn: expected 1, got %d", calls)
			}
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM u WHERE id = 10").Scan(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			if n != 0 {
				t.Errorf("rows written by the failed transaction: expected 0, got %d", n)
			}
		})
	}
}

func TestInTxGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	calls := 0
	pool := pgtest.NewDB(t)
	err := postgres.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		calls++
		return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	})
	if !postgres.IsRetryable(err) {
		t.Errorf("InTx after exhausting attempts: expected the serialization failure, got %v", err)
	}
	if calls != postgres.MaxTxAttempts {
		t.Errorf("calls of fn: expected %d, got %d", postgres.MaxTxAttempts, calls)
	}
}

func TestConnectFailsForAnUnreachableServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := postgres.Connect(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"); err == nil {
		t.Error("Connect to port 1: expected an error, got nil")
	}
}

// The same DATABASE_URL serves the pool and the migrations, so pool
// settings in it must not break migrating.
func TestMigrateAcceptsPoolSettingsInTheURL(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDBURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	withPool := url + sep + "pool_max_conns=7&pool_min_conns=1"
	if err := postgres.Migrate(context.Background(), withPool, accounts); err != nil {
		t.Fatalf("Migrate with pool settings in the URL: %v", err)
	}
	if got := appliedVersion(t, connect(t, withPool), "accounts"); got != 2 {
		t.Errorf("version of set accounts: expected 2, got %d", got)
	}
}
