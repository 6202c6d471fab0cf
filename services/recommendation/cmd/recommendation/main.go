// Command recommendation runs the recommendation service: cross-sell, upsell, personalized and trending recommendations with business rules.
//
//	recommendation [serve]     serve gRPC, REST and the admin endpoints
//	recommendation migrate     apply the database migrations and exit
//	recommendation evaluate    offline evaluation on a purchase dataset (see -h)
//	recommendation export      recommendations for every member of a segment, as JSON lines (e-mail campaigns)
//	recommendation results     CTR and conversion per variant of an experiment
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/services/recommendation/internal/ports"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "recommendation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "evaluate":
			return evaluate(args[1:], os.Stdout)
		case "export":
			return export(ctx, args[1:], environ(), os.Stdout)
		case "results":
			return results(ctx, args[1:], environ(), os.Stdout)
		}
	}
	svc, err := ports.Service()
	if err != nil {
		return err
	}
	return platform.Run(ctx, args, svc)
}

// environ is the process environment as a map, for pkg/config.
func environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
