// Command referral runs the referral service: campaigns, codes and links, attribution, fraud rules and two-sided rewards.
//
//	referral [serve]   serve gRPC, REST and the admin endpoints
//	referral migrate   apply the database migrations and exit
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/services/referral/internal/ports"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "referral:", err)
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
