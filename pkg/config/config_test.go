package config_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/config"
)

type Inner struct {
	Addr  string `env:"ADDR"`
	Token string `env:"TOKEN" secret:"true"`
}

func (i Inner) Validate() error {
	if i.Addr == "bad" {
		return errors.New("ADDR must not be bad")
	}
	return nil
}

type outer struct {
	Inner
	DatabaseURL string        `env:"DATABASE_URL" envDefault:"postgres://app:hunter2@db:5432/app"`
	Timeout     time.Duration `env:"TIMEOUT" envDefault:"3s"`
	Brokers     []string      `env:"BROKERS" envDefault:"a:9092,b:9092"`
	Level       string        `env:"LEVEL" envDefault:"info"`
	Sub         struct {
		Name string `env:"NAME"`
	} `envPrefix:"SUB_"`
}

func (o *outer) Validate() error {
	if o.Timeout > time.Minute {
		return errors.New("TIMEOUT must be at most 1m")
	}
	return nil
}

func TestLoadFromAppliesDefaultsPrefilledValuesAndOverrides(t *testing.T) {
	t.Parallel()
	cfg := outer{Level: "debug"} // pre-filled: a per-service default
	cfg.Addr = ":50051"
	err := config.LoadFrom(map[string]string{"TIMEOUT": "5s", "SUB_NAME": "x"}, &cfg)
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	if cfg.Timeout != 5*time.Second || cfg.Addr != ":50051" || cfg.Level != "debug" || cfg.Sub.Name != "x" || len(cfg.Brokers) != 2 {
		t.Fatalf("expected timeout 5s, addr :50051, level debug, sub x, 2 brokers; got %+v", cfg)
	}
}

func TestLoadFromRunsNestedAndOuterValidators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"a valid environment passes", map[string]string{"ADDR": "ok"}, ""},
		{"an embedded struct's validator runs", map[string]string{"ADDR": "bad"}, "ADDR must not be bad"},
		{"the outer validator runs", map[string]string{"TIMEOUT": "2m"}, "TIMEOUT must be at most 1m"},
		{"both failures are reported together", map[string]string{"ADDR": "bad", "TIMEOUT": "2m"}, "TIMEOUT must be at most 1m"},
		{"an unparsable value names its variable", map[string]string{"TIMEOUT": "soon"}, "TIMEOUT: unable to parse duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cfg outer
			err := config.LoadFrom(tt.env, &cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("expected no error, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("expected error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestLoadFromRejectsNonPointer(t *testing.T) {
	t.Parallel()
	if err := config.LoadFrom(nil, outer{}); err == nil {
		t.Fatal("expected an error for a non-pointer destination, got nil")
	}
}

func TestAttrsPrintsEveryFieldWithSecretsMasked(t *testing.T) {
	t.Parallel()
	var cfg outer
	if err := config.LoadFrom(map[string]string{"TOKEN": "s3cret", "ADDR": ":1", "SUB_NAME": "n"}, &cfg); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range config.Attrs(&cfg) {
		got[a.Key] = a.Value.String()
	}
	want := map[string]string{
		"ADDR":         ":1",
		"TOKEN":        config.Mask,
		"DATABASE_URL": "postgres://app:" + config.Mask + "@db:5432/app",
		"TIMEOUT":      "3s",
		"BROKERS":      "a:9092,b:9092",
		"LEVEL":        "info",
		"SUB_NAME":     "n",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("expected %s=%q, got %q", k, v, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("expected %d attributes, got %d: %v", len(want), len(got), got)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).LogAttrs(t.Context(), slog.LevelInfo, "cfg", config.Attrs(cfg)...)
	for _, secret := range []string{"s3cret", "hunter2"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("expected %q to be masked in the log line, got %s", secret, b.String())
		}
	}
}

func TestMaskPasswordHidesOnlyThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"a URL with a password", "postgres://u:p%40ss@h:5432/db?sslmode=disable", "postgres://u:" + config.Mask + "@h:5432/db?sslmode=disable"},
		{"a URL without a password", "postgres://u@h/db", "postgres://u@h/db"},
		{"a URL with a password query parameter", "postgres://h/db?password=pw&user=u", "postgres://h/db?password=" + config.Mask + "&user=u"},
		{"a keyword string", "host=h password=pw user=u", "host=h password=" + config.Mask + " user=u"},
		{"a quoted keyword password", "password='p w' host=h", "password=" + config.Mask + " host=h"},
		{"plain text", "hello", "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := config.MaskPassword(tt.in); got != tt.want {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

type serviceConfig struct {
	Inner
	Name string `env:"NAME"`
}

func TestAPromotedValidatorReportsItsErrorOnce(t *testing.T) {
	t.Parallel()
	var cfg serviceConfig
	err := config.LoadFrom(map[string]string{"ADDR": "bad"}, &cfg)
	if err == nil {
		t.Fatal("expected an error for ADDR=bad, got nil")
	}
	if n := strings.Count(err.Error(), "ADDR must not be bad"); n != 1 {
		t.Errorf("expected the error once, got %d times: %v", n, err)
	}
}

func TestASetVariableOverridesAPrefilledValue(t *testing.T) {
	t.Parallel()
	cfg := outer{Level: "debug"}
	cfg.Addr = ":50051"
	if err := config.LoadFrom(map[string]string{"ADDR": ":1", "LEVEL": "warn"}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":1" || cfg.Level != "warn" {
		t.Errorf("expected ADDR :1 and LEVEL warn from the environment, got %q and %q", cfg.Addr, cfg.Level)
	}
}
