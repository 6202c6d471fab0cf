package chartcheck_test

import (
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// consoleEnv renders the umbrella chart and returns the console container's
// environment, or nil when no console Deployment is rendered.
func consoleEnv(t *testing.T, vals map[string]any) map[string]string {
	t.Helper()
	r, err := render(t, "affinity", vals)
	if err != nil {
		t.Fatalf("expected helm template to succeed, got: %v", err)
	}
	for _, o := range decodeAll(t, r) {
		if d, ok := o.obj.(*appsv1.Deployment); ok && d.Name == "affinity-console" {
			env := map[string]string{}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			return env
		}
	}
	return nil
}

// consoleBackend picks the service a REST path goes to the way the console
// does with API_ROUTES (services/console/internal/bff/routes.go): the longest
// prefix that ends at a path element, "/" or the ":" of a custom method.
func consoleBackend(routes, reqPath string) string {
	type rt struct{ prefix, url string }
	var rs []rt
	for _, part := range strings.Split(routes, ",") {
		p, u, _ := strings.Cut(part, "=")
		rs = append(rs, rt{p, u})
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	for _, r := range rs {
		if reqPath == r.prefix || strings.HasPrefix(reqPath, r.prefix+"/") || strings.HasPrefix(reqPath, r.prefix+":") {
			host := strings.TrimPrefix(r.url, "http://")
			host, _, _ = strings.Cut(host, ":")
			return host
		}
	}
	return ""
}

func TestTheConsoleCallsEveryPublicPathOnTheServiceTheIngressRoutesItTo(t *testing.T) {
	t.Parallel()
	env := consoleEnv(t, envValues(t, "dev"))
	if env == nil {
		t.Fatal("expected the console Deployment in the dev environment, got none")
	}
	if env["API_ROUTES"] == "" || env["API_BASE_URL"] != "" {
		t.Fatalf("expected API_ROUTES and no API_BASE_URL without console.apiBaseURL, got %v", env)
	}
	for _, c := range routeCases {
		if !strings.HasPrefix(c.path, "/v1/") {
			continue
		}
		want := ""
		if c.service != "" {
			want = "affinity-" + c.service
		}
		// An unknown path is not routed by the Ingress; the console sends
		// it to its fallback entry, never to a service by accident.
		if got := consoleBackend(env["API_ROUTES"], c.path); got != want {
			t.Errorf("expected the console to send %s to %q, got %q", c.path, want, got)
		}
	}
}

func TestTheConsoleSettingsReachItsEnvironment(t *testing.T) {
	t.Parallel()
	dev := envValues(t, "dev")
	cases := []struct {
		name string
		vals map[string]any
		want map[string]string // "" means must be absent
	}{
		{"an entry URL replaces the routes", path("console.apiBaseURL", "https://api.example.com"), map[string]string{"API_BASE_URL": "https://api.example.com", "API_ROUTES": ""}},
		{"OIDC sign-in", path("console.oidc", map[string]any{"issuer": "https://login.example.com/realms/affinity", "clientID": "affinity-console", "audience": "affinity"}),
			map[string]string{"OIDC_ISSUER": "https://login.example.com/realms/affinity", "OIDC_CLIENT_ID": "affinity-console", "OIDC_AUDIENCE": "affinity", "OIDC_SCOPES": "openid profile"}},
		{"no OIDC by default", map[string]any{}, map[string]string{"OIDC_ISSUER": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := consoleEnv(t, merged(dev, c.vals))
			for k, v := range c.want {
				got, ok := env[k]
				if v == "" && ok {
					t.Errorf("expected no %s, got %q", k, got)
				}
				if v != "" && got != v {
					t.Errorf("expected %s=%q, got %q", k, v, got)
				}
			}
		})
	}
	if env := consoleEnv(t, merged(dev, path("console.enabled", false))); env != nil {
		t.Errorf("expected no console with console.enabled=false, got one with %v", env)
	}
	if _, err := render(t, "affinity", merged(dev, path("console.oidc.issuer", "https://login.example.com"))); err == nil || !strings.Contains(err.Error(), "console.oidc.clientID is required") {
		t.Errorf("expected an OIDC issuer without a client id to fail the render with a message, got %v", err)
	}
}

func TestTheServicesNetworkPoliciesAdmitTheConsoleOnTheirRESTPort(t *testing.T) {
	t.Parallel()
	r, err := render(t, "affinity", envValues(t, "production"))
	if err != nil {
		t.Fatalf("expected helm template to succeed, got: %v", err)
	}
	policies := 0
	for _, o := range decodeAll(t, r) {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		policies++
		admitted := false
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.String() != "http" {
				continue
			}
			for _, peer := range rule.From {
				if peer.PodSelector != nil && peer.PodSelector.MatchLabels["app.kubernetes.io/name"] == "console" && peer.PodSelector.MatchLabels["app.kubernetes.io/instance"] == "affinity" {
					admitted = true
				}
			}
		}
		if !admitted {
			t.Errorf("NetworkPolicy %s: expected the console pods to be admitted on port http, they are not", np.Name)
		}
	}
	if policies != 4 {
		t.Errorf("expected 4 NetworkPolicies in production, got %d", policies)
	}
}
