package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/affinity-platform/affinity/pkg/auth"
)

// syncBuffer collects the stack's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeOffset finds a port offset at which every service port is free.
func freeOffset(t testing.TB) int {
	t.Helper()
	// A random start, so test binaries starting stacks at the same time
	// (this package's tests, the console's browser tests) rarely probe the
	// same offsets and race each other to bind them.
	start := 1100 + 37*rand.IntN(100)
	for i := range 106 {
		off := 1100 + (start-1100+37*i)%(37*106)
		ok := true
		for _, s := range append(slices.Clone(services), consoleApp) {
			for _, p := range []int{s.grpcPort, s.httpPort, s.admPort} {
				if p == 0 {
					continue
				}
				l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+off))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset")
	return 0
}

// startOnFreePorts starts the stack and, when a port probed free was taken
// before a child bound it (the gRPC ports lie in the kernel's ephemeral
// range, so any outgoing connection may grab one), starts it again on
// fresh ports, up to three times. It returns the config that worked.
func startOnFreePorts(t testing.TB, cfg Config, out *syncBuffer) (*stack, Config, error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		st, err := start(context.Background(), cfg, out)
		if err == nil || attempt == 3 || !strings.Contains(out.String(), "address already in use") {
			return st, cfg, err
		}
		t.Logf("a port was taken while the stack started (attempt %d); starting again on other ports", attempt)
		cfg.PostgresPort = freePort(t)
		cfg.KafkaAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.EntryAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.PortOffset = freeOffset(t)
	}
}

func TestLocalStackServesEveryServiceThroughOneEntryAndRestartsOnItsData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	dataDir := t.TempDir()
	// The cluster runs as the postgres user when the tests run as root; it
	// must be able to reach the data directory.
	if err := os.Chmod(filepath.Dir(dataDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir:      dataDir,
		PostgresPort: freePort(t),
		KafkaAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		EntryAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		PortOffset:   freeOffset(t),
		LogLevel:     "warn",
	}
	ctx := context.Background()
	out := &syncBuffer{}
	st, cfg, err := startOnFreePorts(t, cfg, out)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	stopped := false
	defer func() {
		if !stopped {
			st.shutdown()
		}
	}()

	for _, s := range services {
		if got := healthStatus(t, s.grpcAddr(cfg.PortOffset)); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health = %s, want SERVING", s.name, got)
		}
	}

	exp := time.Now().Add(time.Hour)
	customer, err := auth.Sign(st.secret, auth.Claims{Subject: "12347", Roles: []auth.Role{auth.RoleCustomer}, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	entry := "http://" + cfg.EntryAddr
	// Every path below is customer-scoped: a request without a token must be
	// refused with 401 by the service behind the route, and one for another
	// customer with 403. Only a service's auth interceptor answers that way,
	// so the codes prove the entry reached a service.
	paths := []string{
		"/v1/loyalty/members/%s",
		"/v1/referral/customers/%s/referrals",
		"/v1/recommendations?customerId=%s",
		"/v1/customers/%s/profile",
	}
	for _, p := range paths {
		url := entry + fmt.Sprintf(p, "55555")
		if code := get(t, url, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", url, code)
		}
		if code := get(t, url, customer); code != http.StatusForbidden {
			t.Errorf("GET %s with another customer's token = %d, want 403", url, code)
		}
	}
	if code := get(t, entry+"/v2/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET an unrouted path = %d, want 404", code)
	}
	if code := get(t, entry+"/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	secret := st.secret

	st.shutdown()
	stopped = true

	// A second start reuses the data directory: same secret, same cluster.
	st2, err := start(ctx, cfg, out)
	if err != nil {
		t.Fatalf("second start: %v\n%s", err, out)
	}
	defer st2.shutdown()
	if st2.secret != secret {
		t.Error("the second start made a new JWT secret instead of reusing .data/jwt.secret")
	}
	if code := get(t, entry+fmt.Sprintf(paths[0], "55555"), ""); code != http.StatusUnauthorized {
		t.Errorf("after restart GET loyalty without a token = %d, want 401", code)
	}
}

func healthStatus(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check %s: %v", addr, err)
	}
	return resp.GetStatus()
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Logf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp.StatusCode
}
