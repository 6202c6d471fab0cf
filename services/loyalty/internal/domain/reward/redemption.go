package reward

import (
	"errors"
	"fmt"
	"time"
)

// ErrAlreadyReversed: the redemption was reversed before (FailedPrecondition).
var ErrAlreadyReversed = errors.New("redemption already reversed")

// RedemptionStatus values match loyalty.v1.RedemptionStatus.
type RedemptionStatus int

// Redemption statuses.
const (
	RedemptionUnspecified RedemptionStatus = iota
	RedemptionCompleted
	RedemptionReversed
)

// Redemption records a reward bought with points: the ledger entry that
// paid for it (reversing it restores those exact lots) and what was issued.
type Redemption struct {
	ID       string
	MemberID string
	RewardID string
	Points   int64
	// EntryID is the ledger redemption entry.
	EntryID    string
	Issued     Issued
	Status     RedemptionStatus
	CreatedAt  time.Time
	ReversedAt time.Time
	Reason     string
}

// Reverse marks the redemption reversed; the caller reverses EntryID in the
// ledger and returns the reward's stock in the same transaction.
func (r *Redemption) Reverse(reason string, now time.Time) error {
	if r.Status == RedemptionReversed {
		return fmt.Errorf("redemption %s: %w", r.ID, ErrAlreadyReversed)
	}
	r.Status, r.ReversedAt, r.Reason = RedemptionReversed, now, reason
	return nil
}
