// Command benchreport turns the output of `go test -bench` over every module
// into one Markdown report: the machine it ran on, then per package each
// benchmark with its time per operation and every custom metric the
// benchmark reported (throughputs, latency percentiles, and the baselines and
// ratios measured in the same run). `make bench` pipes the benchmarks through
// it into docs/benchmarks.md.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "docs/benchmarks.md", "where to write the report")
	flag.Parse()
	rep, err := parse(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	rep.write(f, machine())
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchreport: %d benchmarks in %d packages written to %s\n", rep.count(), len(rep.packages), *out)
}

// modulePrefix is cut from package paths in the report.
const modulePrefix = "github.com/affinity-platform/affinity/"

// result is one benchmark line.
type result struct {
	name    string
	n       string
	metrics []metric
}

type metric struct{ value, unit string }

// report is the parsed output, packages in the order they ran.
type report struct {
	packages []string
	results  map[string][]result
	failed   []string
}

func (r *report) count() int {
	n := 0
	for _, rs := range r.results {
		n += len(rs)
	}
	return n
}

// parse reads `go test -bench` output, copying it to echo as it goes so a
// long run shows progress.
func parse(in io.Reader, echo io.Writer) (*report, error) {
	r := &report{results: map[string][]result{}}
	pkg := ""
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 2 && fields[0] == "pkg:":
			pkg = fields[1]
			if !slices.Contains(r.packages, pkg) {
				r.packages = append(r.packages, pkg)
			}
		case len(fields) >= 2 && (fields[0] == "FAIL" || strings.HasPrefix(line, "--- FAIL")):
			r.failed = append(r.failed, strings.TrimSpace(line))
		case len(fields) >= 4 && strings.HasPrefix(fields[0], "Benchmark") && len(fields)%2 == 0:
			res := result{name: strings.TrimPrefix(fields[0], "Benchmark"), n: fields[1]}
			for i := 2; i+1 < len(fields); i += 2 {
				res.metrics = append(res.metrics, metric{value: fields[i], unit: fields[i+1]})
			}
			r.results[pkg] = append(r.results[pkg], res)
		}
	}
	return r, sc.Err()
}

// machine describes where the benchmarks ran, since every figure depends on
// it.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	pg := "PostgreSQL: not found"
	if out, err := exec.Command("sh", "-c", `p=$(ls -d /usr/lib/postgresql/*/bin/postgres | tail -1) && "$p" --version`).Output(); err == nil {
		pg = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d cores (%s), %s %s/%s, %s, measured %s",
		runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, pg, time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

func (r *report) write(w io.Writer, machine string) {
	fmt.Fprintf(w, "# Benchmarks\n\nWritten by `make bench` (deploy/local/benchreport); do not edit by hand.\n\n")
	fmt.Fprintf(w, "Machine: %s.\n\n", machine)
	fmt.Fprintf(w, "Each row is one Go benchmark. Besides time per operation, benchmarks report their own figures: throughputs, latency percentiles, and, where a goal is relative, the baseline measured in the same run on the same machine (pgbench, the gRPC health check) with the ratio against it. Compare ratios across machines, not absolute numbers.\n\n")
	if len(r.failed) > 0 {
		fmt.Fprintf(w, "**Failures in this run:**\n\n")
		for _, f := range r.failed {
			fmt.Fprintf(w, "- `%s`\n", f)
		}
		fmt.Fprintln(w)
	}
	r.writeGoals(w)
	for _, pkg := range r.packages {
		rs := r.results[pkg]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(w, "## %s\n\n| benchmark | runs | figures |\n| --- | ---: | --- |\n", strings.TrimPrefix(pkg, modulePrefix))
		for _, res := range rs {
			var figs []string
			for _, m := range res.metrics {
				figs = append(figs, m.value+" "+m.unit)
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", res.name, res.n, strings.Join(figs, ", "))
		}
		fmt.Fprintln(w)
	}
}
