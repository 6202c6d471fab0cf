// Package platform is the common main of every service. It reads the shared
// configuration, connects to the service's PostgreSQL database, applies the
// migrations (the platform's outbox, inbox and idempotency tables, then the
// service's own), starts the outbox relay and the service's Kafka consumers,
// and serves gRPC and REST through pkg/server. A service describes only its
// own parts in a Service value, so that each service's cmd stays a few lines
// and every service starts, migrates and shuts down the same way.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/logging"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/pkg/server"
	"github.com/affinity-platform/affinity/pkg/validate"
)

// Config is the configuration every service reads from the environment. A
// service with settings of its own declares them in Service.Config.
type Config struct {
	server.Config
	// DatabaseURL is the service's own PostgreSQL database.
	DatabaseURL string `env:"DATABASE_URL" secret:"true"`
	// Kafka is how the service reaches Kafka: brokers, TLS and SASL.
	Kafka events.KafkaConfig
	// MigrateOnStart applies the migrations before serving; the local stack
	// sets it, Kubernetes runs the migrate subcommand as a hook Job instead.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"false"`
	// OutboxBatchSize is the most events the relay publishes in one write.
	OutboxBatchSize int `env:"OUTBOX_BATCH_SIZE" envDefault:"200"`
	// InboxRetention is how long processed event ids are kept to absorb
	// redelivery; it must exceed any redelivery Kafka can make (days).
	InboxRetention time.Duration `env:"INBOX_RETENTION" envDefault:"168h"`
	// IdempotencyRetention is how long a client may retry a call with the
	// same idempotency key and get the first answer.
	IdempotencyRetention time.Duration `env:"IDEMPOTENCY_RETENTION" envDefault:"168h"`
}

// Validate reports settings no service can start with.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL must be set"))
	}
	if c.OutboxBatchSize < 1 || c.OutboxBatchSize > 10000 {
		errs = append(errs, fmt.Errorf("OUTBOX_BATCH_SIZE must be within 1..10000, got %d", c.OutboxBatchSize))
	}
	if c.InboxRetention < time.Hour {
		errs = append(errs, fmt.Errorf("INBOX_RETENTION must be at least 1h, got %s", c.InboxRetention))
	}
	if c.IdempotencyRetention < time.Minute {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_RETENTION must be at least 1m, got %s", c.IdempotencyRetention))
	}
	return errors.Join(errs...)
}

// Ports are a service's default listen ports; the environment may move them.
type Ports struct {
	GRPC, HTTP, Admin int
}

// Service is what a service tells the platform about itself.
type Service struct {
	// Name is the service's name in logs, telemetry and consumer groups.
	Name string
	// Version is reported in logs and telemetry.
	Version string
	// Ports are the defaults for GRPC_ADDR, HTTP_ADDR and ADMIN_ADDR.
	Ports Ports
	// Migrations are the service's own, applied after the platform's.
	Migrations []postgres.MigrationSet
	// Policy says who may call each RPC (pkg/auth).
	Policy auth.Policy
	// OpenAPI is served at /openapi.json.
	OpenAPI []byte
	// Config, when set, is a pointer to the service's own settings struct;
	// it is read from the environment too and logged with the rest.
	Config any
	// Build wires the service's handlers once the database is up.
	Build func(ctx context.Context, d Deps) (Parts, error)
	// OnListen, when set, is told the bound addresses, so tests can listen
	// on port 0.
	OnListen func(server.Addrs)
}

// Deps are the platform parts a service builds on.
type Deps struct {
	Config Config
	Pool   *pgxpool.Pool
	Logger *slog.Logger
}

// Consumer is one consumer group of the service: its topics and handler.
// Brokers, Security, Logger and the group id (defaulting to the service name) are
// filled in by the platform.
type Consumer struct {
	Options consumer.Options
	Handler consumer.Handler
}

// Parts are the service's handlers and background work.
type Parts struct {
	// Register adds the gRPC implementations.
	Register func(*grpc.Server)
	// Gateway registers the REST mapping (the generated Register...HandlerClient).
	Gateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// Validators check requests before the handlers see them.
	Validators *validate.Registry
	// Consumers are run as consumer groups with the platform's inbox.
	Consumers []Consumer
	// Workers are further background loops (schedulers, expiry jobs).
	Workers []func(context.Context) error
}

// Migrations returns every migration set of s in the order they apply.
func (s Service) migrations() []postgres.MigrationSet {
	sets := []postgres.MigrationSet{outbox.Migrations, consumer.Migrations, idempotency.Migrations}
	return append(sets, s.Migrations...)
}

// Run is a service's whole main: args are the command-line arguments after
// the program name. With no argument or "serve" it serves until ctx ends;
// "migrate" applies the migrations and returns.
func Run(ctx context.Context, args []string, s Service) error {
	return RunEnv(ctx, args, environ(os.Environ()), s)
}

// RunEnv is Run with an explicit environment instead of the process's, so
// tests can run services side by side.
func RunEnv(ctx context.Context, args []string, env map[string]string, s Service) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	// The service's own ports are the defaults of the listen addresses.
	env = maps.Clone(env)
	for k, port := range map[string]int{"GRPC_ADDR": s.Ports.GRPC, "HTTP_ADDR": s.Ports.HTTP, "ADMIN_ADDR": s.Ports.Admin} {
		if env[k] == "" {
			env[k] = fmt.Sprintf(":%d", port)
		}
	}
	var cfg Config
	switch cmd {
	case "serve", "migrate":
	case "help", "-h", "--help":
		fmt.Fprintf(os.Stdout, "usage: %s [serve|migrate]\n\n  serve    serve gRPC, REST and admin endpoints (default)\n  migrate  apply the database migrations and exit\n\nSettings come from the environment; see docs/operations.md.\n", s.Name)
		return nil
	default:
		return fmt.Errorf("unknown command %q: want serve or migrate", cmd)
	}
	if err := config.LoadFrom(env, &cfg); err != nil {
		return err
	}
	if s.Config != nil {
		if err := config.LoadFrom(env, s.Config); err != nil {
			return err
		}
	}
	log := logging.New(os.Stdout, cfg.LogLevel)
	if cmd == "migrate" {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL, s.migrations()...); err != nil {
			return err
		}
		log.Info("migrations applied", "service", s.Name)
		return nil
	}
	return serve(ctx, cfg, s, log)
}

func serve(ctx context.Context, cfg Config, s Service, log *slog.Logger) error {
	if cfg.MigrateOnStart {
		if err := postgres.Migrate(ctx, cfg.DatabaseURL, s.migrations()...); err != nil {
			return err
		}
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	parts := Parts{}
	if s.Build != nil {
		if parts, err = s.Build(ctx, Deps{Config: cfg, Pool: pool, Logger: log}); err != nil {
			return fmt.Errorf("build %s: %w", s.Name, err)
		}
	}

	sec, err := cfg.Kafka.Security()
	if err != nil {
		return err
	}
	writer := sec.Writer(cfg.Kafka.Brokers)
	defer func() {
		if err := writer.Close(); err != nil {
			log.Warn("close kafka writer", "err", err)
		}
	}()
	relay := outbox.NewRelay(pool, writer, outbox.RelayOptions{BatchSize: cfg.OutboxBatchSize, Logger: log})
	workers := []func(context.Context) error{relay.Run}
	for _, c := range parts.Consumers {
		workers = append(workers, consumerWorker(c, cfg.Kafka.Brokers, sec, s.Name, pool, log))
	}
	workers = append(workers, parts.Workers...)
	workers = append(workers, janitor{
		pool: pool, inboxAge: cfg.InboxRetention, idempotencyAge: cfg.IdempotencyRetention,
		interval: time.Hour, log: log,
	}.run)

	var shown any = cfg
	if s.Config != nil {
		shown = struct {
			Platform Config
			Service  any
		}{cfg, s.Config}
	}
	return server.Run(ctx, server.Options{
		Name:       s.Name,
		Version:    s.Version,
		Config:     cfg.Config,
		LogConfig:  shown,
		Logger:     log,
		Register:   parts.Register,
		Gateway:    parts.Gateway,
		OpenAPI:    s.OpenAPI,
		Policy:     s.Policy,
		Validators: parts.Validators,
		Ready:      func(ctx context.Context) error { return pool.Ping(ctx) },
		Workers:    workers,
		OnListen:   s.OnListen,
	})
}

func environ(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			m[k] = v
		}
	}
	return m
}

func consumerWorker(c Consumer, brokers []string, sec events.Security, service string, pool *pgxpool.Pool, log *slog.Logger) func(context.Context) error {
	o := c.Options
	o.Brokers = brokers
	o.Security = sec
	if o.GroupID == "" {
		o.GroupID = service
	}
	if o.Logger == nil {
		o.Logger = log
	}
	r := consumer.New(pool, o, c.Handler)
	return r.Run
}
