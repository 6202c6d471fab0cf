// Package pgcluster starts and stops a PostgreSQL cluster from Debian's server
// binaries, for tests (a throwaway cluster in a temporary directory) and for the
// local stack (a persistent cluster under .data/ that is reused across runs).
//
// The cluster listens on 127.0.0.1 only, trusts every loopback connection and
// has the superuser "postgres". When the calling process runs as root, the
// cluster's files belong to the "postgres" system user and the server runs as
// that user, because PostgreSQL refuses to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the name of the cluster's superuser role.
const Superuser = "postgres"

// Options configures Start.
type Options struct {
	// Dir is the data directory. A cluster is created there when it holds
	// none; an existing cluster is reused as it is.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free port.
	Port int
	// Log receives the server's log output; nil discards it (the tail is
	// still kept for error messages).
	Log io.Writer
	// Durable keeps fsync, synchronous_commit and full_page_writes on. The
	// default (off) is much faster and only risks data on an operating
	// system crash, not on a crash of the server or of this process, which
	// suits tests and a local stack.
	Durable bool
	// MaxConnections is the server's max_connections; 0 means 300, enough
	// for many parallel tests each holding a small pool.
	MaxConnections int
	// SharedBuffers is the server's shared_buffers; "" means 128MB.
	SharedBuffers string
	// Settings are further server settings passed as -c name=value.
	Settings map[string]string
}

// Cluster is a running PostgreSQL cluster started by Start.
type Cluster struct {
	dir  string
	port int
	log  *tailWriter

	stopOnce sync.Once
	stopErr  error
	signal   chan os.Signal // delivers signals to the postmaster from the goroutine that owns it
	exited   chan struct{}  // closed when the postmaster has exited
	waitErr  error          // set before exited is closed
}

// Start starts the cluster in o.Dir, creating it first when the directory
// holds none, and returns once it accepts connections.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: resolve data directory: %w", err)
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	tail := &tailWriter{w: o.Log}
	if err := ensureCluster(ctx, bin, dir, cred, tail); err != nil {
		return nil, err
	}
	if err := clearStalePID(dir); err != nil {
		return nil, err
	}

	// With Port 0 the chosen port can be taken between probing and binding
	// by another process; the server then exits at once and we try again.
	attempts := 1
	if o.Port == 0 {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		port := o.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		c, err := start(ctx, bin, dir, port, cred, tail, o)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(tail.String(), "could not bind") {
			break
		}
	}
	return nil, lastErr
}

// Init creates the cluster files in o.Dir (as Start does when the directory
// holds no cluster) without starting a server; an existing cluster is left
// alone. A cluster made once by Init can be copied (cp -a, keeping owners)
// to start many throwaway clusters without paying for initdb each time.
func Init(ctx context.Context, o Options) error {
	if o.Dir == "" {
		return errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("pgcluster: resolve data directory: %w", err)
	}
	bin, err := BinDir()
	if err != nil {
		return err
	}
	cred, err := runAs()
	if err != nil {
		return err
	}
	return ensureCluster(ctx, bin, dir, cred, &tailWriter{w: o.Log})
}

func ensureCluster(ctx context.Context, bin, dir string, cred *syscall.Credential, tail *tailWriter) error {
	if err := prepareDir(dir, cred); err != nil {
		return err
	}
	_, err := os.Stat(filepath.Join(dir, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return initdb(ctx, bin, dir, cred, tail)
	}
	if err != nil {
		return fmt.Errorf("pgcluster: inspect %s: %w", dir, err)
	}
	return nil
}

// BinDir returns the directory holding the newest installed PostgreSQL
// server binaries (initdb, postgres).
func BinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or pg_config --bindir; install them with `apt-get install postgresql`")
}

// versionOf extracts the major version from /usr/lib/postgresql/<v>/bin/postgres.
func versionOf(path string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(path))), 64)
	return v
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// runAs returns the credential to run the server with: nil when this
// process is not root, the postgres system user's when it is.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root needs the system user postgres, which Debian's `apt-get install postgresql` creates: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// prepareDir creates the data directory with the permissions PostgreSQL
// demands and, as root, hands it to the postgres user.
func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: chmod data directory: %w", err)
	}
	if cred == nil {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: inspect data directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if ok && sys.Uid == cred.Uid {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: read data directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pgcluster: data directory %s is not owned by the postgres user and not empty; remove it or chown -R postgres it", dir)
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: chown data directory to postgres: %w", err)
	}
	// The postgres user must be able to reach the directory through every
	// parent; a root-only parent (mode 0700) would make initdb fail with a
	// confusing message, so say it plainly here.
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: inspect %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: the postgres user cannot reach %s because %s is not searchable by others (mode %v); choose another directory or chmod o+x it", dir, p, st.Mode().Perm())
		}
	}
	return nil
}

func initdb(ctx context.Context, bin, dir string, cred *syscall.Credential, log *tailWriter) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"--pgdata="+dir,
		"--username="+Superuser,
		"--encoding=UTF8",
		"--no-locale",
		"--auth=trust",
		"--no-sync",
	)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Dir = "/"
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", dir, err, log.String())
	}
	// initdb's default pg_hba.conf trusts local sockets and loopback TCP
	// only; listen_addresses (set at start) keeps the server on loopback.
	return nil
}

// serverEnv is the environment for initdb and postgres: the locale is
// pinned so the host's settings cannot change collation or messages.
func serverEnv() []string {
	return []string{"LC_ALL=C", "LANG=C", "PATH=/usr/bin:/bin", "TZ=UTC"}
}

// clearStalePID handles a postmaster.pid left by an earlier run. A file whose
// process is gone, or is some other program that reuses the pid, is removed
// (PostgreSQL itself would refuse to start when the pid is reused). A
// postmaster still running on this directory whose starting process has died
// (an orphan of a killed run that escaped the parent-death signal) is shut
// down. A postmaster whose starting process is alive belongs to another run,
// and Start fails.
func clearStalePID(dir string) error {
	pidFile := filepath.Join(dir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: read %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return removeFile(pidFile)
	}
	if !isPostmasterFor(pid, dir) {
		return removeFile(pidFile)
	}
	if alive, owner := ownerAlive(dir); alive {
		return fmt.Errorf("pgcluster: a PostgreSQL server (pid %d) started by the running process %s is already using %s", pid, owner, dir)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("pgcluster: find orphaned server %d: %w", pid, err)
	}
	_ = proc.Signal(syscall.SIGINT) // fast shutdown
	deadline := time.Now().Add(60 * time.Second)
	for isPostmasterFor(pid, dir) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: orphaned server %d on %s did not stop within 60s", pid, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(pidFile); err == nil {
		return removeFile(pidFile)
	}
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale %s: %w", path, err)
	}
	return nil
}

// isPostmasterFor reports whether pid is a live postgres process whose
// command line names dir.
func isPostmasterFor(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
		return false
	}
	for i, a := range args {
		if a == dir || (a == "-D" && i+1 < len(args) && args[i+1] == dir) {
			return true
		}
	}
	return false
}

// ownerFile records which process started the server in a data directory,
// so that a later Start can tell a server left behind by a killed run (owner
// gone) from one another live run is using (owner alive).
const ownerFile = "pgcluster.owner"

// processID identifies a process across pid reuse: its pid and start time.
func processID(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name in field 2 may contain spaces; the fields after
	// its closing parenthesis are fixed, starttime being the 20th of them.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + " " + fields[19]
}

// ownerAlive reports whether the process recorded in dir's owner file is
// still running, and its pid.
func ownerAlive(dir string) (bool, string) {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return false, ""
	}
	id := strings.TrimSpace(string(data))
	pidStr, _, _ := strings.Cut(id, " ")
	pid, err := strconv.Atoi(pidStr)
	if err != nil {
		return false, ""
	}
	return processID(pid) == id, pidStr
}

func writeOwner(dir string) error {
	id := processID(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: record owner: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, bin, dir string, port int, cred *syscall.Credential, log *tailWriter, o Options) (*Cluster, error) {
	settings := map[string]string{
		"listen_addresses":  "127.0.0.1",
		"port":              strconv.Itoa(port),
		"max_connections":   "300",
		"shared_buffers":    "128MB",
		"logging_collector": "off",
		"log_min_messages":  "warning",
		// Unix socket paths are limited to 107 bytes; a deep directory
		// gets TCP only rather than a failed start.
		"unix_socket_directories": "",
	}
	if len(dir)+len("/.s.PGSQL.65535") < 100 {
		settings["unix_socket_directories"] = dir
	}
	if o.MaxConnections > 0 {
		settings["max_connections"] = strconv.Itoa(o.MaxConnections)
	}
	if o.SharedBuffers != "" {
		settings["shared_buffers"] = o.SharedBuffers
	}
	if !o.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	args := []string{"-D", dir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}

	c := &Cluster{
		dir:    dir,
		port:   port,
		log:    log,
		signal: make(chan os.Signal, 1),
		exited: make(chan struct{}),
	}
	started := make(chan error, 1)
	go c.own(exec.Command(filepath.Join(bin, "postgres"), args...), cred, started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if err := writeOwner(dir); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// own starts the postmaster and stays with it until it exits. The
// goroutine is locked to its OS thread because the parent-death signal
// fires when the thread that forked the child exits: with the thread kept
// for the postmaster's lifetime, the server gets a fast shutdown exactly
// when this process dies (a killed test binary or local stack), instead of
// lingering as an orphan.
func (c *Cluster) own(cmd *exec.Cmd, cred *syscall.Credential, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Stdout = c.log
	cmd.Stderr = c.log
	cmd.Dir = "/"
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Pdeathsig:  syscall.SIGINT,
		Setpgid:    true, // keep Ctrl-C in a terminal from reaching the server directly; we shut it down in order
	}
	if err := cmd.Start(); err != nil {
		started <- err
		close(c.exited)
		return
	}
	started <- nil
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-c.signal:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			c.waitErr = err
			close(c.exited)
			return
		}
	}
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		connCtx, connCancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(connCtx, c.URL("postgres"))
		connCancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("pgcluster: postgres exited during start (%v):\n%s", c.waitErr, c.log.String())
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres did not accept connections on port %d: %w (last error: %v)\n%s", c.port, ctx.Err(), err, c.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Dir returns the data directory.
func (c *Cluster) Dir() string { return c.dir }

// Port returns the TCP port the cluster listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL returns a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// EnsureDatabase creates database name unless it exists. It is safe to call
// concurrently with the same name.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// 42P04 duplicate_database: a concurrent caller won the race.
	// 23505 unique_violation: the same race seen through the catalog index.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	return nil
}

// Stop shuts the cluster down with a fast shutdown (open transactions are
// rolled back, clients disconnected) and waits for the server to exit. It
// is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.stop()
	})
	return c.stopErr
}

func (c *Cluster) stop() error {
	select {
	case <-c.exited:
		return nil
	case c.signal <- syscall.SIGINT:
	}
	select {
	case <-c.exited:
		return c.exitErr()
	case <-time.After(60 * time.Second):
	}
	// Immediate shutdown: crash recovery runs at the next start.
	c.signal <- syscall.SIGQUIT
	select {
	case <-c.exited:
		return fmt.Errorf("pgcluster: fast shutdown timed out, used immediate shutdown")
	case <-time.After(30 * time.Second):
		c.signal <- syscall.SIGKILL
		<-c.exited
		return fmt.Errorf("pgcluster: server did not stop, killed it")
	}
}

func (c *Cluster) exitErr() error {
	// A fast shutdown ends with exit status 0.
	if c.waitErr != nil {
		return fmt.Errorf("pgcluster: postgres exited: %w\n%s", c.waitErr, c.log.String())
	}
	return nil
}

// tailWriter forwards to w (when set) and keeps the last 16 KiB written,
// so that start failures can say what the server said.
type tailWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

const tailSize = 16 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-tailSize:]...)
	}
	if t.w != nil {
		// A failing log sink must not stop the server: its output pipe
		// would fill and block it.
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
