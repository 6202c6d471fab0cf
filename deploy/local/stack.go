package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/localkafka"
	"github.com/affinity-platform/affinity/pkg/pgcluster"
	"github.com/affinity-platform/affinity/proto/topics"
)

// Config is the local stack's configuration, read from the environment. Every
// address can be moved, so that a test can run a second stack beside a running
// one.
type Config struct {
	// DataDir holds the PostgreSQL cluster, the JWT secret and the built
	// service binaries; a second start reuses it.
	DataDir string `env:"AFFINITY_DATA_DIR" envDefault:".data"`
	// PostgresURL points at an existing server instead of a cluster under
	// DataDir; each service gets its own database on it.
	PostgresURL string `env:"AFFINITY_POSTGRES_URL" secret:"true"`
	// PostgresPort is the port of the cluster under DataDir.
	PostgresPort int `env:"AFFINITY_POSTGRES_PORT" envDefault:"54320"`
	// KafkaBrokers points at existing brokers instead of the in-process one.
	KafkaBrokers []string `env:"KAFKA_BROKERS" envSeparator:","`
	// KafkaAddr is where the in-process Kafka-protocol broker listens.
	KafkaAddr string `env:"AFFINITY_KAFKA_ADDR" envDefault:"127.0.0.1:9092"`
	// EntryAddr is the single HTTP entry that routes /v1/... to the services.
	EntryAddr string `env:"AFFINITY_ENTRY_ADDR" envDefault:"127.0.0.1:8080"`
	// PortOffset is added to every service port (gRPC 5005x, HTTP 808x,
	// admin 909x).
	PortOffset int `env:"AFFINITY_PORT_OFFSET" envDefault:"0"`
	// LogLevel is passed to every service.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// Currency is the program currency of the local services (the demo
	// dataset's, pounds sterling).
	Currency string `env:"AFFINITY_CURRENCY" envDefault:"GBP"`
}

// currencySettings are the variables that set each service's program or
// reporting currency.
var currencySettings = map[string][]string{
	"loyalty":        {"LOYALTY_CURRENCY"},
	"segmentation":   {"SEGMENTATION_CURRENCY"},
	"recommendation": {"RECO_CART_THRESHOLD_CURRENCY"},
}

// Validate reports settings the stack cannot start with.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("AFFINITY_DATA_DIR: must not be empty")
	}
	if c.PortOffset < 0 || c.PortOffset > 5000 {
		return fmt.Errorf("AFFINITY_PORT_OFFSET: %d is outside 0..5000", c.PortOffset)
	}
	return nil
}

func loadConfig() (Config, error) {
	var c Config
	if err := config.Load(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// service is one platform service run as a child process.
type service struct {
	name                        string
	grpcPort, httpPort, admPort int
}

// services lists the four services with their contract ports (ARCHITECTURE.md).
var services = []service{
	{name: "loyalty", grpcPort: 50051, httpPort: 8081, admPort: 9101},
	{name: "referral", grpcPort: 50052, httpPort: 8082, admPort: 9102},
	{name: "recommendation", grpcPort: 50053, httpPort: 8083, admPort: 9103},
	{name: "segmentation", grpcPort: 50054, httpPort: 8084, admPort: 9104},
}

// consoleApp is the marketer console (services/console): HTTP only, no
// database, calling the services back through the entry.
var consoleApp = service{name: "console", httpPort: 8085, admPort: 9105}

func (s service) grpcAddr(off int) string  { return fmt.Sprintf("127.0.0.1:%d", s.grpcPort+off) }
func (s service) httpAddr(off int) string  { return fmt.Sprintf("127.0.0.1:%d", s.httpPort+off) }
func (s service) adminAddr(off int) string { return fmt.Sprintf("127.0.0.1:%d", s.admPort+off) }

// stack is a running local platform.
type stack struct {
	cfg      Config
	out      io.Writer
	root     string
	pg       *pgcluster.Cluster
	broker   *localkafka.Broker
	brokers  []string
	secret   string
	entry    *http.Server
	children []*child
	exited   chan error
}

type child struct {
	svc  service
	cmd  *exec.Cmd
	done chan struct{}
}

// start brings the platform up: PostgreSQL, Kafka, the services (built from
// this checkout), and the HTTP entry. On error it tears down what it started.
func start(ctx context.Context, cfg Config, out io.Writer) (_ *stack, err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	st := &stack{cfg: cfg, out: out, root: root, exited: make(chan error, len(services)+1)}
	defer func() {
		if err != nil {
			st.shutdown()
		}
	}()
	dataDir := cfg.DataDir
	if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(root, dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st.cfg.DataDir = dataDir

	if st.secret, err = loadOrCreateSecret(filepath.Join(dataDir, "jwt.secret")); err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "building services ...")
	if err := st.build(ctx); err != nil {
		return nil, err
	}
	dbURLs, err := st.startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.startKafka(); err != nil {
		return nil, err
	}
	for _, s := range services {
		if err := st.startService(s, dbURLs[s.name]); err != nil {
			return nil, err
		}
	}
	for _, c := range st.children {
		if err := waitHealthy(ctx, c, cfg.PortOffset, 90*time.Second); err != nil {
			return nil, fmt.Errorf("%s did not become healthy: %w", c.svc.name, err)
		}
		fmt.Fprintf(out, "%s is SERVING on %s\n", c.svc.name, c.svc.grpcAddr(cfg.PortOffset))
	}
	if err := st.startConsole(ctx); err != nil {
		return nil, err
	}
	if err := st.startEntry(); err != nil {
		return nil, err
	}
	return st, nil
}

// repoRoot finds the directory holding go.work, so the stack runs from any
// folder of the checkout.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found: run the local stack from inside the repository")
		}
		dir = parent
	}
}

func loadOrCreateSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate jwt secret: %w", err)
	}
	secret := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write jwt secret: %w", err)
	}
	return secret, nil
}

func (st *stack) binDir() string { return filepath.Join(st.cfg.DataDir, "bin") }

func (st *stack) build(ctx context.Context) error {
	args := []string{"build", "-o", st.binDir() + string(os.PathSeparator)}
	for _, s := range services {
		args = append(args, "./services/"+s.name+"/cmd/"+s.name)
	}
	args = append(args, "./services/"+consoleApp.name+"/cmd/"+consoleApp.name)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = st.root
	cmd.Stdout, cmd.Stderr = st.out, st.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build services: %w", err)
	}
	return nil
}

// startPostgres returns each service's database URL, creating the databases
// when missing.
func (st *stack) startPostgres(ctx context.Context) (map[string]string, error) {
	urls := map[string]string{}
	var ensure func(ctx context.Context, name string) error
	switch {
	case st.cfg.PostgresURL != "":
		base, err := url.Parse(st.cfg.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("AFFINITY_POSTGRES_URL: %w", err)
		}
		ensure = func(ctx context.Context, name string) error { return ensureDatabase(ctx, st.cfg.PostgresURL, name) }
		for _, s := range services {
			u := *base
			u.Path = "/" + s.name
			urls[s.name] = u.String()
		}
	default:
		fmt.Fprintf(st.out, "starting PostgreSQL in %s on port %d ...\n", filepath.Join(st.cfg.DataDir, "postgres"), st.cfg.PostgresPort)
		pg, err := pgcluster.Start(ctx, pgcluster.Options{
			Dir:  filepath.Join(st.cfg.DataDir, "postgres"),
			Port: st.cfg.PostgresPort,
			Log:  prefixWriter(st.out, "postgres"),
		})
		if err != nil {
			return nil, err
		}
		st.pg = pg
		ensure = pg.EnsureDatabase
		for _, s := range services {
			urls[s.name] = pg.URL(s.name)
		}
	}
	for _, s := range services {
		if own := os.Getenv(strings.ToUpper(s.name) + "_DATABASE_URL"); own != "" {
			urls[s.name] = own
			continue
		}
		if err := ensure(ctx, s.name); err != nil {
			return nil, fmt.Errorf("database for %s: %w", s.name, err)
		}
	}
	return urls, nil
}

func (st *stack) startKafka() error {
	if len(st.cfg.KafkaBrokers) > 0 {
		st.brokers = st.cfg.KafkaBrokers
		return nil
	}
	// Records, topics and committed offsets live under the data dir, so a
	// second start resumes where the first stopped.
	b, err := localkafka.StartOptions(localkafka.Options{
		Addr:    st.cfg.KafkaAddr,
		Topics:  topics.All(),
		DataDir: filepath.Join(st.cfg.DataDir, "kafka"),
		Log:     prefixWriter(st.out, "kafka"),
	})
	if err != nil {
		return fmt.Errorf("start in-process Kafka broker on %s: %w", st.cfg.KafkaAddr, err)
	}
	st.broker = b
	st.brokers = b.Addrs()
	fmt.Fprintf(st.out, "in-process Kafka-protocol broker on %s\n", strings.Join(st.brokers, ","))
	return nil
}

func (st *stack) startService(s service, dbURL string) error {
	off := st.cfg.PortOffset
	env := []string{
		"GRPC_ADDR=" + s.grpcAddr(off),
		"HTTP_ADDR=" + s.httpAddr(off),
		"ADMIN_ADDR=" + s.adminAddr(off),
		"DATABASE_URL=" + dbURL,
		"KAFKA_BROKERS=" + strings.Join(st.brokers, ","),
		"JWT_HS256_SECRET=" + st.secret,
		"MIGRATE_ON_START=true",
		"LOG_LEVEL=" + st.cfg.LogLevel,
	}
	// The demo data is a UK shop's: programs count in its currency unless
	// the environment says otherwise.
	for _, k := range currencySettings[s.name] {
		if os.Getenv(k) == "" && st.cfg.Currency != "" {
			env = append(env, k+"="+st.cfg.Currency)
		}
	}
	return st.startChild(s, env...)
}

// startConsole runs the console and waits for its /healthz. It calls the
// services through the entry, with each user's own token, so it gets no
// secret.
func (st *stack) startConsole(ctx context.Context) error {
	off := st.cfg.PortOffset
	if err := st.startChild(consoleApp,
		"HTTP_ADDR="+consoleApp.httpAddr(off),
		"ADMIN_ADDR="+consoleApp.adminAddr(off),
		"API_BASE_URL=http://"+st.cfg.EntryAddr,
		"LOG_LEVEL="+st.cfg.LogLevel,
	); err != nil {
		return err
	}
	c := st.children[len(st.children)-1]
	if err := waitHTTPHealthy(ctx, c, "http://"+consoleApp.httpAddr(off)+"/healthz", 30*time.Second); err != nil {
		return fmt.Errorf("console did not become healthy: %w", err)
	}
	fmt.Fprintf(st.out, "console is serving on %s\n", consoleApp.httpAddr(off))
	return nil
}

// startChild starts one built binary with env added to the stack's own.
func (st *stack) startChild(s service, env ...string) error {
	cmd := exec.Command(filepath.Join(st.binDir(), s.name))
	cmd.Dir = st.root
	cmd.Env = append(os.Environ(), env...)
	w := prefixWriter(st.out, s.name)
	cmd.Stdout, cmd.Stderr = w, w
	// The stack stops its children itself, in order; the kernel stops them
	// if the stack dies without doing so.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	c := &child{svc: s, cmd: cmd, done: make(chan struct{})}
	st.children = append(st.children, c)
	go func() {
		err := cmd.Wait()
		close(c.done)
		st.exited <- fmt.Errorf("%s exited: %v", s.name, err)
	}()
	return nil
}

// waitHealthy polls the child's gRPC health until it says SERVING, the
// child exits, or limit passes.
func waitHealthy(ctx context.Context, c *child, offset int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	conn, err := grpc.NewClient(c.svc.grpcAddr(offset), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	for {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-c.done:
			return errors.New("the process exited; its log above says why")
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %s", resp.GetStatus())
			}
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitHTTPHealthy polls url until it answers 200, the child exits, or limit
// passes.
func waitHTTPHealthy(ctx context.Context, c *child, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-c.done:
			return errors.New("the process exited; its log above says why")
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// entryHandler routes REST paths to the services' HTTP ports and /console/
// to the console.
func entryHandler(offset int) http.Handler {
	proxies := map[string]*httputil.ReverseProxy{}
	for _, s := range append(services[:len(services):len(services)], consoleApp) {
		target := &url.URL{Scheme: "http", Host: s.httpAddr(offset)}
		proxies[s.name] = httputil.NewSingleHostReverseProxy(target)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		name := serviceFor(r.URL.Path)
		if name == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"code":5,"message":"no service serves %s"}`+"\n", r.URL.Path)
			return
		}
		proxies[name].ServeHTTP(w, r)
	})
}

func (st *stack) startEntry() error {
	ln, err := net.Listen("tcp", st.cfg.EntryAddr)
	if err != nil {
		return fmt.Errorf("HTTP entry: %w", err)
	}
	st.entry = &http.Server{Handler: entryHandler(st.cfg.PortOffset), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := st.entry.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			st.exited <- fmt.Errorf("HTTP entry: %w", err)
		}
	}()
	return nil
}

// wait blocks until ctx ends or a part of the stack fails.
func (st *stack) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-st.exited:
		return err
	}
}

// shutdown stops the entry, then the services (SIGTERM, so each drains its
// in-flight calls), then Kafka and PostgreSQL.
func (st *stack) shutdown() {
	if st.entry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.entry.Shutdown(ctx)
		cancel()
	}
	for _, c := range st.children {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range st.children {
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if st.broker != nil {
		st.broker.Close()
	}
	if st.pg != nil {
		if err := st.pg.Stop(); err != nil {
			fmt.Fprintln(st.out, "stop PostgreSQL:", err)
		}
	}
}

func (st *stack) printWelcome(w io.Writer) {
	exp := time.Now().Add(30 * 24 * time.Hour)
	customer, _ := auth.Sign(st.secret, auth.Claims{Subject: "12347", Roles: []auth.Role{auth.RoleCustomer}, ExpiresAt: exp})
	marketer, _ := auth.Sign(st.secret, auth.Claims{Subject: "marketer@example.com", Roles: []auth.Role{auth.RoleMarketer}, ExpiresAt: exp})
	entry := "http://" + st.cfg.EntryAddr
	fmt.Fprintf(w, `
Affinity is running.

  REST entry      %s   (/v1/loyalty, /v1/referral, /v1/recommendations, /v1/catalog, /v1/segments, /v1/customers, /v1/events)
  Console         %s/console/   (storefront demo: %s/console/storefront; sign in with a token below)
`, entry, entry, entry)
	for _, s := range services {
		fmt.Fprintf(w, "  %-15s gRPC %s  HTTP %s  admin http://%s/metrics\n", s.name, s.grpcAddr(st.cfg.PortOffset), s.httpAddr(st.cfg.PortOffset), s.adminAddr(st.cfg.PortOffset))
	}
	fmt.Fprintf(w, `  Kafka           %s
  JWT secret      %s

Tokens (valid 30 days):
  export CUSTOMER_TOKEN=%s
  export MARKETER_TOKEN=%s

Try:
  curl -H "Authorization: Bearer $CUSTOMER_TOKEN" %s/v1/loyalty/members/12347

Ctrl-C stops everything; the next start reuses %s.
`, strings.Join(st.brokers, ","), filepath.Join(st.cfg.DataDir, "jwt.secret"), customer, marketer, entry, st.cfg.DataDir)
}

// outputMu keeps the lines of different children from interleaving.
var outputMu sync.Mutex

// prefixWriter writes each line to w with "[name] " in front, so the
// interleaved logs of the children stay readable.
func prefixWriter(w io.Writer, name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			outputMu.Lock()
			fmt.Fprintf(w, "[%s] %s\n", name, sc.Text())
			outputMu.Unlock()
		}
	}()
	return pw
}
