package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// A full recompute evaluates from the in-memory profile cache; it must
// write and announce exactly the changes that evaluating every stored
// profile on its stored memberships gives (what the pass did when it paged
// through PostgreSQL), each once, over a population where some customers
// lack memberships they qualify for (entries) and others hold memberships
// they do not (exits). Batches are small so the changes span many
// transactions.
func TestFullRecomputeFromTheCacheWritesExactlyThePerProfileChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		batch int
	}{
		{"in many small transactions", 7},
		{"in one transaction per two thousand customers", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.NewDB(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
			if _, err := seed(ctx, pool, 1500); err != nil {
				t.Fatalf("seed: %v", err)
			}
			// Entries: some customers lose every stored membership. Exits:
			// others are put in every segment they are not in.
			for _, s := range []struct {
				sql  string
				args []any
			}{
				{`DELETE FROM memberships WHERE abs(hashtext(customer_id)) % 7 = 0`, nil},
				{`INSERT INTO memberships (segment_id, customer_id, entered_at)
				 SELECT s.segment_id, p.customer_id, $1 FROM segments s CROSS JOIN profiles p
				 WHERE abs(hashtext(p.customer_id)) % 11 = 0 ON CONFLICT DO NOTHING`, []any{benchNow}},
				{`UPDATE segments s SET size = (SELECT count(*) FROM memberships m WHERE m.segment_id = s.segment_id)`, nil},
			} {
				if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
					t.Fatalf("perturb memberships: %v", err)
				}
			}
			want, wantMembers := perProfileChanges(t, pool)
			var entries, exits int
			for _, c := range want {
				if c[0] == '+' {
					entries++
				} else {
					exits++
				}
			}
			if entries == 0 || exits == 0 {
				t.Fatalf("the population gives %d entries and %d exits; the test needs both", entries, exits)
			}

			c := app.DefaultConfig()
			c.RecomputeBatch = tc.batch
			a, err := app.New(pool, c, nil, app.WithClock(func() time.Time { return benchNow }))
			if err != nil {
				t.Fatal(err)
			}
			f := &fixture{t: t, pool: pool, app: a}
			res, err := a.Recompute(ctx, app.ScopeAll)
			if err != nil {
				t.Fatalf("recompute: %v", err)
			}
			if res.Profiles != 1500 || res.Changes != len(want) {
				t.Errorf("recompute reports %d profiles and %d changes, want 1500 and %d", res.Profiles, res.Changes, len(want))
			}
			got := f.announced()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("announced %d changes, want %d; first differences: %v", len(got), len(want), firstDiff(got, want))
			}
			if members := storedMemberships(t, pool); !slices.Equal(members, wantMembers) {
				t.Errorf("stored %d memberships after the pass, want %d; first differences: %v", len(members), len(wantMembers), firstDiff(members, wantMembers))
			}
			var wrongSizes int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM segments s WHERE size <> (SELECT count(*) FROM memberships m WHERE m.segment_id = s.segment_id)`).Scan(&wrongSizes); err != nil {
				t.Fatal(err)
			}
			if wrongSizes != 0 {
				t.Errorf("%d segments have a size other than their member count after the pass, want 0", wrongSizes)
			}

			// The next pass finds nothing to change and announces nothing.
			res, err = a.Recompute(ctx, app.ScopeAll)
			if err != nil {
				t.Fatalf("second recompute: %v", err)
			}
			if again := f.announced(); res.Changes != 0 || len(again) != len(want) {
				t.Errorf("a second pass made %d changes and the outbox holds %d events, want 0 and %d", res.Changes, len(again), len(want))
			}
		})
	}
}

// perProfileChanges evaluates every stored profile at benchNow on its
// stored memberships, one profile at a time straight from PostgreSQL (the
// way the pass worked before the cache), and returns the changes as sorted
// "+segment/customer" and "-segment/customer" and the memberships after
// them as sorted "segment/customer".
func perProfileChanges(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (changes, members []string) {
	t.Helper()
	ctx := context.Background()
	comp, err := segment.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*segment.Rule{}
	for _, s := range benchSegments {
		if rules[s.id], err = comp.Compile(s.rule); err != nil {
			t.Fatal(err)
		}
	}
	g, err := segment.NewGraph(rules)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]map[string]bool{}
	for _, m := range storedMemberships(t, pool) {
		var seg, cust string
		for i := range m {
			if m[i] == '/' {
				seg, cust = m[:i], m[i+1:]
				break
			}
		}
		if stored[cust] == nil {
			stored[cust] = map[string]bool{}
		}
		stored[cust][seg] = true
	}
	cfg := profile.DefaultConfig("EUR")
	cfg.AbandonCartAfter = time.Hour
	rows, err := pool.Query(ctx, `SELECT customer_id, snapshot, rfm_r, rfm_f, rfm_m, rfm_group FROM profiles ORDER BY customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, group string
		var raw []byte
		var r, fr, m int32
		if err := rows.Scan(&id, &raw, &r, &fr, &m, &group); err != nil {
			t.Fatal(err)
		}
		var s profile.Snapshot
		if err := s.UnmarshalBinary(raw); err != nil {
			t.Fatalf("decode %s: %v", id, err)
		}
		s.Refresh(benchNow, cfg, nil)
		s.Traits.RFM = profile.RFMScore{R: int(r), F: int(fr), M: int(m), Group: group}
		ms := stored[id]
		if ms == nil {
			ms = map[string]bool{}
		}
		cs, next, _ := g.Recompute(&segment.Input{CustomerID: id, Traits: s.Traits, Orders: s.Orders, Interactions: s.Interactions, Segments: ms, Now: benchNow}, nil)
		for _, c := range cs {
			sign := "-"
			if c.Entered {
				sign = "+"
			}
			changes = append(changes, sign+c.SegmentID+"/"+c.CustomerID)
		}
		for seg := range next {
			members = append(members, seg+"/"+id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(changes)
	slices.Sort(members)
	return changes, members
}

// storedMemberships returns every stored membership as sorted
// "segment/customer".
func storedMemberships(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT segment_id || '/' || customer_id FROM memberships ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// firstDiff lists up to five entries that are in one sorted list and not
// the other.
func firstDiff(got, want []string) []string {
	var out []string
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok && len(out) < 5 {
			out = append(out, fmt.Sprintf("unexpected %s", g))
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok && len(out) < 10 {
			out = append(out, fmt.Sprintf("missing %s", w))
		}
	}
	return out
}
