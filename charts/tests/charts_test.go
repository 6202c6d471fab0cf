package chartcheck_test

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestEveryChartLintsStrictlyWithEveryEnvironmentsValues(t *testing.T) {
	t.Parallel()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range environments(t) {
		umbrella := envValues(t, env)
		cases := []struct {
			chart string
			vals  map[string]any
		}{{"affinity", umbrella}}
		for _, s := range services {
			cases = append(cases, struct {
				chart string
				vals  map[string]any
			}{"affinity-service", serviceValues(umbrella, s)})
		}
		for i, c := range cases {
			t.Run(fmt.Sprintf("%s/%s#%d", env, c.chart, i), func(t *testing.T) {
				t.Parallel()
				lint := action.NewLint()
				lint.Strict = true
				lint.WithSubcharts = true
				lint.Namespace = "affinity"
				lint.KubeVersion = kv
				res := lint.Run([]string{chartsDir(t) + "/" + c.chart}, c.vals)
				if len(res.Errors) > 0 {
					t.Errorf("expected helm lint --strict to pass, got:\n%v", res.Errors)
				}
			})
		}
	}
}

// The charts' switches: features turned on and off from values. Umbrella
// switches are read only by the umbrella's own templates; service switches
// only by the service chart's templates, each service from its own values.
// So every combination of service switches is rendered once, each on one of
// the four services of a render (four combinations per render), and every
// combination of umbrella switches is rendered alongside them. Crossing the
// two sets would add renders but no template input that these miss.
var umbrellaSwitches = []struct {
	name string
	on   map[string]any
	kind string // what the switch renders
	n    int    // and how many
}{
	{"ingress", path("ingress.enabled", true), "Ingress", 1},
	{"httpRoute", merged(path("httpRoute.enabled", true), path("httpRoute.parentRefs", []any{map[string]any{"name": "public", "namespace": "gateway"}})), "HTTPRoute", 1},
	{"kafkaTopics", path("kafkaTopics.enabled", true), "KafkaTopic", 12},
	// The console's own objects, counted by their name label.
	{"console", path("console.enabled", true), "console/Deployment", 1},
}

var serviceSwitches = []struct {
	name string
	on   map[string]any // service values
	kind string         // what the switch renders for the service, if an object
}{
	{"cnpg", path("database.cnpg.enabled", true), "Cluster"},
	{"autoscaling", path("autoscaling.enabled", true), "HorizontalPodAutoscaler"},
	{"networkPolicy", merged(path("networkPolicy.enabled", true), path("networkPolicy.egress.enabled", true)), "NetworkPolicy"},
	{"serviceMonitor", path("serviceMonitor.enabled", true), "ServiceMonitor"},
	{"kafkaTLSAndSASL", path("kafka", map[string]any{
		"tls":  map[string]any{"enabled": true, "caSecret": map[string]any{"name": "kafka-ca", "key": "ca.crt"}, "clientSecret": map[string]any{"name": "kafka-client", "certKey": "user.crt", "keyKey": "user.key"}},
		"sasl": map[string]any{"enabled": true, "mechanism": "SCRAM-SHA-512", "username": "affinity", "passwordSecret": map[string]any{"name": "kafka-user", "key": "password"}},
	}), ""},
	{"jwks", path("auth", map[string]any{"jwksURL": "https://auth.example.com/jwks.json", "jwksConfigMap": map[string]any{"name": "affinity-jwks", "key": "jwks.json"}}), ""},
	{"hooksOff", merged(path("migrations.enabled", false), path("tests.enabled", false)), ""},
}

func TestEveryCombinationOfSwitchesRendersValidObjectsThatFollowThePolicies(t *testing.T) {
	t.Parallel()
	// The dev environment with every switch off; each render turns some on.
	dev := merged(envValues(t, "dev"), map[string]any{
		"ingress":     map[string]any{"enabled": false},
		"httpRoute":   map[string]any{"enabled": false},
		"kafkaTopics": map[string]any{"enabled": false},
		"console":     map[string]any{"enabled": false},
	})
	dev = merged(dev, forEachService(map[string]any{
		"database":       map[string]any{"cnpg": map[string]any{"enabled": false}},
		"autoscaling":    map[string]any{"enabled": false},
		"networkPolicy":  map[string]any{"enabled": false},
		"serviceMonitor": map[string]any{"enabled": false},
		"migrations":     map[string]any{"enabled": true},
		"tests":          map[string]any{"enabled": true},
	}))
	combos := 1 << len(serviceSwitches)
	renders := combos / len(services)
	for r := range renders {
		vals := dev
		umbrellaMask := r % (1 << len(umbrellaSwitches))
		var names []string
		for i, s := range umbrellaSwitches {
			if umbrellaMask&(1<<i) != 0 {
				vals = merged(vals, s.on)
				names = append(names, s.name)
			}
		}
		masks := map[string]int{}
		for i, svc := range services {
			mask := r*len(services) + i
			masks[svc] = mask
			var on []string
			for j, s := range serviceSwitches {
				if mask&(1<<j) != 0 {
					vals = merged(vals, path(svc, s.on))
					on = append(on, s.name)
				}
			}
			names = append(names, svc+"="+strings.Join(append(on, "")[:max(len(on), 1)], "+"))
		}
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			t.Parallel()
			rd, err := render(t, "affinity", vals)
			if err != nil {
				t.Fatalf("expected helm template to succeed, got: %v", err)
			}
			objs := decodeAll(t, rd)
			for _, v := range policyViolations(objs) {
				t.Error(v)
			}
			checkSwitchesShow(t, objs, umbrellaMask, masks)
		})
	}
}

// checkSwitchesShow confirms each switch that is on rendered what it stands
// for, and each one that is off did not.
func checkSwitchesShow(t *testing.T, objs []object, umbrellaMask int, serviceMasks map[string]int) {
	t.Helper()
	count := map[string]int{}           // kind -> objects
	perService := map[string]int{}      // service/kind -> objects
	env := map[string]map[string]bool{} // service -> env var names of its Deployment
	for _, o := range objs {
		count[kindOf(o)]++
		svc := o.meta.Labels["app.kubernetes.io/name"]
		perService[svc+"/"+kindOf(o)]++
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			env[svc] = map[string]bool{}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				env[svc][e.Name] = true
			}
		}
	}
	for i, s := range umbrellaSwitches {
		on := umbrellaMask&(1<<i) != 0
		want := 0
		if on {
			want = s.n
		}
		got := count[s.kind]
		if strings.Contains(s.kind, "/") {
			got = perService[s.kind]
		}
		if got != want {
			t.Errorf("with %s %s expected %d %s objects, got %d", s.name, onOff(on), want, s.kind, got)
		}
	}
	for svc, mask := range serviceMasks {
		for j, s := range serviceSwitches {
			on := mask&(1<<j) != 0
			var checks []struct {
				what      string
				want, got int
			}
			add := func(what string, want, got int) {
				checks = append(checks, struct {
					what      string
					want, got int
				}{what, want, got})
			}
			b := map[bool]int{true: 1, false: 0}
			switch s.name {
			case "kafkaTLSAndSASL":
				add("KAFKA_TLS_CA_FILE and KAFKA_SASL_PASSWORD env", b[on], b[env[svc]["KAFKA_TLS_CA_FILE"] && env[svc]["KAFKA_SASL_PASSWORD"]])
			case "jwks":
				add("JWKS_URL and JWKS_FILE env", b[on], b[env[svc]["JWKS_URL"] && env[svc]["JWKS_FILE"]])
			case "hooksOff":
				add("migration Job", b[!on], perService[svc+"/Job"])
				add("helm test Pod", b[!on], perService[svc+"/Pod"])
			default:
				add(s.kind, b[on], perService[svc+"/"+s.kind])
			}
			for _, c := range checks {
				if c.want != c.got {
					t.Errorf("%s with %s %s: expected %d %s, got %d", svc, s.name, onOff(on), c.want, c.what, c.got)
				}
			}
		}
		if perService[svc+"/Deployment"] != 1 || perService[svc+"/Service"] != 1 {
			t.Errorf("%s: expected 1 Deployment and 1 Service, got %d and %d", svc, perService[svc+"/Deployment"], perService[svc+"/Service"])
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func TestEveryEnvironmentRendersValidObjectsThatFollowThePolicies(t *testing.T) {
	t.Parallel()
	for _, env := range environments(t) {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			r, err := render(t, "affinity", envValues(t, env))
			if err != nil {
				t.Fatalf("expected helm template to succeed, got: %v", err)
			}
			for _, v := range policyViolations(decodeAll(t, r)) {
				t.Error(v)
			}
		})
	}
}

func TestTheProductionEnvironmentIsHighlyAvailable(t *testing.T) {
	t.Parallel()
	r, err := render(t, "affinity", envValues(t, "production"))
	if err != nil {
		t.Fatalf("expected helm template to succeed, got: %v", err)
	}
	count := map[string]int{}
	for _, o := range decodeAll(t, r) {
		count[kindOf(o)]++
	}
	for kind, want := range map[string]int{"PodDisruptionBudget": 4, "HorizontalPodAutoscaler": 4, "NetworkPolicy": 4, "ServiceMonitor": 4, "Cluster": 4} {
		if count[kind] != want {
			t.Errorf("expected %d %s objects in production, got %d", want, kind, count[kind])
		}
	}
	prod := envValues(t, "production")
	for _, s := range services {
		sv := prod[s].(map[string]any)
		as := sv["autoscaling"].(map[string]any)
		if min, _ := as["minReplicas"].(float64); min < 3 {
			t.Errorf("%s: expected at least 3 replicas in production, got minReplicas %v", s, as["minReplicas"])
		}
		if sv["podAntiAffinity"] == "" && sv["affinity"] == nil {
			t.Errorf("%s: expected pod anti-affinity in production", s)
		}
	}
}

// The REST paths of the public surface (docs/api.md) and the service that
// must answer each: the same table the local entry on :8080 serves.
var routeCases = []struct {
	path, service string
}{
	{"/v1/loyalty/members/c1", "loyalty"},
	{"/v1/loyalty/holds/h1:capture", "loyalty"},
	{"/v1/loyalty/rewards", "loyalty"},
	{"/v1/referral/campaigns", "referral"},
	{"/v1/referral/codes/ABC/clicks", "referral"},
	{"/v1/recommendations", "recommendation"},
	{"/v1/recommendations/feedback", "recommendation"},
	{"/v1/catalog/products:batchUpsert", "recommendation"},
	{"/v1/segments", "segmentation"},
	{"/v1/segments:preview", "segmentation"},
	{"/v1/segments/s1/members", "segmentation"},
	{"/v1/customers/c1/profile", "segmentation"},
	{"/v1/customers:identify", "segmentation"},
	{"/v1/events:track", "segmentation"},
	{"/v1/experiments/e1/results", "recommendation"},
	{"/v1/segment-templates", "segmentation"},
	{"/v1/segment-templates/win-back:instantiate", "segmentation"},
	{"/v1/rfm/grid", "segmentation"},
	{"/v1/rfm:recompute", "segmentation"},
	{"/v1/population/stats", "segmentation"},
	{"/console", "console"},
	{"/console/", "console"},
	{"/console/api/v1/loyalty/program", "console"},
	{"/consolex", ""},
	{"/v1/unknown", ""},
	{"/v1/loyaltyx", ""},
}

func TestTheIngressRoutesEveryPublicPathToItsService(t *testing.T) {
	t.Parallel()
	r, err := render(t, "affinity", merged(envValues(t, "dev"), path("ingress.enabled", true)))
	if err != nil {
		t.Fatalf("expected helm template to succeed, got: %v", err)
	}
	var ing *networkingv1.Ingress
	for _, o := range decodeAll(t, r) {
		if x, ok := o.obj.(*networkingv1.Ingress); ok {
			ing = x
		}
	}
	if ing == nil {
		t.Fatal("expected an Ingress with ingress.enabled, got none")
	}
	for _, c := range routeCases {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			got := ingressBackend(ing, c.path)
			want := ""
			if c.service != "" {
				want = "affinity-" + c.service
			}
			if got != want {
				t.Errorf("expected %s to reach Service %q, got %q", c.path, want, got)
			}
		})
	}
}

// ingressBackend picks the backend Service for a request path the way the
// Ingress API specifies: Exact before Prefix, the longest Prefix wins, and
// a Prefix matches whole path elements only.
func ingressBackend(ing *networkingv1.Ingress, reqPath string) string {
	best, bestLen, bestExact := "", -1, false
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			switch *p.PathType {
			case networkingv1.PathTypeExact:
				if p.Path == reqPath && !bestExact {
					best, bestLen, bestExact = p.Backend.Service.Name, len(p.Path), true
				}
			case networkingv1.PathTypePrefix:
				prefix := strings.TrimSuffix(p.Path, "/")
				matches := reqPath == prefix || strings.HasPrefix(reqPath, prefix+"/") || prefix == ""
				if matches && !bestExact && len(prefix) > bestLen {
					best, bestLen = p.Backend.Service.Name, len(prefix)
				}
			}
		}
	}
	return best
}

// The checks above must be able to fail: values that the schemas allow but
// that break a rule are caught by the policy checks or the strict decoding.
func TestThePolicyChecksCatchValuesThatBreakTheRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"a writable root filesystem", path("loyalty.securityContext.readOnlyRootFilesystem", false), "readOnlyRootFilesystem must be true"},
		{"privilege escalation", path("loyalty.securityContext.allowPrivilegeEscalation", true), "allowPrivilegeEscalation must be false"},
		{"kept capabilities", path("loyalty.securityContext.capabilities", map[string]any{"drop": []any{"NET_RAW"}}), "capabilities must drop ALL"},
		{"a root user", path("loyalty.podSecurityContext", map[string]any{"runAsNonRoot": false, "runAsUser": 0}), "runAsNonRoot must be true"},
		{"no seccomp profile", merged(path("loyalty.podSecurityContext.seccompProfile", nil), path("loyalty.securityContext.seccompProfile", nil)), "seccompProfile RuntimeDefault is required"},
		{"three replicas without a PDB", merged(path("loyalty.replicaCount", 3), path("loyalty.podDisruptionBudget.enabled", false)), "no PodDisruptionBudget selects its pods"},
		{"autoscaling without a PDB", merged(path("loyalty.autoscaling.enabled", true), path("loyalty.podDisruptionBudget.enabled", false)), "no PodDisruptionBudget selects its pods"},
		{"a mounted service account token", path("loyalty.serviceAccount.automountToken", true), "automountServiceAccountToken must be false"},
		{"a misspelt field in an extra env var", path("loyalty.env", []any{map[string]any{"name": "FOO", "valu": "bar"}}), `unknown field "valu"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, err := render(t, "affinity", merged(envValues(t, "dev"), c.values))
			if err != nil {
				t.Fatalf("expected the render to succeed and the checks to object, got a render error: %v", err)
			}
			var found []string
			var objs []object
			for _, d := range r.docs {
				if strings.TrimSpace(stripComments(d.yaml)) == "" {
					continue
				}
				o, err := decode(d)
				if err != nil {
					found = append(found, err.Error())
					continue
				}
				objs = append(objs, o)
			}
			found = append(found, policyViolations(objs)...)
			for _, f := range found {
				if strings.Contains(f, c.want) {
					return
				}
			}
			t.Errorf("expected a finding containing %q, got %d findings: %v", c.want, len(found), found)
		})
	}
}

func TestImageReferencesMustBePinned(t *testing.T) {
	t.Parallel()
	cases := []struct {
		image string
		ok    bool
	}{
		{"ghcr.io/affinity-platform/loyalty:0.1.0", true},
		{"ghcr.io/affinity-platform/loyalty@sha256:" + strings.Repeat("a", 64), true},
		{"localhost:5000/loyalty:1.2.3", true},
		{"ghcr.io/affinity-platform/loyalty:latest", false},
		{"ghcr.io/affinity-platform/loyalty", false},
		{"localhost:5000/loyalty", false},
		{"ghcr.io/affinity-platform/loyalty@sha256:abc", false},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			t.Parallel()
			msg := imageViolation(c.image)
			if (msg == "") != c.ok {
				t.Errorf("expected %s to be accepted=%v, got message %q", c.image, c.ok, msg)
			}
		})
	}
}
