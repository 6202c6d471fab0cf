// Command segmentation runs the segmentation service: customer profiles, RFM, lifetime value, churn risk and real-time segments.
//
//	segmentation [serve]   serve gRPC, REST and the admin endpoints
//	segmentation migrate   apply the database migrations and exit
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/services/segmentation/internal/ports"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "segmentation:", err)
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
