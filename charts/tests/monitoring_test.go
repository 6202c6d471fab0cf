package chartcheck_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// libraryMetrics are exported by libraries rather than by instruments in
// this repository: otelgrpc's server histogram, the Go and process
// collectors registered by pkg/telemetry, and Prometheus' own up.
var libraryMetrics = []string{"rpc_server_call_duration_seconds", "up"}

var libraryPrefixes = []string{"go_", "process_"}

// pendingMetrics are used by the rules and the dashboard but not exported
// yet; docs/operations.md lists them. Remove a name here once its
// instrument exists, and the test then checks it against the code.
var pendingMetrics = []string{}

func TestTheAlertRulesDecodeStrictlyAndUseExportedMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "monitoring", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(data, &pr); err != nil {
		t.Fatalf("expected a PrometheusRule that decodes strictly, got: %v", err)
	}
	known := knownMetrics(t)
	alerts := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || r.Expr.String() == "" {
				t.Errorf("group %s: expected every rule to be an alert with an expression, got %+v", g.Name, r)
			}
			if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
				t.Errorf("alert %s: expected severity warning or critical, got %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: expected summary and description annotations", r.Alert)
			}
			for _, m := range unknownMetrics(r.Expr.String(), known) {
				t.Errorf("alert %s uses metric %s, which no service exports", r.Alert, m)
			}
			if err := balanced(r.Expr.String()); err != "" {
				t.Errorf("alert %s: %s", r.Alert, err)
			}
		}
	}
	if alerts < 8 {
		t.Errorf("expected alerts for availability, errors, latency, lag, dead letters, outbox and expiry, got %d rules", alerts)
	}
}

func TestTheDashboardParsesAndUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("expected the dashboard to be JSON, got: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("expected a uid and a title, got %q and %q", dash.UID, dash.Title)
	}
	known := knownMetrics(t)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricNames(tg.Expr) {
				used[m] = true
			}
			for _, m := range unknownMetrics(tg.Expr, known) {
				t.Errorf("panel %q uses metric %s, which no service exports", p.Title, m)
			}
			if err := balanced(tg.Expr); err != "" {
				t.Errorf("panel %q: %s", p.Title, err)
			}
		}
	}
	// The issue asks for request rate, errors, latency, consumer lag, outbox
	// backlog and expiry job runs.
	for _, m := range []string{"rpc_server_call_duration_seconds_count", "rpc_server_call_duration_seconds_bucket", "consumer_lag", "outbox_backlog", "loyalty_expiry_runs_total"} {
		if !used[m] {
			t.Errorf("expected the dashboard to chart %s", m)
		}
	}
}

var (
	instrumentRe = regexp.MustCompile(`\.(Int64|Float64)(Counter|UpDownCounter|Histogram|Gauge|ObservableCounter|ObservableUpDownCounter|ObservableGauge)\(\s*"([a-z0-9_.]+)"([^\n]*)`)
	unitRe       = regexp.MustCompile(`WithUnit\("([^"]*)"\)`)
)

// knownMetrics derives the Prometheus names of every instrument created in
// pkg/ and services/ the way the OpenTelemetry Prometheus exporter names
// them: dots to underscores, a unit suffix for real units (none for
// {annotations}), _total for counters.
func knownMetrics(t testing.TB) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, m := range libraryMetrics {
		known[m] = true
	}
	for _, m := range pendingMetrics {
		known[m] = true
	}
	units := map[string]string{"s": "_seconds", "ms": "_milliseconds", "By": "_bytes", "1": "_ratio"}
	for _, dir := range []string{"pkg", "services"} {
		root := filepath.Join(repoRoot(t), dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range instrumentRe.FindAllStringSubmatch(string(src), -1) {
				name := strings.ReplaceAll(m[3], ".", "_")
				if u := unitRe.FindStringSubmatch(m[4]); u != nil && !strings.HasPrefix(u[1], "{") {
					if suffix, ok := units[u[1]]; ok && !strings.HasSuffix(name, suffix) {
						name += suffix
					}
				}
				if strings.HasSuffix(m[2], "Counter") && !strings.Contains(m[2], "UpDown") {
					name += "_total"
				}
				known[name] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"outbox_backlog", "consumer_lag"} {
		if !known[want] {
			t.Fatalf("expected pkg/ to export %s; the scan of instruments found %v", want, sortedKeys(known))
		}
	}
	return known
}

var (
	// A metric name is an identifier followed by a selector, a range or a
	// closing parenthesis; function names are followed by "(".
	identRe   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	stringRe  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlOps = []string{"sum", "by", "rate", "increase", "max", "min", "avg", "count", "histogram_quantile", "without", "on", "ignoring",
		"group_left", "group_right", "and", "or", "unless", "deriv", "label_values", "offset", "bool", "topk", "bottomk", "abs", "clamp_min",
		"irate", "delta", "absent", "le", "job", "namespace"}
)

// metricNames extracts the metric names of a PromQL expression: the
// identifiers outside strings, label matchers and grouping clauses that are
// not functions, keywords or Grafana variables.
func metricNames(expr string) []string {
	s := stringRe.ReplaceAllString(expr, `""`)
	s = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(s, "{}")
	s = regexp.MustCompile(`(by|without|on|ignoring)\s*\([^)]*\)`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`\$\{?[a-zA-Z_]+\}?|\[[^\]]*\]`).ReplaceAllString(s, "")
	var out []string
	for _, loc := range identRe.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		rest := strings.TrimSpace(s[loc[1]:])
		if strings.HasPrefix(rest, "(") || slices.Contains(promqlOps, id) {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // part of a number such as 1e3
		}
		out = append(out, id)
	}
	return out
}

func unknownMetrics(expr string, known map[string]bool) []string {
	var out []string
	for _, m := range metricNames(expr) {
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suf); ok && known[b] {
				base = b
			}
		}
		if known[base] || slices.ContainsFunc(libraryPrefixes, func(p string) bool { return strings.HasPrefix(base, p) }) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// balanced reports unbalanced brackets, the most common PromQL typo that
// survives YAML and JSON.
func balanced(expr string) string {
	s := stringRe.ReplaceAllString(expr, `""`)
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range s {
		switch r {
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return "unbalanced " + string(r) + " in " + expr
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack) + " in " + expr
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestTheMetricNameScanFindsNamesAndSkipsFunctionsAndLabels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want []string
	}{
		{`sum by (job) (rate(rpc_server_call_duration_seconds_count{job=~"$job", code!="OK"}[5m])) > 0.05`, []string{"rpc_server_call_duration_seconds_count"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))`, []string{"x_bucket"}},
		{`max by (namespace, job) (outbox_backlog) > 1e3`, []string{"outbox_backlog"}},
		{`up{job=~".*-(loyalty|referral)"} == 0`, []string{"up"}},
		{`a / b`, []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			if got := metricNames(c.expr); !slices.Equal(got, c.want) {
				t.Errorf("expected %v, got %v", c.want, got)
			}
		})
	}
	if got := unknownMetrics("made_up_metric_total", map[string]bool{}); len(got) != 1 {
		t.Errorf("expected an unknown metric to be reported, got %v", got)
	}
}
