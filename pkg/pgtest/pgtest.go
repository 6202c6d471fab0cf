// Package pgtest gives each test a fresh, migrated PostgreSQL database.
//
// A test binary starts at most one throwaway cluster (lazily, on the first
// NewDB) in a temporary directory; Main stops it and removes the directory
// when the tests are done. The cluster is copied from one initialized once
// per machine and kept under the temporary directory
// (affinity-pgtest-initdb-*), which saves initdb in every test binary. Each NewDB creates a uniquely named database by
// copying a template that was migrated once per distinct list of migration
// sets, so many parallel tests pay for the migrations once.
//
// Set PGTEST_URL to a superuser URL of an existing server (for example
// postgres://postgres@127.0.0.1:5432/postgres) to use it instead of starting
// a cluster; the databases pgtest creates there are dropped again.
//
// Use it from a package's tests as:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		pool := pgtest.NewDB(t, mypkg.Migrations)
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/affinity-platform/affinity/pkg/pgcluster"
	"github.com/affinity-platform/affinity/pkg/postgres"
)

// EnvURL names the environment variable with the URL of an existing server
// to use instead of a throwaway cluster.
const EnvURL = "PGTEST_URL"

var (
	mainCalled atomic.Bool

	srvOnce sync.Once
	srv     *server
	srvErr  error

	// token keeps this binary's databases apart from those of other test
	// binaries sharing a PGTEST_URL server.
	token = randomHex(4)
	seq   atomic.Int64

	tplMu     sync.Mutex
	templates = map[string]*template{}
)

type server struct {
	base    *url.URL // URL of the maintenance database
	admin   *pgxpool.Pool
	cluster *pgcluster.Cluster // nil with PGTEST_URL
	dir     string             // temporary directory of the cluster
}

type template struct {
	once sync.Once
	name string
	err  error
}

// Main runs the tests of m and then stops the cluster (if one was started)
// and removes its directory. Call it from TestMain; when it returns, the
// testing package exits with the tests' result.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			// A cleanup failure must not be silent; TestMain returning
			// makes the testing package exit with m.Run's code, which
			// we cannot change, so exit here.
			os.Exit(1)
		}
	}
}

// NewDB returns a pool on a fresh database with sets migrated. The pool is
// closed and the database dropped when the test ends.
func NewDB(t testing.TB, sets ...postgres.MigrationSet) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDBURL(t, sets...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect to test database: %v", err)
	}
	// Registered after NewDBURL's cleanup, so it runs first: the pool is
	// closed before the database is dropped.
	t.Cleanup(pool.Close)
	return pool
}

// NewDBURL creates a fresh database with sets migrated and returns its URL.
// The database is dropped when the test ends, closing any connections left
// open to it.
func NewDBURL(t testing.TB, sets ...postgres.MigrationSet) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: the package's tests must call pgtest.Main: add func TestMain(m *testing.M) { pgtest.Main(m) }")
	}
	s, err := getServer()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	source := "template0"
	if len(sets) > 0 {
		tpl, err := s.template(ctx, sets)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		source = tpl
	}
	name := dbName(t.Name())
	create := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{source}.Sanitize())
	if _, err := s.admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database %s from %s: %v", name, source, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

var notIdent = regexp.MustCompile(`[^a-z0-9]+`)

// dbName makes a unique database name that still says which test made it,
// to make a leftover database on a shared server easy to trace.
func dbName(testName string) string {
	base := strings.Trim(notIdent.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(base) > 30 {
		base = base[:30]
	}
	return fmt.Sprintf("t_%s_%s_%d", base, token, seq.Add(1))
}

func getServer() (*server, error) {
	srvOnce.Do(func() { srv, srvErr = startServer() })
	return srv, srvErr
}

func startServer() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &server{}
	if env := os.Getenv(EnvURL); env != "" {
		u, err := url.Parse(env)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
		}
		s.base = u
	} else {
		dir, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		// As root the server runs as the postgres user, which must be
		// able to reach the data directory inside.
		if err := os.Chmod(dir, 0o711); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("chmod cluster directory: %w", err)
		}
		s.dir = dir
		data := filepath.Join(dir, "data")
		if skel, err := skeleton(ctx); err == nil {
			// Copying a ready cluster is several times faster than
			// initdb; on any failure Start runs initdb instead.
			if err := exec.CommandContext(ctx, "cp", "-a", skel, data).Run(); err != nil {
				_ = os.RemoveAll(data)
			}
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: data})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s.cluster = c
		u, err := url.Parse(c.URL("postgres"))
		if err != nil {
			return nil, fmt.Errorf("parse cluster URL: %w", err)
		}
		s.base = u
	}
	admin, err := postgres.Connect(ctx, s.base.String())
	if err != nil {
		if s.cluster != nil {
			_ = s.cluster.Stop()
			_ = os.RemoveAll(s.dir)
		}
		return nil, err
	}
	s.admin = admin
	return s, nil
}

func (s *server) url(db string) string {
	u := *s.base
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// template returns the name of a database with sets migrated, creating it
// the first time these exact sets (names and file contents) are asked for.
func (s *server) template(ctx context.Context, sets []postgres.MigrationSet) (string, error) {
	fp, err := fingerprint(sets)
	if err != nil {
		return "", err
	}
	tplMu.Lock()
	tpl, ok := templates[fp]
	if !ok {
		tpl = &template{name: fmt.Sprintf("tpl_%s_%s", fp[:16], token)}
		templates[fp] = tpl
	}
	tplMu.Unlock()
	tpl.once.Do(func() {
		create := fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0", pgx.Identifier{tpl.name}.Sanitize())
		if _, err := s.admin.Exec(ctx, create); err != nil {
			tpl.err = fmt.Errorf("create template database: %w", err)
			return
		}
		if err := postgres.Migrate(ctx, s.url(tpl.name), sets...); err != nil {
			tpl.err = fmt.Errorf("migrate template database: %w", err)
		}
	})
	return tpl.name, tpl.err
}

// fingerprint hashes the names and files of sets, in order.
func fingerprint(sets []postgres.MigrationSet) (string, error) {
	h := sha256.New()
	for _, set := range sets {
		fmt.Fprintf(h, "set %q\n", set.Name)
		if set.FS == nil {
			continue // Migrate reports it
		}
		err := fs.WalkDir(set.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(set.FS, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %q %d\n", path, len(data))
			h.Write(data)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("read migration set %q: %w", set.Name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func shutdown() error {
	if srv == nil {
		return nil
	}
	var errs []error
	if srv.cluster == nil {
		// On a shared server, remove the templates; with our own cluster
		// they go with the directory.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tplMu.Lock()
		for _, tpl := range templates {
			if _, err := srv.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{tpl.name}.Sanitize()+" WITH (FORCE)"); err != nil {
				errs = append(errs, fmt.Errorf("drop template %s: %w", tpl.name, err))
			}
		}
		tplMu.Unlock()
	}
	srv.admin.Close()
	if srv.cluster != nil {
		if err := srv.cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(srv.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// skeletonVersion changes the cache key when the way pgcluster
// initializes clusters changes.
const skeletonVersion = "1"

// skeleton returns a freshly initialized (never started) cluster directory
// in a cache under the temporary directory, creating it on first use. It is
// shared by all test binaries of this user and server version; it is only
// ever copied, never started.
func skeleton(ctx context.Context) (string, error) {
	bin, err := pgcluster.BinDir()
	if err != nil {
		return "", err
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", bin, os.Geteuid(), skeletonVersion)))
	final := filepath.Join(os.TempDir(), "affinity-pgtest-initdb-"+hex.EncodeToString(key[:6]))
	data := filepath.Join(final, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return data, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "affinity-pgtest-initdb-tmp-")
	if err != nil {
		return "", fmt.Errorf("create skeleton directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("chmod skeleton directory: %w", err)
	}
	if err := pgcluster.Init(ctx, pgcluster.Options{Dir: filepath.Join(tmp, "data")}); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	// The rename publishes a complete cluster atomically. When another
	// test binary won the race, its copy is as good as ours.
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(data, "PG_VERSION")); statErr == nil {
			return data, nil
		}
		return "", fmt.Errorf("publish skeleton: %w", err)
	}
	return data, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
