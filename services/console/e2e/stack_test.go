package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// platform is a local stack (deploy/local, the same binary as `make run`)
// started for one test binary, with the console routed at /console/.
type platform struct {
	entry              string // http://host:port of the single entry
	kafka              string // the stack's Kafka-protocol broker
	marketer, customer string // tokens printed by the stack
	cmd                *exec.Cmd
	log                *lockedBuffer
	exited             chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeOffset finds a port offset at which every port of the stack (gRPC
// 5005x, HTTP 808x, admin 910x) is free, so the test runs beside `make run`.
func freeOffset(t *testing.T) int {
	t.Helper()
	ports := []int{50051, 50052, 50053, 50054, 8081, 8082, 8083, 8084, 8085, 9101, 9102, 9103, 9104, 9105}
	// A random start, so stacks started at the same time by other test
	// binaries (deploy/local's) rarely probe the same offsets.
	start := 1300 + 41*rand.IntN(90)
	for i := range 90 {
		off := 1300 + (start-1300+41*i)%(41*90)
		ok := true
		for _, p := range ports {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+off))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset")
	return 0
}

// startPlatform builds and starts deploy/local in a fresh data directory and
// waits until it prints its tokens (at most 8 minutes: a cold build of every
// service takes most of that), which it does once every service is
// SERVING and the console answers.
func startPlatform(t *testing.T) *platform {
	t.Helper()
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "local")
	build := exec.Command("go", "build", "-o", bin, "./deploy/local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./deploy/local: %v\n%s", err, out)
	}
	// The service ports lie in the kernel's ephemeral range, so a port found
	// free can be taken by an outgoing connection before a service binds
	// it; another offset is then tried.
	for attempt := 1; ; attempt++ {
		p, err := tryStart(t, root, bin)
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("attempt %d: a port was taken; trying another offset", attempt)
	}
}

func tryStart(t *testing.T, root, bin string) (*platform, error) {
	dataDir := t.TempDir()
	// PostgreSQL runs as the postgres user when the tests run as root; it
	// must be able to reach the data directory.
	for _, d := range []string{filepath.Dir(dataDir), dataDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entryAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kafkaAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &platform{entry: "http://" + entryAddr, kafka: kafkaAddr, log: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Dir = root
	p.cmd.Env = append(os.Environ(),
		"AFFINITY_DATA_DIR="+dataDir,
		fmt.Sprintf("AFFINITY_POSTGRES_PORT=%d", freePort(t)),
		"AFFINITY_KAFKA_ADDR="+kafkaAddr,
		"AFFINITY_ENTRY_ADDR="+entryAddr,
		fmt.Sprintf("AFFINITY_PORT_OFFSET=%d", freeOffset(t)),
		"LOG_LEVEL=warn",
	)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.log, line)
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "export MARKETER_TOKEN="); ok {
				p.marketer = v
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "export CUSTOMER_TOKEN="); ok {
				p.customer = v
			}
			if strings.HasPrefix(line, "Ctrl-C stops everything") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	select {
	case <-ready:
	case <-p.exited:
		return nil, fmt.Errorf("the local stack exited before it was ready:\n%s", tail(p.log.String(), 200))
	case <-time.After(8 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("the local stack was not ready after 8 minutes (it builds every service first):\n%s", tail(p.log.String(), 200))
	}
	if p.marketer == "" || p.customer == "" {
		return nil, fmt.Errorf("the local stack printed no tokens:\n%s", tail(p.log.String(), 100))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("local stack log:\n%s", tail(p.log.String(), 200))
		}
	})
	return p, nil
}

// stop ends the stack the way Ctrl-C does and waits for it.
func (p *platform) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// importDemo publishes the first invoices of the Online Retail dataset to the
// stack, as `make demo` does.
func (p *platform) importDemo(t *testing.T, invoices int) {
	t.Helper()
	cmd := exec.Command("go", "run", "./deploy/local/platformctl", "import", "-brokers", p.kafka, "-limit", fmt.Sprint(invoices))
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo import: %v\n%s", err, out)
	}
}
