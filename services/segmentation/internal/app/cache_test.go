package app_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
)

func TestPreviewsSeeProfilesChangedSinceTheCacheLoadedOnEveryReplica(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// A second replica on the same database, with its own cache.
	other, err := app.New(f.pool, app.DefaultConfig(), nil, app.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for c := range 4 {
		id := fmt.Sprintf("c%02d", c)
		f.deliver(msg(t, topics.CommerceOrders, id, t0, order(id, id, t0, 1000, "garden")))
	}
	preview := func(a *app.App, want int64, sample []string) {
		t.Helper()
		p, err := a.PreviewRule(ctx, `total_spend > 1500`, 2)
		if err != nil {
			t.Fatal(err)
		}
		if p.Size != want || !reflect.DeepEqual(p.Sample, sample) {
			t.Errorf("preview = %d members, sample %v; want %d, %v", p.Size, p.Sample, want, sample)
		}
	}
	preview(f.app, 0, nil)
	preview(other, 0, nil)

	// Written through the first replica: a new customer and a second order
	// of an existing one. Both replicas' caches must catch up.
	f.deliver(msg(t, topics.CommerceOrders, "c09-o", t0, order("c09-o", "c09", t0, 2000, "garden")),
		msg(t, topics.CommerceOrders, "c02-o2", t0, order("c02-o2", "c02", t0, 900, "toys")))
	preview(f.app, 2, []string{"c02", "c09"})
	preview(other, 2, []string{"c02", "c09"})

	// A change committed by a transaction that began before the last sync
	// (and so was still running at it) is seen by the next one too.
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	late := msg(t, topics.CommerceOrders, "c01-o2", t0, order("c01-o2", "c01", t0, 5000, "toys"))
	if err := f.app.HandleMessages(ctx, tx, []events.Message{late}); err != nil {
		t.Fatal(err)
	}
	preview(other, 2, []string{"c02", "c09"})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	preview(other, 3, []string{"c01", "c02"})

	if st := other.PreviewCacheStats(); st.Profiles != 5 || st.Bytes <= 0 {
		t.Errorf("cache stats = %+v; want 5 profiles and their bytes", st)
	}
}
