package ports_test

import (
	"context"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/db"
)

// A prize owed because the reward was out of stock is issued by the
// scheduled job once the reward is restocked: the oldest completion first,
// as many as the stock covers, each exactly once, with two replicas running
// the job at the same time.
func TestAnOwedChallengePrizeIsIssuedOnceWhenTheRewardIsRestocked(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LOYALTY_JOB_INTERVAL": "50ms"}
	s := start(t, env)
	s.replica(t, env) // runs the job on the same database
	ctx := context.Background()
	one := int64(1)
	tote := s.reward(t, &loyaltyv1.Reward{Name: "Tote", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "tote",
		PointsCost: 500, Stock: &one})
	ch := cansChallenge()
	ch.Name, ch.RewardPoints, ch.RewardId = "Buy 4 cans, get a tote", 0, tote
	created, err := s.client.CreateChallenge(marketer(t), &loyaltyv1.CreateChallengeRequest{IdempotencyKey: key(), Challenge: ch})
	if err != nil {
		t.Fatalf("create challenge: %v", err)
	}
	id := created.GetChallenge().GetChallengeId()
	complete := func(member, orderID string) {
		t.Helper()
		s.send(t, orderMessage(t, order(orderID, member, line("l1", "can", 4, 100))))
		eventually(t, member+" completed the challenge", func() (bool, string) {
			p := s.challengeProgress(t, member, id)
			return p.GetCompletedAt() != nil, p.String()
		})
		s.clock.Advance(time.Minute)
	}
	restock := func(n int64) {
		t.Helper()
		if _, err := s.client.UpdateReward(marketer(t), &loyaltyv1.UpdateRewardRequest{IdempotencyKey: key(),
			Reward: &loyaltyv1.Reward{RewardId: tote, Stock: &n}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stock"}}}); err != nil {
			t.Fatalf("restock: %v", err)
		}
	}
	granted := func(member string) {
		t.Helper()
		eventually(t, member+"'s owed tote issued", func() (bool, string) {
			p := s.challengeProgress(t, member, id)
			return !p.GetRewardPending() && p.GetRewardRedemption().GetProductId() == "tote", p.String()
		})
	}
	count := func(query string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := s.pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	complete("c-prize-1", "o-p1") // takes the only tote
	complete("c-prize-2", "o-p2") // owed
	complete("c-prize-3", "o-p3") // owed
	for _, m := range []string{"c-prize-2", "c-prize-3"} {
		if p := s.challengeProgress(t, m, id); !p.GetRewardPending() || p.GetRewardRedemption() != nil {
			t.Fatalf("expected %s's tote pending while out of stock, got %v", m, p)
		}
	}
	if n := count("SELECT count(*) FROM challenge_prizes_owed WHERE reward_id = $1", tote); n != 2 {
		t.Fatalf("expected 2 prizes owed, got %d", n)
	}

	// One unit: the older completion gets it, the other still waits.
	restock(1)
	granted("c-prize-2")
	if p := s.challengeProgress(t, "c-prize-3", id); !p.GetRewardPending() {
		t.Errorf("expected c-prize-3's tote still pending with the one unit gone to c-prize-2, got %v", p)
	}
	// Two units: the last owed prize takes one, one stays in stock.
	restock(2)
	granted("c-prize-3")
	eventually(t, "nothing owed", func() (bool, string) {
		n := count("SELECT count(*) FROM challenge_prizes_owed")
		return n == 0, "still owed"
	})
	for _, m := range []string{"c-prize-1", "c-prize-2", "c-prize-3"} {
		if n := count("SELECT count(*) FROM redemptions WHERE member_id = $1 AND reward_id = $2", m, tote); n != 1 {
			t.Errorf("expected %s to get exactly one tote, got %d", m, n)
		}
	}
	got, err := s.client.GetReward(marketer(t), &loyaltyv1.GetRewardRequest{RewardId: tote})
	if err != nil || got.GetReward().GetStock() != 1 {
		t.Errorf("expected 1 tote left of the 2 restocked, got %v, %v", got.GetReward(), err)
	}
	s.assertLedger(t)
}

// Prizes a member's view showed as pending before owed prizes were
// recorded (migration 00007) become owed rows, so the job issues them too:
// the latest round of each completed challenge with a catalog reward whose
// prize was never issued.
func TestMigratingAnOldDatabaseOwesThePrizesItShowedAsPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	old := fstest.MapFS{}
	if err := fs.WalkDir(db.Migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p >= "00007" {
			return err
		}
		b, err := fs.ReadFile(db.Migrations.FS, p)
		old[p] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, url, postgres.MigrationSet{Name: db.Migrations.Name, FS: old}); err != nil {
		t.Fatalf("migrate to 00006: %v", err)
	}
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `
		INSERT INTO members (customer_id) VALUES ('m-issued'), ('m-owed'), ('m-going'), ('m-points');
		INSERT INTO challenges (id, status, spec, created_at, updated_at) VALUES
			('ch-tote', 'active', '{"Challenge": {"ID": "ch-tote", "RewardID": "rw-tote", "RewardPoints": 0}}', now(), now()),
			('ch-points', 'active', '{"Challenge": {"ID": "ch-points", "RewardID": "", "RewardPoints": 100}}', now(), now());
		INSERT INTO challenge_progress (challenge_id, member_id, progress, completed_at, updated_at, completions) VALUES
			('ch-tote', 'm-issued', 4, '2026-03-01T10:00:00Z', now(), 1),
			('ch-tote', 'm-owed', 4, '2026-03-02T10:00:00Z', now(), 2),
			('ch-tote', 'm-going', 2, NULL, now(), 0),
			('ch-points', 'm-points', 4, '2026-03-01T10:00:00Z', now(), 1);
		INSERT INTO redemptions (id, member_id, reward_id, points, status, entry_id, created_at) VALUES
			('challenge:ch-tote:1:m-issued', 'm-issued', 'rw-tote', 0, 'completed', '', now()),
			('challenge:ch-tote:1:m-owed', 'm-owed', 'rw-tote', 0, 'completed', '', now());`); err != nil {
		t.Fatalf("old data: %v", err)
	}
	if err := postgres.Migrate(ctx, url, db.Migrations); err != nil {
		t.Fatalf("migrate to the latest: %v", err)
	}
	rows, err := pool.Query(ctx, "SELECT challenge_id || ':' || round || ':' || member_id || ' ' || reward_id || ' ' || to_char(owed_since AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM challenge_prizes_owed")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ch-tote:2:m-owed rw-tote 2026-03-02"}; !slices.Equal(got, want) {
		t.Errorf("expected the owed prizes %v, got %v", want, got)
	}
}
