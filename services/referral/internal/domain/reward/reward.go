package reward

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

// Role says who a reward is for.
type Role string

// Beneficiary roles.
const (
	RoleReferrer Role = "referrer"
	RoleFriend   Role = "friend"
	// RolePartner is an influencer or affiliate owning a partner code.
	RolePartner Role = "partner"
)

// Status is a reward's lifecycle state.
//
//	pending ──(hold ends)──> payable ──(paid)──> paid
//	   └──(refund/cancel before hold ends)──> voided
type Status string

// Reward statuses.
const (
	StatusPending Status = "pending"
	StatusPayable Status = "payable"
	StatusPaid    Status = "paid"
	StatusVoided  Status = "voided"
)

// Lifecycle errors.
var (
	// ErrHoldNotOver: the reward cannot be paid before its hold ends.
	ErrHoldNotOver = errors.New("reward hold period not over")
	// ErrHoldOver: a refund after the hold no longer voids the reward.
	ErrHoldOver = errors.New("reward hold period already over")
	// ErrAlreadyPaid: the reward was paid; paying or voiding again is refused.
	ErrAlreadyPaid = errors.New("reward already paid")
	// ErrVoided: the reward was voided and can never be paid.
	ErrVoided = errors.New("reward voided")
	// ErrNotFound is returned by a Repository when no reward matches.
	ErrNotFound = errors.New("reward not found")
)

// ID is a reward's stable identifier.
type ID string

// namespace is a fixed UUID namespace for referral reward ids (a random
// UUIDv4 chosen once; changing it would change every reward id).
var namespace = [16]byte{0x8f, 0x1c, 0x4e, 0x62, 0x3b, 0x7a, 0x4d, 0x0e, 0x9a, 0x55, 0x21, 0xc3, 0x6e, 0x80, 0xb4, 0x17}

// NewID derives the reward id from the referral and the beneficiary as a
// name-based UUID (version 5, RFC 9562). The same referral and beneficiary
// always give the same id, so a redelivered order event, a retried worker or
// a replayed outbox message produce the same ReferralRewarded id and the
// loyalty service, deduplicating on it, credits points exactly once.
func NewID(referralID string, role Role, beneficiaryID string) ID {
	h := sha1.New()
	h.Write(namespace[:])
	// Length-prefix each part ("<len>:<part>|") so ("a","bc") and ("ab","c")
	// differ. Written without fmt: this runs for every conversion.
	buf := make([]byte, 0, 96)
	for _, part := range []string{referralID, string(role), beneficiaryID} {
		buf = strconv.AppendInt(buf, int64(len(part)), 10)
		buf = append(buf, ':')
		buf = append(buf, part...)
		buf = append(buf, '|')
	}
	h.Write(buf)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return ID(out[:])
}

// Reward is one payout to one beneficiary of one referral.
type Reward struct {
	ID            ID
	ReferralID    string
	CampaignID    string
	Role          Role
	BeneficiaryID string
	Spec          Spec
	// Cost is what the reward reserved from the campaign budget; a void
	// releases exactly this.
	Cost      Cost
	Status    Status
	CreatedAt time.Time
	// PayableAt is the end of the hold period (conversion time + hold).
	PayableAt time.Time
	PaidAt    time.Time
	// CouponCode is the code drawn from the pool for discount rewards.
	CouponCode string
	VoidedAt   time.Time
	VoidReason *rejection.Rejection
}

// NewParams are the inputs of New.
type NewParams struct {
	ReferralID    string
	CampaignID    string
	Role          Role
	BeneficiaryID string
	Spec          Spec
	// OrderValue is the qualifying order's value, for percent coupon costs.
	OrderValue  money.Money
	ConvertedAt time.Time
	Hold        time.Duration
}

// New creates a pending reward whose hold ends at ConvertedAt+Hold. A zero
// hold makes the reward payable immediately (still through Release, so the
// one payment path is exercised).
func New(p NewParams) Reward {
	return Reward{
		ID:            NewID(p.ReferralID, p.Role, p.BeneficiaryID),
		ReferralID:    p.ReferralID,
		CampaignID:    p.CampaignID,
		Role:          p.Role,
		BeneficiaryID: p.BeneficiaryID,
		Spec:          p.Spec,
		Cost:          p.Spec.Cost(p.OrderValue),
		Status:        StatusPending,
		CreatedAt:     p.ConvertedAt,
		PayableAt:     p.ConvertedAt.Add(p.Hold),
	}
}

// StatusAt is the status as of now: a pending reward whose hold has ended
// reads as payable even before a worker has released it, so customers see
// the right state without waiting for the worker.
func (r Reward) StatusAt(now time.Time) Status {
	if r.Status == StatusPending && !now.Before(r.PayableAt) {
		return StatusPayable
	}
	return r.Status
}

// Release moves a pending reward to payable once the hold is over.
// Releasing a payable reward again is a no-op so workers may retry.
func (r *Reward) Release(now time.Time) error {
	switch r.Status {
	case StatusPayable:
		return nil
	case StatusPaid:
		return fmt.Errorf("release reward %s: %w", r.ID, ErrAlreadyPaid)
	case StatusVoided:
		return fmt.Errorf("release reward %s: %w", r.ID, ErrVoided)
	}
	if now.Before(r.PayableAt) {
		return fmt.Errorf("release reward %s before %s: %w", r.ID, r.PayableAt.Format(time.RFC3339), ErrHoldNotOver)
	}
	r.Status = StatusPayable
	return nil
}

// MarkPaid records the payout (the ReferralRewarded event is written in the
// same transaction). couponCode is required for discount rewards. A pending
// reward past its hold is released first.
func (r *Reward) MarkPaid(now time.Time, couponCode string) error {
	if r.Status == StatusPending {
		if err := r.Release(now); err != nil {
			return err
		}
	}
	switch r.Status {
	case StatusPaid:
		return fmt.Errorf("pay reward %s: %w", r.ID, ErrAlreadyPaid)
	case StatusVoided:
		return fmt.Errorf("pay reward %s: %w", r.ID, ErrVoided)
	}
	if r.Spec.Kind != KindPoints && couponCode == "" {
		return fmt.Errorf("pay reward %s: a %s reward needs a coupon code", r.ID, r.Spec.Kind)
	}
	r.Status = StatusPaid
	r.PaidAt = now
	r.CouponCode = couponCode
	return nil
}

// Void cancels a reward because the qualifying order was refunded or
// cancelled at eventAt. Only events that happened before the hold ended void
// the reward: the hold is the return window, and its end is judged by the
// event's occurrence time, not by when it was processed, so a late
// consumer gives the same answer. Voiding twice is a no-op.
func (r *Reward) Void(eventAt time.Time, why *rejection.Rejection) error {
	switch r.Status {
	case StatusVoided:
		return nil
	case StatusPaid:
		return fmt.Errorf("void reward %s: %w", r.ID, ErrAlreadyPaid)
	}
	if !eventAt.Before(r.PayableAt) {
		return fmt.Errorf("void reward %s at %s: %w", r.ID, eventAt.Format(time.RFC3339), ErrHoldOver)
	}
	r.Status = StatusVoided
	r.VoidedAt = eventAt
	r.VoidReason = why
	return nil
}

// Repository stores rewards. Create must be idempotent on ID (a second
// create of the same id returns the stored reward unchanged) because reward
// ids are deterministic and conversions may be retried.
type Repository interface {
	Create(ctx context.Context, r Reward) (Reward, error)
	Get(ctx context.Context, id ID) (Reward, error)
	// Update loads the reward FOR UPDATE, applies fn and stores the result
	// in the caller's transaction.
	Update(ctx context.Context, id ID, fn func(*Reward) error) error
	// ForReferral lists the rewards of one referral.
	ForReferral(ctx context.Context, referralID string) ([]Reward, error)
	// DueForRelease lists pending rewards whose hold ended at or before now.
	DueForRelease(ctx context.Context, now time.Time, limit int) ([]Reward, error)
}

// CouponPool hands out pre-generated coupon codes for discount rewards.
// Draw must be idempotent on the reward id: drawing again for the same
// reward returns the same code, so a retried payment never burns a second
// coupon. ErrPoolEmpty reports an exhausted pool; the reward then stays
// payable until the marketer refills it.
type CouponPool interface {
	Draw(ctx context.Context, pool string, id ID) (string, error)
}

// ErrPoolEmpty is returned by a CouponPool with no codes left.
var ErrPoolEmpty = errors.New("coupon pool empty")
