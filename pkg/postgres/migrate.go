package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationSet is one independently versioned group of goose SQL migrations:
// a service's own schema, or a shared package's tables (outbox, inbox,
// idempotency keys). Each set is tracked in its own goose table
// "goose_<Name>", so sets never see each other's versions.
type MigrationSet struct {
	// Name identifies the set; lower-case letters, digits and underscores.
	Name string
	// FS holds the goose .sql files at its root, usually an embed.FS
	// narrowed with fs.Sub.
	FS fs.FS
}

// Sub narrows embedded migration files to their directory, for a
// MigrationSet's FS. fs.Sub fails only for an invalid path; for a constant,
// valid dir it cannot, and a wrong dir shows up as missing tables in the
// owning package's tests.
func Sub(files fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		return files
	}
	return sub
}

var setName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Migrate applies every pending migration of each set, in the order given, to
// the database at url. It is safe to run from many replicas at once: each set
// is applied under a PostgreSQL session advisory lock, so one replica migrates
// while the others wait and then find nothing to do.
func Migrate(ctx context.Context, url string, sets ...MigrationSet) error {
	for _, s := range sets {
		if !setName.MatchString(s.Name) {
			return fmt.Errorf("postgres: migration set name %q must match %s", s.Name, setName)
		}
		if s.FS == nil {
			return fmt.Errorf("postgres: migration set %q has no FS", s.Name)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	cfg, err := stdlibConfig(url)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	for _, s := range sets {
		if err := migrateSet(ctx, db, s); err != nil {
			return err
		}
	}
	return nil
}

func migrateSet(ctx context.Context, db *sql.DB, s MigrationSet) error {
	p, err := goose.NewProvider(goose.DialectPostgres, db, s.FS,
		goose.WithTableName("goose_"+s.Name),
		goose.WithSessionLocker(advisoryLocker{id: lockID(s.Name)}),
		// Migrations come only from the set's FS, never from Go code
		// registered globally by some imported package.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("postgres: migration set %q: %w", s.Name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate set %q: %w", s.Name, err)
	}
	return nil
}

// lockID derives the advisory lock key of a set from its name so that
// different sets can migrate concurrently while replicas of one set queue.
func lockID(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("goose_" + name))
	return int64(h.Sum64()) //nolint:gosec // any 64-bit value is a valid lock key
}

// advisoryLocker is a goose session locker that blocks in pg_advisory_lock
// instead of goose's default polling every five seconds, so a waiting
// replica (or a parallel test) continues as soon as the lock is free.
type advisoryLocker struct{ id int64 }

func (l advisoryLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", l.id); err != nil {
		return fmt.Errorf("acquire migration lock: %w", err)
	}
	return nil
}

func (l advisoryLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var unlocked bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.id).Scan(&unlocked); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	if !unlocked {
		return errors.New("release migration lock: lock was not held")
	}
	return nil
}

var _ lock.SessionLocker = advisoryLocker{}

// stdlibConfig parses url as the pool does, so pool settings in it
// (pool_max_conns and friends) are understood and left out of the single
// connection migrations use, instead of reaching the server as unknown
// parameters.
func stdlibConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse connection URL: %w", err)
	}
	return cfg.ConnConfig, nil
}
