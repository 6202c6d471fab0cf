package chartcheck_test

import (
	"strings"
	"testing"
)

// A typo or a wrong type in values must stop `helm install` with a message
// that names the key, instead of rendering something else than was meant.
func TestTheSchemasRejectBadValuesWithAClearMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		chart  string
		values map[string]any
		// every fragment must appear in the error
		want []string
	}{
		{
			name:   "a string for a service's replicaCount",
			chart:  "affinity",
			values: path("loyalty.replicaCount", "three"),
			want:   []string{"loyalty", "replicaCount", "string", "integer"},
		},
		{
			name:   "an unknown key in a service's values",
			chart:  "affinity",
			values: path("referral.replicas", 3),
			want:   []string{"referral", "replicas", "not allowed"},
		},
		{
			name:   "an unknown top-level key of the umbrella chart",
			chart:  "affinity",
			values: path("ingres", map[string]any{"enabled": true}),
			want:   []string{"ingres", "not allowed"},
		},
		{
			name:   "a misspelt global Kafka key",
			chart:  "affinity",
			values: path("global.kafka.broker", []any{"kafka:9092"}),
			want:   []string{"broker", "not allowed"},
		},
		{
			name:   "a broker without a port",
			chart:  "affinity",
			values: path("global.kafka.brokers", []any{"kafka"}),
			want:   []string{"brokers", "kafka"},
		},
		{
			name:   "a string for replicaCount of the service chart alone",
			chart:  "affinity-service",
			values: path("replicaCount", "3"),
			want:   []string{"replicaCount", "string", "integer"},
		},
		{
			name:   "an unknown probe type",
			chart:  "affinity-service",
			values: path("probes.readiness.type", "tcp"),
			want:   []string{"readiness", "type"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := envValues(t, "dev")
			if c.chart == "affinity-service" {
				base = serviceValues(base, "loyalty")
			}
			_, err := render(t, c.chart, merged(base, c.values))
			if err == nil {
				t.Fatalf("expected the schema to reject %v, got a successful render", c.values)
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") {
				t.Errorf("expected a schema validation error, got: %v", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("expected the error to mention %q, got: %v", w, msg)
				}
			}
		})
	}
}

// The good values of every environment pass the same schemas, so the cases
// above fail for the bad value alone.
func TestTheSchemasAcceptEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range environments(t) {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			if _, err := render(t, "affinity", envValues(t, env)); err != nil {
				t.Errorf("expected the %s values to render, got: %v", env, err)
			}
			for _, s := range services {
				if _, err := render(t, "affinity-service", serviceValues(envValues(t, env), s)); err != nil {
					t.Errorf("expected the %s values of %s alone to render, got: %v", env, s, err)
				}
			}
		})
	}
}

// Template-level guards: settings that the schema cannot relate to each
// other fail the render with a message saying what to set.
func TestMissingRequiredSettingsFailTheRenderWithAMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"no Kafka brokers", path("global.kafka.brokers", []any{}), "global.kafka.brokers"},
		{"no JWT verification key", path("global.auth.hs256Secret.name", ""), "JWT verification is required"},
		{"SASL without a password secret", path("global.kafka.sasl", map[string]any{"enabled": true, "username": "u"}), "kafka.sasl.enabled needs"},
		{"an HTTPRoute without a Gateway", path("httpRoute.enabled", true), "httpRoute.parentRefs is required"},
		{"the latest image tag", path("global.image.tag", "latest"), `image tag "latest" is not allowed`},
		{"the latest test image tag", path("loyalty.tests.image.tag", "latest"), `tests.image.tag "latest" is not allowed`},
		{"a memory limit in an unknown unit", path("loyalty.resources.limits.memory", "1.5Gi"), "resources.limits.memory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, "affinity", merged(envValues(t, "dev"), c.values))
			if err == nil {
				t.Fatalf("expected the render to fail with %q, got success", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("expected the error to mention %q, got: %v", c.want, err)
			}
		})
	}
}
