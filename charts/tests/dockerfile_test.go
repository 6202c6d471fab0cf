package chartcheck_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Dockerfiles cannot be built here (no Docker daemon), so their promises
// are checked as text: a static build, a distroless nonroot base, a numeric
// non-root user, the service's own binary as entrypoint, no latest tags.
func TestEveryDockerfileBuildsAStaticNonRootImageOfItsService(t *testing.T) {
	t.Parallel()
	for _, svc := range append(slices.Clone(services), "console") {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(repoRoot(t), "services", svc, "Dockerfile"))
			if err != nil {
				t.Fatalf("expected services/%s/Dockerfile, got: %v", svc, err)
			}
			text := string(data)
			froms := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(text, -1)
			if len(froms) < 2 {
				t.Fatalf("expected a multi-stage build, got %d FROM lines", len(froms))
			}
			final := froms[len(froms)-1][1]
			if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
				t.Errorf("expected the final stage on distroless static nonroot, got %s", final)
			}
			for _, f := range froms {
				if strings.HasSuffix(f[1], ":latest") || !strings.Contains(f[1], ":") {
					t.Errorf("expected pinned base images, got %s", f[1])
				}
			}
			for _, want := range []string{
				"CGO_ENABLED=0",
				"-trimpath",
				"./services/" + svc + "/cmd/" + svc,
				`ENTRYPOINT ["/usr/local/bin/` + svc + `"]`,
			} {
				if !strings.Contains(text, want) {
					t.Errorf("expected the Dockerfile to contain %q", want)
				}
			}
			users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
			if len(users) == 0 {
				t.Fatal("expected a USER instruction")
			}
			last := users[len(users)-1][1]
			if uid, _, _ := strings.Cut(last, ":"); uid == "0" || uid == "root" || !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) {
				t.Errorf("expected a numeric non-root USER, got %s", last)
			}
		})
	}
}
