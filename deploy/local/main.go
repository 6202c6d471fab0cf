// Command local runs the whole platform on one machine without Docker: a
// PostgreSQL cluster under .data/ (or an existing server), the in-process
// Kafka-protocol broker, the four services as child processes with their own
// databases, and one HTTP entry that routes REST paths to the services the way
// the Kubernetes ingress does. `make run` starts it; Ctrl-C stops it cleanly,
// and the next start reuses the data.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local stack:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	st, err := start(ctx, cfg, os.Stdout)
	if err != nil {
		return err
	}
	st.printWelcome(os.Stdout)
	err = st.wait(ctx)
	st.shutdown()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
