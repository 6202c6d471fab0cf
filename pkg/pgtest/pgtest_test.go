package pgtest_test

import (
	"context"
	"net/url"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var widgets = postgres.MigrationSet{Name: "widgets", FS: fstest.MapFS{
	"00001_widgets.sql": {Data: []byte(`-- +goose Up
CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL);
-- +goose Down
DROP TABLE widgets;
`)},
}}

func TestNewDBGivesEachTestItsOwnMigratedDatabase(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"first", "second", "third", "fourth"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.NewDB(t, widgets)
			// Every database starts empty; an insert with the same key in
			// each parallel test collides only if they share a database.
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM widgets").Scan(&n); err != nil {
				t.Fatalf("query migrated table: %v", err)
			}
			if n != 0 {
				t.Fatalf("rows in a fresh database: expected 0, got %d", n)
			}
			if _, err := pool.Exec(ctx, "INSERT INTO widgets VALUES (1, $1)", name); err != nil {
				t.Fatalf("insert: %v", err)
			}
		})
	}
}

func TestNewDBWithoutSetsGivesAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if n != 0 {
		t.Errorf("tables in public schema: expected 0, got %d", n)
	}
}

func TestNewDBURLDatabaseIsDroppedWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var dbURL string
	t.Run("inner", func(t *testing.T) {
		dbURL = pgtest.NewDBURL(t, widgets)
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		// Left open on purpose: the drop must not wait for it.
		_ = conn
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse %q: %v", dbURL, err)
	}
	name := u.Path[1:]
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect to maintenance database: %v", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("look up database: %v", err)
	}
	if exists {
		t.Errorf("database %s after the test ended: expected dropped, still exists", name)
	}
}
