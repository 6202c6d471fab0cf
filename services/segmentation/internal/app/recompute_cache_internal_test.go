package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// A full recompute evaluates cached snapshots; when an event changes a
// profile after the cache was read, the event path (which holds the
// profile's lock) decides and announces that customer's membership, and
// the recompute must neither write nor announce anything from its stale
// copy. Here the stale copy says "enters"; the event moved the customer
// out of the segment's reach, so nobody may announce an entry. A customer
// left alone in the same pass still enters, exactly once.
func TestFullRecomputeLeavesAProfileChangedAfterTheCacheReadToTheEventPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a, err := New(pool, DefaultConfig(), nil, WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	setCountry := func(id, eventID, country string) {
		t.Helper()
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			return a.UpdateProfile(ctx, tx, id, func(p *profile.Profile) error {
				return p.ApplyCustomer(profile.CustomerUpdate{EventID: eventID, At: t0, Country: country})
			})
		})
		if err != nil {
			t.Fatalf("update %s: %v", id, err)
		}
	}
	setCountry("changed", "e1", "DE")
	setCountry("untouched", "e2", "DE")
	// Created without its first evaluation, so both customers are due to
	// enter when a pass runs.
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := a.CreateSegment(ctx, tx, segment.Segment{ID: "germans", Name: "Germans", Rule: `country == "DE"`})
		return err
	})
	if err != nil {
		t.Fatalf("create segment: %v", err)
	}

	// The pass up to its writes: cache synced and evaluated.
	if err := a.SyncProfileCache(ctx); err != nil {
		t.Fatal(err)
	}
	q := sqlc.New(pool)
	g, names, err := a.loadGraph(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	pending, n, err := a.evalCache(ctx, g, []string{"germans"}, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range pending {
		ids = append(ids, d.id)
	}
	if n != 2 || !slices.Equal(ids, []string{"changed", "untouched"}) {
		t.Fatalf("the pass evaluated %d profiles and would change %v, want 2 and [changed untouched]", n, ids)
	}
	// The event arrives between the evaluation and the writes.
	setCountry("changed", "e3", "FR")
	changed, err := a.applyPending(ctx, g, names, []string{"germans"}, pending, t0)
	if err != nil {
		t.Fatal(err)
	}
	if changed != 1 {
		t.Errorf("the pass wrote %d changes, want 1 (only the untouched customer)", changed)
	}
	for _, tc := range []struct {
		customer  string
		member    bool
		announced int
	}{
		{"changed", false, 0},
		{"untouched", true, 1},
	} {
		member, err := a.IsMember(ctx, "germans", tc.customer)
		if err != nil {
			t.Fatal(err)
		}
		var announced int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = $1 AND key = $2`, topics.SegmentationEvents, tc.customer).Scan(&announced); err != nil {
			t.Fatal(err)
		}
		if member != tc.member || announced != tc.announced {
			t.Errorf("%s: member %v with %d membership events, want member %v with %d", tc.customer, member, announced, tc.member, tc.announced)
		}
	}
}
