// Command console serves the marketer console and the storefront demo page
// under /console/, passing their REST calls to the platform's public entry
// with the signed-in user's bearer token.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/logging"
	"github.com/affinity-platform/affinity/services/console/internal/bff"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var cfg bff.Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log := logging.New(os.Stdout, cfg.LogLevel)
	attrs := append([]slog.Attr{slog.String("version", version)}, config.Attrs(cfg)...)
	log.LogAttrs(ctx, slog.LevelInfo, "starting console", attrs...)
	return bff.Run(ctx, cfg, version, log, nil)
}
