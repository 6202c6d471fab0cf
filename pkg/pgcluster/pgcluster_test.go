package pgcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/pgcluster"
)

// tempDir returns a directory the postgres user can reach when the tests
// run as root (t.TempDir's parent is created 0700).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatalf("create temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatalf("chmod temp dir: %v", err)
	}
	return filepath.Join(dir, "data")
}

func query(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return s
}

func TestStartCreatesAClusterThatAcceptsConnectionsAndIsReusedAfterStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := tempDir(t)

	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start on an empty directory: %v", err)
	}
	if got := query(t, c.URL("postgres"), "SELECT current_user"); got != "postgres" {
		t.Errorf("current_user: expected postgres, got %q", got)
	}
	if got := query(t, c.URL("postgres"), "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding: expected UTF8, got %q", got)
	}
	if got := query(t, c.URL("postgres"), "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses: expected 127.0.0.1, got %q", got)
	}
	for range 2 { // the second call must find the database and succeed
		if err := c.EnsureDatabase(ctx, "app-db"); err != nil {
			t.Fatalf("EnsureDatabase: %v", err)
		}
	}
	conn, err := pgx.Connect(ctx, c.URL("app-db"))
	if err != nil {
		t.Fatalf("connect to created database: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatalf("write data: %v", err)
	}
	_ = conn.Close(ctx)
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: expected no error, got %v", err)
	}

	// A killed run leaves postmaster.pid behind; its pid now belongs to
	// another process (here: this test binary) and must not block a start.
	pidFile := filepath.Join(dir, "postmaster.pid")
	stale := strconv.Itoa(os.Getpid()) + "\n" + dir + "\n"
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatalf("write stale pid file: %v", err)
	}

	c2, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start on an existing cluster with a stale pid file: %v", err)
	}
	t.Cleanup(func() { _ = c2.Stop() })
	if got := query(t, c2.URL("app-db"), "SELECT v::text FROM kept"); got != "42" {
		t.Errorf("data after restart: expected 42, got %q", got)
	}
	t.Logf("first port %d, second port %d", port, c2.Port())
}

func TestStartListensOnTheRequestedPort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := tempDir(t)
	// A port the first start picked is free again once that server stops.
	first, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	port := first.Port()
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Port: port, Durable: true})
	if err != nil {
		t.Fatalf("Start on port %d: %v", port, err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if got := query(t, c.URL("postgres"), "SHOW port"); got != strconv.Itoa(port) {
		t.Errorf("port: expected %d, got %s", port, got)
	}
	if got := query(t, c.URL("postgres"), "SHOW fsync"); got != "on" {
		t.Errorf("fsync with Durable: expected on, got %s", got)
	}
}

func TestBinDirFindsTheServerBinaries(t *testing.T) {
	t.Parallel()
	dir, err := pgcluster.BinDir()
	if err != nil {
		t.Fatalf("BinDir: %v", err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("expected %s in %s: %v", name, dir, err)
		}
	}
}

// TestHelperProcess is not a test: TestStartAfterTheStartingProcessWasKilled
// runs the test binary again with this test selected, to have a process that
// starts a cluster and can then be killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestStartAfterTheStartingProcessWasKilled")
	}
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err == nil {
		_, err = conn.Exec(ctx, "CREATE TABLE survived (v int)")
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {} // until killed
}

func TestStartAfterTheStartingProcessWasKilled(t *testing.T) {
	t.Parallel()
	dir := tempDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "PGCLUSTER_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: expected ready, got %q (%v)", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	_ = cmd.Wait()

	c, err := pgcluster.Start(context.Background(), pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start after the starting process was killed: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if got := query(t, c.URL("postgres"), "SELECT count(*)::text FROM survived"); got != "0" {
		t.Errorf("table made before the kill: expected it with 0 rows, got %q", got)
	}
}

func TestStartRefusesADirectoryInUseByALiveProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := tempDir(t)
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if c2, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir}); err == nil {
		_ = c2.Stop()
		t.Fatal("second Start on a directory in use: expected an error, got nil")
	}
	// The running cluster must be untouched.
	if got := query(t, c.URL("postgres"), "SELECT 'alive'"); got != "alive" {
		t.Errorf("first cluster after the refused start: expected alive, got %q", got)
	}
}

func TestInitPreparesAClusterThatStartCopiesAndUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	skel := tempDir(t)
	if err := pgcluster.Init(ctx, pgcluster.Options{Dir: skel}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if _, err := os.Stat(filepath.Join(skel, "PG_VERSION")); err != nil {
		t.Fatalf("PG_VERSION after Init: expected it to exist, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(skel, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid after Init: expected none (no server started), got %v", err)
	}
	copyDir := tempDir(t)
	if out, err := exec.Command("cp", "-a", skel, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: copyDir})
	if err != nil {
		t.Fatalf("Start on a copy of an initialized cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if got := query(t, c.URL("postgres"), "SELECT current_user"); got != "postgres" {
		t.Errorf("current_user: expected postgres, got %q", got)
	}
}
