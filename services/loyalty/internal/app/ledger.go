package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
)

// account locks memberID and restores their account.
func (u *Unit) account(ctx context.Context, memberID string, extra []string) (*ledger.Account, store.Member, error) {
	return u.st.Account(ctx, memberID, extra, newID, u.now)
}

// Redeem spends points on a catalog reward (RewardID) or on a checkout
// discount (Points at the program's conversion rate).
type Redeem struct {
	MemberID string
	RewardID string
	Points   int64
	OrderID  string
	// PartnerID is the coalition partner the points are spent with, for
	// settlement; empty for the program's own channels.
	PartnerID string
}

// Redemption is what a redemption bought.
type Redemption struct {
	ID         string
	MemberID   string
	RewardID   string
	Points     int64
	Value      money.Money
	Code       string
	ProductID  string
	EntryID    string
	ValidUntil time.Time
	CreatedAt  time.Time
	// Status is completed or reversed.
	Status     string
	ReversedAt time.Time
}

// Redeemed is a redemption and the balance after it.
type Redeemed struct {
	Redemption Redemption
	Balance    Balance
}

// couponCode is a random, unambiguous code (no 0/O, 1/I).
func couponCode() (string, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("coupon code: %w", err)
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String(), nil
}

// Redeem spends the member's points. The member row lock serializes it with
// every other change to the member, so concurrent redemptions can never take
// the balance below zero.
func (u *Unit) Redeem(ctx context.Context, r Redeem) (Redeemed, error) {
	acct, m, err := u.account(ctx, r.MemberID, nil)
	if err != nil {
		return Redeemed{}, err
	}
	code, err := couponCode()
	if err != nil {
		return Redeemed{}, err
	}
	red := Redemption{ID: newID(), MemberID: r.MemberID, RewardID: r.RewardID, Code: code, CreatedAt: u.now, Status: "completed"}
	var spend ledger.Spend
	if r.RewardID != "" {
		row, err := u.st.Q.LockReward(ctx, r.RewardID)
		if errors.Is(err, pgx.ErrNoRows) {
			// The client named something that does not exist: bad input,
			// reported on the field, not a missing resource of the path.
			return Redeemed{}, validation.Field("reward_id", "unknown reward %q", r.RewardID)
		}
		if err != nil {
			return Redeemed{}, fmt.Errorf("reward %s: %w", r.RewardID, err)
		}
		rw, err := decode[reward.Reward](row.Spec, "reward "+r.RewardID)
		if err != nil {
			return Redeemed{}, err
		}
		n, err := u.st.Q.RedeemedCount(ctx, sqlc.RedeemedCountParams{MemberID: r.MemberID, RewardID: r.RewardID})
		if err != nil {
			return Redeemed{}, fmt.Errorf("redemptions of %s: %w", r.RewardID, err)
		}
		tierID := ""
		if l, err := u.tierLadder(ctx); err != nil {
			return Redeemed{}, err
		} else if t, ok := l.ladder.Effective(m.Tier, u.now); l.ok && ok {
			tierID = t.ID
		}
		if err := rw.Check(reward.Member{TierID: tierID, Available: acct.Balances(u.now).Available, Redeemed: n}, u.now); err != nil {
			return Redeemed{}, fmt.Errorf("redeem %s: %w", r.RewardID, err)
		}
		if err := rw.TakeStock(); err != nil {
			return Redeemed{}, fmt.Errorf("redeem %s: %w", r.RewardID, err)
		}
		if rw.Type == reward.TypeCoupon {
			// Coupon rewards hand out a code from the uploaded pool; an
			// empty pool fails in Issue.
			if code, err = u.takeCoupon(ctx, rw.ID, red.ID); err != nil {
				return Redeemed{}, err
			}
			red.Code = code
		}
		issued, err := rw.Issue(code, u.now)
		if err != nil {
			return Redeemed{}, fmt.Errorf("redeem %s: %w", r.RewardID, err)
		}
		b, err := json.Marshal(rw)
		if err != nil {
			return Redeemed{}, fmt.Errorf("encode reward: %w", err)
		}
		if err := u.st.Q.UpdateReward(ctx, sqlc.UpdateRewardParams{ID: rw.ID, Status: row.Status, Spec: b, UpdatedAt: row.UpdatedAt}); err != nil {
			return Redeemed{}, fmt.Errorf("take stock of %s: %w", rw.ID, err)
		}
		red.Points, red.Value, red.ProductID, red.ValidUntil = rw.Cost, issued.Discount, issued.SKU, issued.ExpiresAt
		spend = ledger.Spend{Type: ledger.TypeRedemption, Points: rw.Cost, OrderID: r.OrderID, ReferenceID: red.ID, Description: "redeemed " + rw.Name,
			PartnerID: r.PartnerID}
	} else {
		v, err := u.set.Conversion.ValueOf(r.Points)
		if err != nil {
			return Redeemed{}, fmt.Errorf("value of %d points: %w", r.Points, err)
		}
		red.Points, red.Value, red.ValidUntil = r.Points, v, u.now.Add(u.a.cfg.CouponValidity)
		spend = ledger.Spend{Type: ledger.TypeRedemption, Points: r.Points, OrderID: r.OrderID, ReferenceID: red.ID, Description: "points discount",
			PartnerID: r.PartnerID}
	}
	e, err := acct.Spend(spend, u.now)
	if err != nil {
		return Redeemed{}, err
	}
	red.EntryID = e.ID
	// Everything left is writes whose results nothing reads: the ledger
	// changes, the events and the idempotency response go out together
	// (under DoPipelined with the COMMIT).
	u.holdBackWrites()
	var b store.Batch
	b.AddAccount(acct, 0, 0)
	b.Redemptions = append(b.Redemptions, store.RedemptionRow{ID: red.ID, MemberID: red.MemberID, RewardID: red.RewardID,
		Points: red.Points, ValueMinor: red.Value.Amount, Currency: red.Value.Currency, CouponCode: red.Code, ProductID: red.ProductID,
		Status: "completed", EntryID: e.ID, OrderID: r.OrderID, ValidUntil: tp(red.ValidUntil), CreatedAt: u.now})
	if err := u.st.Apply(ctx, &b); err != nil {
		return Redeemed{}, err
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{redemptionID: red.ID, rewardID: r.RewardID, value: red.Value}); err != nil {
		return Redeemed{}, err
	}
	bal, err := u.balance(acct, m)
	return Redeemed{Redemption: red, Balance: bal}, err
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// HoldResult is a hold and the balance after the operation on it.
type HoldResult struct {
	Hold    ledger.Hold
	Value   money.Money
	Balance Balance
}

// PlaceHold reserves points for a checkout; ttl 0 takes the program default.
func (u *Unit) PlaceHold(ctx context.Context, memberID string, points int64, orderID string, ttl time.Duration) (HoldResult, error) {
	if ttl == 0 {
		ttl = u.a.cfg.HoldTTL
	}
	acct, m, err := u.account(ctx, memberID, nil)
	if err != nil {
		return HoldResult{}, err
	}
	h, _, err := acct.PlaceHold(ledger.HoldRequest{OrderID: orderID, Points: points, TTL: ttl}, u.now)
	if err != nil {
		return HoldResult{}, err
	}
	return u.finishHold(ctx, acct, m, *h, eventInfo{})
}

func (u *Unit) finishHold(ctx context.Context, acct *ledger.Account, m store.Member, h ledger.Hold, info eventInfo) (HoldResult, error) {
	if err := u.st.SaveAccount(ctx, acct, 0, 0); err != nil {
		return HoldResult{}, err
	}
	info.holdID = h.ID
	if err := u.publish(ctx, acct.Changes().Entries, info); err != nil {
		return HoldResult{}, err
	}
	v, err := u.set.Conversion.ValueOf(h.Points)
	if err != nil {
		return HoldResult{}, err
	}
	bal, err := u.balance(acct, m)
	return HoldResult{Hold: h, Value: v, Balance: bal}, err
}

// lockHold locks the hold's member (with the hold's lots loaded) and reads
// the hold under that lock. memberID must own the hold: a hold of another
// member is reported as not found, so ids cannot be probed.
func (u *Unit) lockHold(ctx context.Context, holdID, memberID string) (*ledger.Account, store.Member, ledger.Hold, error) {
	h, err := u.st.Hold(ctx, holdID)
	if err != nil {
		return nil, store.Member{}, ledger.Hold{}, err
	}
	if memberID != "" && h.MemberID != memberID {
		return nil, store.Member{}, ledger.Hold{}, fmt.Errorf("hold %s: %w", holdID, ErrNotFound)
	}
	lots := make([]string, len(h.Draws))
	for i, d := range h.Draws {
		lots[i] = d.LotID
	}
	acct, m, err := u.account(ctx, h.MemberID, lots)
	if err != nil {
		return nil, store.Member{}, ledger.Hold{}, err
	}
	// Read again under the member lock: a concurrent capture may have closed it.
	h, err = u.st.Hold(ctx, holdID)
	return acct, m, h, err
}

// CaptureHold spends points of an active hold (0 = all of it); the rest goes
// back to the member.
func (u *Unit) CaptureHold(ctx context.Context, holdID, memberID string, points int64, orderID string) (HoldResult, error) {
	acct, m, h, err := u.lockHold(ctx, holdID, memberID)
	if err != nil {
		return HoldResult{}, err
	}
	if points == 0 {
		points = h.Points
	}
	if orderID != "" {
		h.OrderID = orderID
	}
	if _, err := acct.CaptureHold(&h, points, u.now); err != nil {
		return HoldResult{}, err
	}
	v, err := u.set.Conversion.ValueOf(points)
	if err != nil {
		return HoldResult{}, err
	}
	return u.finishHold(ctx, acct, m, h, eventInfo{value: v})
}

// ReleaseHold returns a hold's points to the member.
func (u *Unit) ReleaseHold(ctx context.Context, holdID, memberID string) (HoldResult, error) {
	acct, m, h, err := u.lockHold(ctx, holdID, memberID)
	if err != nil {
		return HoldResult{}, err
	}
	if _, err := acct.ReleaseHold(&h, u.now); err != nil {
		return HoldResult{}, err
	}
	return u.finishHold(ctx, acct, m, h, eventInfo{})
}

// Adjust credits (points > 0) or debits (points < 0) a member by hand,
// recording the acting marketer and the reason.
func (u *Unit) Adjust(ctx context.Context, memberID string, points int64, reason, note, actor string) (ledger.Entry, Balance, error) {
	acct, m, err := u.account(ctx, memberID, nil)
	if err != nil {
		return ledger.Entry{}, Balance{}, err
	}
	var e ledger.Entry
	var earned int64
	switch {
	case points > 0:
		es, err := acct.Credit(ledger.Credit{Type: ledger.TypeAdjustment, Points: points, ReferenceID: newID(), Description: note,
			Actor: actor, Reason: reason, ExpiresAt: u.a.cfg.Program.Expiry.LotExpiry(u.now)}, u.now)
		if err != nil {
			return ledger.Entry{}, Balance{}, err
		}
		e, earned = es[0], points
	case points < 0:
		if e, err = acct.Spend(ledger.Spend{Type: ledger.TypeAdjustment, Points: -points, ReferenceID: newID(), Description: note,
			Actor: actor, Reason: reason}, u.now); err != nil {
			return ledger.Entry{}, Balance{}, err
		}
	default:
		return ledger.Entry{}, Balance{}, validation.Field("points", "must not be zero")
	}
	if err := u.st.SaveAccount(ctx, acct, earned, 0); err != nil {
		return ledger.Entry{}, Balance{}, err
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{source: eventsv1.EarnSource_EARN_SOURCE_ADJUSTMENT}); err != nil {
		return ledger.Entry{}, Balance{}, err
	}
	bal, err := u.balance(acct, m)
	return e, bal, err
}

// CreditReferral credits a referral reward once per reward id; a second
// delivery of the same reward changes nothing.
func (u *Unit) CreditReferral(ctx context.Context, memberID, rewardID string, points int64) (bool, error) {
	acct, m, err := u.account(ctx, memberID, nil)
	if err != nil {
		return false, err
	}
	done, err := u.st.Q.ReferralRewardExists(ctx, sqlc.ReferralRewardExistsParams{MemberID: memberID, ReferenceID: rewardID})
	if err != nil {
		return false, fmt.Errorf("referral reward %s: %w", rewardID, err)
	}
	if done || points <= 0 {
		return false, nil
	}
	if _, err := acct.Credit(ledger.Credit{Type: ledger.TypeReferralReward, Points: points, ReferenceID: rewardID,
		Description: "referral reward", ExpiresAt: u.a.cfg.Program.Expiry.LotExpiry(u.now)}, u.now); err != nil {
		return false, err
	}
	if err := u.st.SaveAccount(ctx, acct, points, 0); err != nil {
		return false, err
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{source: eventsv1.EarnSource_EARN_SOURCE_REFERRAL}); err != nil {
		return false, err
	}
	return true, u.evaluateTier(ctx, memberID, m.Tier)
}

// SetSegment records that the member entered (in) or left a segment, as
// segmentation announced; rules targeted at segments read it.
func (u *Unit) SetSegment(ctx context.Context, memberID, segmentID string, in bool) error {
	var err error
	if in {
		err = u.st.Q.AddSegment(ctx, sqlc.AddSegmentParams{CustomerID: memberID, EnrolledAt: u.now, Segment: segmentID})
	} else {
		err = u.st.Q.RemoveSegment(ctx, sqlc.RemoveSegmentParams{CustomerID: memberID, Segment: segmentID})
	}
	if err != nil {
		return fmt.Errorf("segment %s of %s: %w", segmentID, memberID, err)
	}
	return nil
}
