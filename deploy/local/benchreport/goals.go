package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// goal is one target an issue sets for a benchmark figure. The report puts
// every goal beside what this run measured, so a reader sees at once which
// targets hold on this machine.
type goal struct {
	issue int
	what  string
	// pkg is the package path below the module root; bench the benchmark
	// name without "Benchmark" and without the -GOMAXPROCS suffix
	// (sub-benchmarks as "Name/sub").
	pkg, bench string
	// unit is the metric's unit as the benchmark reports it; "s/op" reads
	// ns/op in seconds.
	unit string
	// atMost is true for ceilings (latency, time), false for floors
	// (throughput ratios).
	atMost bool
	// target 0 means the issue asks for the figure to be reported, with no
	// threshold.
	target float64
}

// goals are the figures the issues ask for, in issue order. A goal whose
// benchmark did not run shows as not measured rather than disappearing.
var goals = []goal{
	{3, "Redeem throughput vs pgbench TPC-B (same PostgreSQL, same run)", "services/loyalty/internal/ports", "Program", "redeem/pgbench", false, 0.5},
	{3, "Redeem p99 latency (ms)", "services/loyalty/internal/ports", "Program", "redeem-p99-ms", true, 25},
	{3, "Order ingestion from Kafka vs pgbench TPC-B", "services/loyalty/internal/ports", "Program", "ingest/pgbench", false, 2.5},
	{4, "Full recompute of 20 segments over 1,000,000 profiles (s)", "services/segmentation/internal/app", "FullRecompute", "s/op", true, 20},
	{4, "Preview over 1,000,000 profiles (s)", "services/segmentation/internal/app", "Preview", "s/op", true, 2},
	{4, "Event to SegmentEntered p99 under steady load (ms)", "services/segmentation/internal/ports", "EventToSegmentEnteredLatency", "p99-ms", true, 50},
	{5, "GetRecommendations throughput as % of the gRPC health check", "services/recommendation/internal/ports", "Serving", "reco-%-of-health", false, 50},
	{5, "GetRecommendations p99 latency (ms)", "services/recommendation/internal/ports", "Serving", "reco-p99-ms", true, 5},
	{5, "GetRecommendations in the basic item view (ids, scores, reasons) as % of the health check", "services/recommendation/internal/ports", "Serving", "basic-%-of-health", false, 0},
	{5, "GetRecommendations p99 in the basic item view (ms)", "services/recommendation/internal/ports", "Serving", "basic-p99-ms", true, 0},
	{5, "Recommendation service resident memory after the load (MB)", "services/recommendation/internal/ports", "Serving", "RSS-MB", true, 0},
	{5, "Service CPU per GetRecommendations request (µs; a health check: health-cpu-us/op)", "services/recommendation/internal/ports", "Serving", "reco-cpu-us/op", true, 0},
	{5, "GetRecommendations with a latent model (from the first hour on) as % of the health check", "services/recommendation/internal/ports", "ServingWithModel", "reco-%-of-health", false, 0},
	{5, "Service CPU per GetRecommendations request with a latent model (µs)", "services/recommendation/internal/ports", "ServingWithModel", "reco-cpu-us/op", true, 0},
	{5, "Co-occurrence build, 2,000,000 customers x 200,000 products (s; \"within minutes\")", "services/recommendation/internal/domain/cooccur", "BuildAtScale", "build-s", true, 600},
	{5, "Implicit ALS training, 100,000 customers x 50,000 products (s)", "services/recommendation/internal/domain/latent", "TrainAtServingScale", "train-s", true, 0},
	{8, "Orders per second through loyalty and segmentation (whole platform)", "deploy/local", "Platform", "platform_orders/s", false, 0},
	{8, "Order event to points visible, p99 (ms)", "deploy/local", "Platform", "points_p99_ms", true, 0},
	{8, "Order event to profile visible, p99 (ms)", "deploy/local", "Platform", "profile_p99_ms", true, 0},
	{8, "Order event to recommendations changed, p99 (ms)", "deploy/local", "Platform", "recommendations_p99_ms", true, 0},
	{8, "Full Online Retail import: published (s)", "deploy/local", "ImportIntoPlatform", "publish_s", true, 0},
	{8, "Full Online Retail import: processed by every service (s)", "deploy/local", "ImportIntoPlatform", "processed_by_all_services_s", true, 0},
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// find returns the first value this run measured for the goal.
func (r *report) find(g goal) (float64, bool) {
	for _, pkg := range r.packages {
		if strings.TrimPrefix(pkg, modulePrefix) != g.pkg {
			continue
		}
		for _, res := range r.results[pkg] {
			name := procSuffix.ReplaceAllString(res.name, "")
			if name != g.bench && !strings.HasPrefix(name, g.bench+"/") {
				continue
			}
			for _, m := range res.metrics {
				unit, scale := m.unit, 1.0
				if g.unit == "s/op" && unit == "ns/op" {
					unit, scale = "s/op", 1e-9
				}
				if unit != g.unit {
					continue
				}
				v, err := strconv.ParseFloat(m.value, 64)
				if err != nil {
					continue
				}
				return v * scale, true
			}
		}
	}
	return 0, false
}

// writeGoals writes the goals table.
func (r *report) writeGoals(w io.Writer) {
	fmt.Fprintf(w, "## Goals\n\n| issue | goal | target | measured | met |\n| --- | --- | ---: | ---: | --- |\n")
	for _, g := range goals {
		cmp := "≥"
		if g.atMost {
			cmp = "≤"
		}
		v, ok := r.find(g)
		measured, met, target := "not measured", "—", cmp+" "+strconv.FormatFloat(g.target, 'g', -1, 64)
		if g.target == 0 {
			target = "reported"
		}
		if ok && g.target == 0 {
			measured = figure(v)
		} else if ok {
			measured = figure(v)
			met = "no"
			if (g.atMost && v <= g.target) || (!g.atMost && v >= g.target) {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "| #%d | %s | %s | %s | %s |\n", g.issue, g.what, target, measured, met)
	}
	fmt.Fprintln(w)
}

// figure prints a measured value with the precision a reader needs: whole
// numbers from 100 up, two decimals below.
func figure(v float64) string {
	if v >= 100 || v <= -100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
