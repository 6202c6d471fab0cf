package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/challenge"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
)

// ChallengeConfig is a challenge as configured: the domain challenge plus
// its description and lifecycle (only active challenges count orders).
type ChallengeConfig struct {
	Challenge   challenge.Challenge
	Description string
	Status      earning.Status
}

// Validate checks the challenge.
func (c ChallengeConfig) Validate() error {
	var v validation.Collector
	v.Nest("", c.Challenge.Validate())
	v.Check(len(c.Description) <= 2000, "description", "must be at most 2000 characters")
	v.Check(c.Status >= earning.StatusDraft && c.Status <= earning.StatusArchived, "status", "unknown status %d", c.Status)
	return v.Err()
}

// MemberChallenge is a member's progress in one challenge.
type MemberChallenge struct {
	Challenge   Record[ChallengeConfig]
	Progress    int64
	Remaining   int64
	CompletedAt time.Time
	// RewardPending: the goal was met but the catalog reward could not be
	// issued (out of stock, empty coupon pool).
	RewardPending bool
	// RewardRedemption is the catalog reward issued for the latest completion.
	RewardRedemption *Redemption
	// Completions counts the rounds completed (repeatable challenges).
	Completions int
	// WindowEndsAt closes the member's current rolling window (zero without one).
	WindowEndsAt time.Time
}

func challengeRecord(r sqlc.Challenge) (Record[ChallengeConfig], error) {
	c, err := decode[ChallengeConfig](r.Spec, "challenge "+r.ID)
	if err != nil {
		return Record[ChallengeConfig]{}, err
	}
	c.Challenge.ID = r.ID
	return Record[ChallengeConfig]{Value: c, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}, nil
}

// CreateChallenge adds a challenge (active unless another status is given).
func (u *Unit) CreateChallenge(ctx context.Context, c ChallengeConfig) (Record[ChallengeConfig], error) {
	c.Challenge.ID = newID()
	if c.Status == earning.StatusUnspecified {
		c.Status = earning.StatusActive
	}
	if err := c.Validate(); err != nil {
		return Record[ChallengeConfig]{}, err
	}
	if err := u.checkChallengeReward(ctx, c.Challenge.RewardID); err != nil {
		return Record[ChallengeConfig]{}, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Record[ChallengeConfig]{}, fmt.Errorf("encode challenge: %w", err)
	}
	if err := u.st.Q.InsertChallenge(ctx, sqlc.InsertChallengeParams{ID: c.Challenge.ID, Status: StatusName(int(c.Status)), Spec: b, CreatedAt: u.now}); err != nil {
		return Record[ChallengeConfig]{}, fmt.Errorf("insert challenge: %w", err)
	}
	return Record[ChallengeConfig]{Value: c, CreatedAt: u.now, UpdatedAt: u.now}, nil
}

// UpdateChallenge replaces a challenge by the result of fn on its current
// value. Progress already recorded stays; the new goal applies to it.
func (u *Unit) UpdateChallenge(ctx context.Context, id string, fn func(*ChallengeConfig) error) (Record[ChallengeConfig], error) {
	row, err := u.st.Q.LockChallenge(ctx, id)
	if err != nil {
		return Record[ChallengeConfig]{}, notFound(err, "challenge "+id)
	}
	rec, err := challengeRecord(row)
	if err != nil {
		return Record[ChallengeConfig]{}, err
	}
	c := rec.Value
	if err := fn(&c); err != nil {
		return Record[ChallengeConfig]{}, err
	}
	c.Challenge.ID = id
	if c.Status == earning.StatusUnspecified {
		c.Status = rec.Value.Status
	}
	if err := c.Validate(); err != nil {
		return Record[ChallengeConfig]{}, err
	}
	if c.Challenge.RewardID != rec.Value.Challenge.RewardID {
		if err := u.checkChallengeReward(ctx, c.Challenge.RewardID); err != nil {
			return Record[ChallengeConfig]{}, err
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Record[ChallengeConfig]{}, fmt.Errorf("encode challenge: %w", err)
	}
	if err := u.st.Q.UpdateChallenge(ctx, sqlc.UpdateChallengeParams{ID: id, Status: StatusName(int(c.Status)), Spec: b, UpdatedAt: u.now}); err != nil {
		return Record[ChallengeConfig]{}, fmt.Errorf("update challenge %s: %w", id, err)
	}
	return Record[ChallengeConfig]{Value: c, CreatedAt: rec.CreatedAt, UpdatedAt: u.now}, nil
}

// Challenge reads one challenge.
func (a *App) Challenge(ctx context.Context, id string) (Record[ChallengeConfig], error) {
	row, err := sqlc.New(a.pool).GetChallenge(ctx, id)
	if err != nil {
		return Record[ChallengeConfig]{}, notFound(err, "challenge "+id)
	}
	return challengeRecord(row)
}

// Challenges pages through the challenges by id (all statuses when status
// is unspecified).
func (a *App) Challenges(ctx context.Context, status earning.Status, p Page) ([]Record[ChallengeConfig], error) {
	st := ""
	if status != earning.StatusUnspecified {
		st = StatusName(int(status))
	}
	rows, err := sqlc.New(a.pool).ListChallenges(ctx, sqlc.ListChallengesParams{After: p.After, Status: st, Lim: int32(p.Size)})
	if err != nil {
		return nil, fmt.Errorf("list challenges: %w", err)
	}
	out := make([]Record[ChallengeConfig], 0, len(rows))
	for _, r := range rows {
		rec, err := challengeRecord(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// MemberChallenges is the member's progress in the challenges running now
// and in every challenge they completed, ordered by end time.
func (a *App) MemberChallenges(ctx context.Context, memberID string) ([]MemberChallenge, error) {
	q := sqlc.New(a.pool)
	now := a.Now()
	active, err := q.ActiveChallenges(ctx)
	if err != nil {
		return nil, fmt.Errorf("active challenges: %w", err)
	}
	prog, err := q.MemberProgress(ctx, memberID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", memberID, err)
	}
	prizes, err := memberChallengeRedemptions(ctx, q, memberID)
	if err != nil {
		return nil, err
	}
	byID := map[string]sqlc.MemberProgressRow{}
	for _, p := range prog {
		byID[p.ChallengeID] = p
	}
	shown := map[string]bool{}
	var out []MemberChallenge
	add := func(row sqlc.Challenge) error {
		rec, err := challengeRecord(row)
		if err != nil {
			return err
		}
		p := byID[row.ID]
		c := rec.Value.Challenge
		cur := challenge.Progress{Completions: int(p.Completions)}
		if p.CompletedAt != nil {
			cur.CompletedAt = p.CompletedAt.UTC()
		}
		if p.WindowStart != nil {
			cur.WindowStart = p.WindowStart.UTC()
		}
		progress := p.Progress
		if cleared := c.Current(cur, now); cleared.WindowStart.IsZero() && !cur.WindowStart.IsZero() {
			// The window closed before completion: nothing counts now.
			cur, progress = cleared, 0
		}
		mc := MemberChallenge{Challenge: rec, Progress: progress, Remaining: max(c.Target-progress, 0), Completions: cur.Completions,
			WindowEndsAt: c.WindowEnd(cur)}
		if !cur.CompletedAt.IsZero() {
			mc.CompletedAt, mc.Remaining, mc.WindowEndsAt = cur.CompletedAt, 0, time.Time{}
		}
		if cur.Completions > 0 && c.RewardID != "" {
			// The prize of the latest round, issued or still owed.
			if r, ok := prizes[challengeRedemptionID(c.ID, memberID, cur.Completions)]; ok {
				mc.RewardRedemption = &r
			} else {
				mc.RewardPending = true
			}
		}
		shown[row.ID] = true
		out = append(out, mc)
		return nil
	}
	for _, row := range active {
		if rec, err := challengeRecord(row); err != nil {
			return nil, err
		} else if now.Before(rec.Value.Challenge.EndsAt) {
			if err := add(row); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range prog {
		if p.Completions == 0 || shown[p.ChallengeID] {
			continue
		}
		row, err := q.GetChallenge(ctx, p.ChallengeID)
		if err != nil {
			return nil, notFound(err, "challenge "+p.ChallengeID)
		}
		if err := add(row); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(x, y MemberChallenge) int {
		if c := x.Challenge.Value.Challenge.EndsAt.Compare(y.Challenge.Value.Challenge.EndsAt); c != 0 {
			return c
		}
		return compareStrings(x.Challenge.Value.Challenge.ID, y.Challenge.Value.Challenge.ID)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// activeChallenges are the active challenges, loaded once per transaction.
func (u *Unit) activeChallenges(ctx context.Context) ([]challenge.Challenge, error) {
	if u.challengesSet {
		return u.challenges, nil
	}
	rows, err := u.st.Q.ActiveChallenges(ctx)
	if err != nil {
		return nil, fmt.Errorf("active challenges: %w", err)
	}
	u.challenges = u.challenges[:0]
	for _, r := range rows {
		rec, err := challengeRecord(r)
		if err != nil {
			return nil, err
		}
		u.challenges = append(u.challenges, rec.Value.Challenge)
	}
	u.challengesSet = true
	return u.challenges, nil
}

type progressRow struct {
	ChallengeID string           `json:"challenge_id"`
	MemberID    string           `json:"member_id"`
	ByOrder     map[string]int64 `json:"by_order"`
	Progress    int64            `json:"progress"`
	CompletedAt *time.Time       `json:"completed_at"`
	WindowStart *time.Time       `json:"window_start"`
	Completions int              `json:"completions"`
}

type progressKey struct{ challenge, member string }

// loadProgress reads the members' progress in the challenges (the caller
// holds the members' locks).
func (u *Unit) loadProgress(ctx context.Context, members, challenges []string) (map[progressKey]challenge.Progress, error) {
	rows, err := u.st.Q.MembersProgress(ctx, sqlc.MembersProgressParams{MemberIds: members, ChallengeIds: challenges})
	if err != nil {
		return nil, fmt.Errorf("challenge progress: %w", err)
	}
	out := make(map[progressKey]challenge.Progress, len(rows))
	for _, r := range rows {
		p := challenge.Progress{ChallengeID: r.ChallengeID, MemberID: r.MemberID}
		if err := json.Unmarshal(r.ByOrder, &p.ByOrder); err != nil {
			return nil, fmt.Errorf("progress of %s in %s: %w", r.MemberID, r.ChallengeID, err)
		}
		if r.CompletedAt != nil {
			p.CompletedAt = r.CompletedAt.UTC()
		}
		if r.WindowStart != nil {
			p.WindowStart = r.WindowStart.UTC()
		}
		p.Completions = int(r.Completions)
		out[progressKey{r.ChallengeID, r.MemberID}] = p
	}
	return out, nil
}

// saveProgress writes the changed progress rows in one statement.
func (u *Unit) saveProgress(ctx context.Context, changed []challenge.Progress) error {
	if len(changed) == 0 {
		return nil
	}
	rows := make([]progressRow, len(changed))
	for i, p := range changed {
		by := p.ByOrder
		if by == nil {
			by = map[string]int64{}
		}
		rows[i] = progressRow{ChallengeID: p.ChallengeID, MemberID: p.MemberID, ByOrder: by, Progress: p.Value(), CompletedAt: tp(p.CompletedAt),
			WindowStart: tp(p.WindowStart), Completions: p.Completions}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encode challenge progress: %w", err)
	}
	if err := u.st.Q.SaveProgress(ctx, sqlc.SaveProgressParams{Rows: b, UpdatedAt: u.now}); err != nil {
		return fmt.Errorf("save challenge progress: %w", err)
	}
	return nil
}

// challengeReference is the completion credit's reference id for a round:
// the entries' bonus-once index refuses a second credit of the same round
// to the same member, whatever happens above it. The first round keeps the
// plain form so credits made before repeatable challenges existed match.
func challengeReference(id string, round int) string {
	if round <= 1 {
		return "challenge:" + id
	}
	return fmt.Sprintf("challenge:%s#%d", id, round)
}

// recordChallenges counts freshly earned orders toward the open challenges
// and credits each challenge's reward points, once, to the members who
// completed it with them. It returns the points credited per member (for
// their lifetime points) and the redemptions issuing the completed
// challenges' catalog rewards, for the caller's batch. The members are locked by the caller, and their
// accounts carry the credits into the caller's write.
func (u *Unit) recordChallenges(ctx context.Context, orders []earning.Order, locked map[string]*store.Locked) (map[string]int64, []store.RedemptionRow, error) {
	if len(orders) == 0 {
		return nil, nil, nil
	}
	all, err := u.activeChallenges(ctx)
	if err != nil || len(all) == 0 {
		return nil, nil, err
	}
	var members, ids []string
	for _, o := range orders {
		if !slices.Contains(members, o.CustomerID) {
			members = append(members, o.CustomerID)
		}
	}
	for _, c := range all {
		ids = append(ids, c.ID)
	}
	progress, err := u.loadProgress(ctx, members, ids)
	if err != nil {
		return nil, nil, err
	}
	credited := map[string]int64{}
	var prizes []store.RedemptionRow
	changed := map[progressKey]bool{}
	var order []progressKey
	for _, o := range orders {
		for _, c := range all {
			k := progressKey{c.ID, o.CustomerID}
			p, ok := progress[k]
			if !ok {
				p = challenge.Progress{ChallengeID: c.ID, MemberID: o.CustomerID}
			}
			next, completed := c.Record(p, o)
			_, had := p.ByOrder[o.ID]
			if _, has := next.ByOrder[o.ID]; (!has || had) && !completed {
				continue
			}
			progress[k] = next
			if !changed[k] {
				changed[k] = true
				order = append(order, k)
			}
			if completed && c.RewardPoints > 0 {
				if _, err := locked[o.CustomerID].Account.Credit(ledger.Credit{Type: ledger.TypeAccrual, Points: c.RewardPoints,
					ReferenceID: challengeReference(c.ID, next.Completions), Description: "challenge completed: " + c.Name,
					ExpiresAt: u.a.cfg.Program.Expiry.LotExpiry(u.now)}, u.now); err != nil {
					return nil, nil, fmt.Errorf("reward of challenge %s: %w", c.ID, err)
				}
				credited[o.CustomerID] += c.RewardPoints
			}
			if completed && c.RewardID != "" {
				r, ok, err := u.issueChallengeReward(ctx, c.RewardID, c.ID, o.CustomerID, next.Completions)
				if err != nil {
					return nil, nil, fmt.Errorf("prize of challenge %s: %w", c.ID, err)
				}
				if ok {
					prizes = append(prizes, r)
				} else if err := u.owePrize(ctx, c.RewardID, c.ID, o.CustomerID, next.Completions); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	rows := make([]challenge.Progress, 0, len(order))
	for _, k := range order {
		rows = append(rows, progress[k])
	}
	return credited, prizes, u.saveProgress(ctx, rows)
}

// reviseChallenges takes a refunded or cancelled order's part out of the
// member's unfinished challenges: what it counts afterwards is what the
// order still contributes after all its refunds.
func (u *Unit) reviseChallenges(ctx context.Context, memberID string, o earning.Order, refunds []earning.RefundLine, cancelled bool) error {
	rows, err := u.st.Q.MemberProgress(ctx, memberID)
	if err != nil {
		return fmt.Errorf("progress of %s: %w", memberID, err)
	}
	var changed []challenge.Progress
	for _, r := range rows {
		if r.CompletedAt != nil {
			continue
		}
		p := challenge.Progress{Completions: int(r.Completions)}
		if r.WindowStart != nil {
			p.WindowStart = r.WindowStart.UTC()
		}
		if err := json.Unmarshal(r.ByOrder, &p.ByOrder); err != nil {
			return fmt.Errorf("progress of %s in %s: %w", memberID, r.ChallengeID, err)
		}
		if _, ok := p.ByOrder[o.ID]; !ok {
			continue
		}
		p.ChallengeID, p.MemberID = r.ChallengeID, memberID
		row, err := u.st.Q.GetChallenge(ctx, r.ChallengeID)
		if err != nil {
			return notFound(err, "challenge "+r.ChallengeID)
		}
		rec, err := challengeRecord(row)
		if err != nil {
			return err
		}
		c := rec.Value.Challenge
		left := int64(0)
		if !cancelled {
			left = c.ContributionAfter(o, refunds)
		}
		if next := c.Revise(p, o.ID, left); next.Value() != p.Value() {
			changed = append(changed, next)
		}
	}
	return u.saveProgress(ctx, changed)
}
