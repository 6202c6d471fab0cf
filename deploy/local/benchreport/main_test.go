package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/affinity-platform/affinity/services/loyalty/internal/ports
cpu: Some CPU
BenchmarkRedeem-2   	    1000	   1204567 ns/op	       812.0 redeems/s	         4.1 p99_ms	       0.55 x_pgbench
BenchmarkEarn-2     	   20000	     56789 ns/op	    1234 B/op	      20 allocs/op
PASS
ok  	github.com/affinity-platform/affinity/services/loyalty/internal/ports	12.3s
pkg: github.com/affinity-platform/affinity/pkg/events
--- FAIL: BenchmarkBroken
FAIL	github.com/affinity-platform/affinity/pkg/events	1.0s
`

func TestTheReportListsEveryBenchmarkWithItsFiguresAndTheFailures(t *testing.T) {
	t.Parallel()
	rep, err := parse(strings.NewReader(sample), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.count() != 2 {
		t.Fatalf("parsed %d benchmarks, want 2", rep.count())
	}
	var buf bytes.Buffer
	rep.write(&buf, "2 cores")
	out := buf.String()
	for _, want := range []string{
		"Machine: 2 cores.",
		"## services/loyalty/internal/ports",
		"| Redeem-2 | 1000 | 1204567 ns/op, 812.0 redeems/s, 4.1 p99_ms, 0.55 x_pgbench |",
		"| Earn-2 | 20000 | 56789 ns/op, 1234 B/op, 20 allocs/op |",
		"`--- FAIL: BenchmarkBroken`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "## pkg/events") {
		t.Error("a package without benchmark results got a section")
	}
}

func TestGoalsShowWhatWasMeasuredAndWhetherItMetTheTarget(t *testing.T) {
	t.Parallel()
	const out = `pkg: github.com/affinity-platform/affinity/services/loyalty/internal/ports
BenchmarkProgram-2   	1	 900000000 ns/op	 0.62 redeem/pgbench	 31.5 redeem-p99-ms	 2.4 ingest/pgbench
pkg: github.com/affinity-platform/affinity/services/segmentation/internal/app
BenchmarkPreview-2   	1	1500000000 ns/op
`
	rep, err := parse(strings.NewReader(out), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep.write(&buf, "2 cores")
	got := buf.String()
	for _, want := range []string{
		"| #3 | Redeem throughput vs pgbench TPC-B (same PostgreSQL, same run) | ≥ 0.5 | 0.62 | yes |",
		"| #3 | Redeem p99 latency (ms) | ≤ 25 | 31.50 | no |",
		"| #3 | Order ingestion from Kafka vs pgbench TPC-B | ≥ 2.5 | 2.40 | no |",
		"| #4 | Preview over 1,000,000 profiles (s) | ≤ 2 | 1.50 | yes |",
		"| #4 | Full recompute of 20 segments over 1,000,000 profiles (s) | ≤ 20 | not measured | — |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
