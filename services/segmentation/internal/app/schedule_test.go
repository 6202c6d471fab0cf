package app_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
)

// replicas are two App instances, each with its own pool, on one database,
// as two pods of the service are.
func replicas(t *testing.T) (*app.App, *app.App, func(string, ...any)) {
	t.Helper()
	url := pgtest.NewDBURL(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
	var apps []*app.App
	var first func(string, ...any)
	for range 2 {
		pool, err := postgres.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		a, err := app.New(pool, app.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
		if first == nil {
			first = func(sql string, args ...any) {
				t.Helper()
				if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
		}
	}
	return apps[0], apps[1], first
}

func TestAScheduledPassRunsOnOneReplicaOncePerPeriod(t *testing.T) {
	t.Parallel()
	a1, a2, exec := replicas(t)
	ctx := context.Background()
	var runs atomic.Int64
	pass := func(context.Context) error { runs.Add(1); return nil }

	// Both replicas tick at the same moment, several times over.
	var wg sync.WaitGroup
	for i := range 10 {
		a := []*app.App{a1, a2}[i%2]
		wg.Go(func() {
			if _, err := a.RunScheduled(ctx, "rfm scoring", time.Hour, pass); err != nil {
				t.Errorf("RunScheduled: %v", err)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("ten simultaneous ticks on two replicas: expected 1 run, got %d", n)
	}

	// The other replica ticking later in the same period skips.
	if ran, err := a2.RunScheduled(ctx, "rfm scoring", time.Hour, pass); err != nil || ran {
		t.Errorf("a later tick in the same period: expected no run, got ran=%v err=%v", ran, err)
	}
	// Another pass is independent.
	if ran, err := a2.RunScheduled(ctx, "cart check", time.Hour, pass); err != nil || !ran {
		t.Errorf("a different pass: expected it to run, got ran=%v err=%v", ran, err)
	}

	// A period later, whichever replica ticks first runs it, once.
	exec(`UPDATE scheduler_runs SET started_at = now() - interval '2 hours', finished_at = now() - interval '119 minutes' WHERE name = 'rfm scoring'`)
	ran1, err1 := a2.RunScheduled(ctx, "rfm scoring", time.Hour, pass)
	ran2, err2 := a1.RunScheduled(ctx, "rfm scoring", time.Hour, pass)
	if err1 != nil || err2 != nil || !ran1 || ran2 {
		t.Errorf("next period: expected the first tick to run and the second to skip, got %v/%v (%v, %v)", ran1, ran2, err1, err2)
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("expected 3 runs in all, got %d", n)
	}
}

func TestARunningOrCrashedPassIsNotStartedTwice(t *testing.T) {
	t.Parallel()
	a1, a2, exec := replicas(t)
	ctx := context.Background()

	// While replica 1 runs the pass (even past its period), replica 2 skips it.
	running, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a1.RunScheduled(ctx, "scheduled recompute", time.Hour, func(context.Context) error {
			close(running)
			<-release
			return errors.New("boom")
		})
		done <- err
	}()
	<-running
	exec(`UPDATE scheduler_runs SET started_at = now() - interval '90 minutes'`)
	if ran, err := a2.RunScheduled(ctx, "scheduled recompute", time.Hour, func(context.Context) error { return nil }); err != nil || ran {
		t.Errorf("while another replica runs the pass: expected no run, got ran=%v err=%v", ran, err)
	}
	close(release)
	if err := <-done; err == nil || err.Error() != "boom" {
		t.Errorf("expected the pass's error back, got %v", err)
	}

	// A replica that died mid-run (started long ago, never finished) does
	// not block the pass forever.
	exec(`UPDATE scheduler_runs SET started_at = now() - interval '5 hours', finished_at = now() - interval '6 hours'`)
	if ran, err := a2.RunScheduled(ctx, "scheduled recompute", time.Hour, func(context.Context) error { return nil }); err != nil || !ran {
		t.Errorf("after a crashed run: expected a run, got ran=%v err=%v", ran, err)
	}
}
