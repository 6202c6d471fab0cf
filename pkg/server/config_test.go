package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/server"
)

// loyaltyConfig is how a service embeds server.Config.
type loyaltyConfig struct {
	server.Config
	DatabaseURL string `env:"DATABASE_URL"`
}

func TestAServiceConfigLoadsWithPerServiceAndSharedDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		check   func(loyaltyConfig) bool
		wantErr string
	}{
		{
			name: "unset variables keep the service's ports and the shared defaults",
			env:  map[string]string{"JWT_HS256_SECRET": "s"},
			check: func(c loyaltyConfig) bool {
				return c.GRPCAddr == ":50051" && c.LogLevel == "info" && c.ShutdownTimeout == 20*time.Second && c.Auth.HS256Secret == "s" && c.Auth.JWKSRefresh == 5*time.Minute
			},
		},
		{
			name: "variables override everything",
			env:  map[string]string{"GRPC_ADDR": ":1", "LOG_LEVEL": "debug", "SHUTDOWN_TIMEOUT": "3s", "JWKS_URL": "https://idp/jwks"},
			check: func(c loyaltyConfig) bool {
				return c.GRPCAddr == ":1" && c.LogLevel == "debug" && c.ShutdownTimeout == 3*time.Second && c.Auth.JWKSURL == "https://idp/jwks"
			},
		},
		{name: "an unknown log level is rejected", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "a missing address is rejected", env: map[string]string{"ADMIN_ADDR": ""}, wantErr: "ADMIN_ADDR must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := loyaltyConfig{Config: server.Config{GRPCAddr: ":50051", HTTPAddr: ":8081"}}
			if _, set := tt.env["ADMIN_ADDR"]; !set {
				cfg.AdminAddr = ":9091"
			}
			err := config.LoadFrom(tt.env, &cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("expected the loaded config to match, got %+v", cfg)
			}
		})
	}
}
