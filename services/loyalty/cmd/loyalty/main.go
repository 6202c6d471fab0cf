// Command loyalty runs the loyalty service: points ledger, earning rules, tiers, expiry, rewards, redemption and checkout holds.
//
//	loyalty [serve]   serve gRPC, REST and the admin endpoints
//	loyalty migrate   apply the database migrations and exit
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loyalty:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	svc, err := ports.Service()
	if err != nil {
		return err
	}
	return platform.Run(ctx, args, svc)
}
