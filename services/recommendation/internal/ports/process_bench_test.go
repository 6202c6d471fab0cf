package ports_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/affinity-platform/affinity/pkg/server"
)

// serviceBinary builds the recommendation command once per benchmark
// binary, into a directory removed when b ends.
func serviceBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "recommendation")
	build := exec.Command("go", "build", "-o", bin, "github.com/affinity-platform/affinity/services/recommendation/cmd/recommendation")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build of the service: %v\n%s", err, out)
	}
	return bin
}

// process is the service running as its own process, as it is deployed:
// a load generator in the same process would share its heap, so the
// generator's garbage would make the service's collector trace the
// service's models, and its resident memory would include the generator.
type process struct {
	cmd   *exec.Cmd
	addrs server.Addrs
	out   *lockedBuffer
	done  chan error
}

// lockedBuffer collects the service's output for a failure report.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess runs bin serve with the stack's settings and waits until its
// gRPC health check answers SERVING.
func (s *stack) startProcess(b *testing.B, bin string) *process {
	b.Helper()
	p := &process{addrs: server.Addrs{GRPC: freeAddr(b), HTTP: freeAddr(b), Admin: freeAddr(b)}, out: &lockedBuffer{}, done: make(chan error, 1)}
	env := os.Environ()
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "GRPC_ADDR="+p.addrs.GRPC, "HTTP_ADDR="+p.addrs.HTTP, "ADMIN_ADDR="+p.addrs.Admin)
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, p.out, p.out
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.Cleanup(p.stop)
	conn, err := grpc.NewClient(p.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	// Generous: the first start replays 500,000 orders, which takes over a
	// minute on a busy 2-core machine; this bounds a hang.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			b.Fatalf("service exited before serving: %v\n%s", err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("service not serving within 5 minutes: %v\n%s", err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the graceful shutdown.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rssMB is the process's resident memory.
func (p *process) rssMB() float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			if f := strings.Fields(l); len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// cpu is the process's user and system CPU time so far (from /proc, in
// clock ticks of 10 ms).
func (p *process) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// fetchProfile writes what the service's admin port serves at path (a
// pprof endpoint) to file.
func (p *process) fetchProfile(b *testing.B, path, file string) {
	b.Helper()
	resp, err := http.Get("http://" + p.addrs.Admin + path)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("%s: %s", path, resp.Status)
		return
	}
	f, err := os.Create(file)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Error(err)
	}
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fetchAllocs writes the service's heap profile, whose alloc_space counts
// every allocation so far, current as of now, to file. The runtime
// publishes allocations at the end of the collection after the one they
// fall in, so the profile is fetched after two forced collections (only
// the heap endpoint forces one: gc=1).
// collect runs a garbage collection in the service (the heap profile's
// gc=1 does) and waits for it.
func (p *process) collect(b *testing.B) {
	b.Helper()
	resp, err := http.Get("http://" + p.addrs.Admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (p *process) fetchAllocs(b *testing.B, file string) {
	b.Helper()
	p.collect(b)
	p.fetchProfile(b, "/debug/pprof/heap?gc=1", file)
}
