package chartcheck_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// kubeVersion is the Kubernetes version the charts are rendered for: the
// oldest one their kubeVersion constraint accepts.
const kubeVersion = "v1.30.0"

// repoRoot is the repository root, found from this file's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestMain removes the prepared copy of the charts after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if preparedDir != "" {
		_ = os.RemoveAll(preparedDir)
	}
	os.Exit(code)
}

var (
	prepareOnce sync.Once
	preparedDir string
	prepareErr  error
)

// chartsDir returns a temporary copy of charts/ in which the umbrella chart's
// dependencies are vendored (what `helm dependency build` does for its
// file:// dependencies), so the working tree is never written to.
func chartsDir(t testing.TB) string {
	t.Helper()
	prepareOnce.Do(func() {
		preparedDir, prepareErr = prepareCharts(repoRoot(t))
	})
	if prepareErr != nil {
		t.Fatalf("preparing the charts: %v", prepareErr)
	}
	return preparedDir
}

func prepareCharts(root string) (string, error) {
	dir, err := os.MkdirTemp("", "affinity-charts-")
	if err != nil {
		return "", err
	}
	for _, name := range []string{"affinity", "affinity-service"} {
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(filepath.Join(root, "charts", name))); err != nil {
			return "", fmt.Errorf("copy chart %s: %w", name, err)
		}
	}
	svc, err := loader.Load(filepath.Join(dir, "affinity-service"))
	if err != nil {
		return "", fmt.Errorf("load affinity-service: %w", err)
	}
	depDir := filepath.Join(dir, "affinity", "charts")
	if err := os.RemoveAll(depDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(depDir, 0o755); err != nil {
		return "", err
	}
	if _, err := chartutil.Save(svc, depDir); err != nil {
		return "", fmt.Errorf("package affinity-service: %w", err)
	}
	return dir, nil
}

func loadChart(t testing.TB, name string) *chart.Chart {
	t.Helper()
	c, err := loader.Load(filepath.Join(chartsDir(t), name))
	if err != nil {
		t.Fatalf("load chart %s: %v", name, err)
	}
	return c
}

// rendered is the output of one helm template run: the release's manifests
// and its hooks (migration Jobs, test Pods), each as one YAML document.
type rendered struct {
	docs []renderedDoc
}

type renderedDoc struct {
	source string // template path, for messages
	yaml   string
}

// render runs what `helm template <release> charts/<name> -f ...` runs, in
// process. The error is the one helm would print (schema, template failure).
func render(t testing.TB, name string, vals map[string]any) (rendered, error) {
	t.Helper()
	c := loadChart(t, name)
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = "affinity"
	install.Namespace = "affinity"
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatalf("kube version: %v", err)
	}
	install.KubeVersion = kv
	rel, err := install.Run(c, vals)
	if err != nil {
		return rendered{}, err
	}
	var out rendered
	for src, doc := range releaseutil.SplitManifests(rel.Manifest) {
		out.docs = append(out.docs, renderedDoc{source: src, yaml: doc})
	}
	for _, h := range rel.Hooks {
		out.docs = append(out.docs, renderedDoc{source: h.Path, yaml: h.Manifest})
	}
	return out, nil
}

// envValues reads deploy/<env>/values.yaml.
func envValues(t testing.TB, env string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(repoRoot(t), "deploy", env, "values.yaml"))
	if err != nil {
		t.Fatalf("read %s values: %v", env, err)
	}
	return v.AsMap()
}

// environments are the directories of deploy/ that hold values.yaml.
func environments(t testing.TB) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "*", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, m := range matches {
		envs = append(envs, filepath.Base(filepath.Dir(m)))
	}
	if len(envs) < 2 {
		t.Fatalf("expected at least the dev and production environments in deploy/, got %v", envs)
	}
	return envs
}

// serviceValues turns umbrella values into the values of the service chart
// installed alone for one service: its own section plus global.
func serviceValues(umbrella map[string]any, service string) map[string]any {
	out := map[string]any{"nameOverride": service}
	if svc, ok := umbrella[service].(map[string]any); ok {
		maps.Copy(out, deepCopy(svc))
		delete(out, "enabled")
	}
	if g, ok := umbrella["global"].(map[string]any); ok {
		out["global"] = deepCopy(g)
	}
	return out
}

// merged returns base with overlay merged in, key by key through maps.
func merged(base, overlay map[string]any) map[string]any {
	out := deepCopy(base)
	for k, v := range overlay {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merged(bm, vm)
				continue
			}
		}
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}

// path builds a nested map from a dotted key, for overlays: path("a.b", 1)
// is {a: {b: 1}}.
func path(key string, v any) map[string]any {
	parts := strings.Split(key, ".")
	out := map[string]any{parts[len(parts)-1]: v}
	for i := len(parts) - 2; i >= 0; i-- {
		out = map[string]any{parts[i]: out}
	}
	return out
}

var services = []string{"loyalty", "referral", "recommendation", "segmentation"}

// forEachService sets the same overlay on every service of umbrella values.
func forEachService(overlay map[string]any) map[string]any {
	out := map[string]any{}
	for _, s := range services {
		out[s] = deepCopy(overlay)
	}
	return out
}
