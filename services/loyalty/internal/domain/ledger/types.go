// Package ledger is the points ledger of one member: append-only entries,
// the lots every credit creates, and the operations that move points
// (spend, hold, capture, release, reverse, claw back, expire, transfer).
//
// The model: every credit creates a Lot with its own pending-until and
// expiry dates; every debit records Draws, the exact lots and amounts it
// consumed. That is what lets a reversal put points back into precisely the
// lots they came from, with their original expiry, and lets a refund find
// the points an order earned. The invariant, checked on Restore and after
// every operation, is
//
//	Balance (the sum of all entries) == sum of lot remainders - Deficit
//
// where Deficit is the negative balance a clawback left when the program
// allows one. Debt (the cap-at-zero policy) is owed points that are not in
// the ledger at all until later credits pay them off with a clawback entry.
//
// An Account is an aggregate: the app layer loads it inside a transaction
// with SELECT ... FOR UPDATE on the member row, calls one or more methods,
// then persists Changes(). Serializing on the member row is what makes
// "200 concurrent redemptions on a balance of 37 -> exactly 37 succeed"
// true; nothing in this package is safe for concurrent use.
package ledger

import (
	"errors"
	"fmt"
	"time"
)

// EntryType classifies ledger entries; the values match loyalty.v1.TransactionType.
type EntryType int

// Entry types. Credits create lots; debits record draws.
const (
	TypeUnspecified    EntryType = iota
	TypeAccrual                  // points earned on a purchase or bonus
	TypeRedemption               // points spent on a reward or captured at checkout
	TypeHold                     // points reserved by a checkout hold
	TypeHoldRelease              // held points returned (release, expiry or before capture)
	TypeRefundClawback           // points taken back after a refund, cancellation or to pay debt
	TypeExpiration               // points that expired
	TypeAdjustment               // manual credit or debit with a reason and actor
	TypeReferralReward           // points for a referral reward, once per reward id
	TypeTransferIn               // points received from another member
	TypeTransferOut              // points given to another member
	TypeReversal                 // reversal of an earlier debit
)

var typeNames = [...]string{"unspecified", "accrual", "redemption", "hold", "hold_release", "refund_clawback",
	"expiration", "adjustment", "referral_reward", "transfer_in", "transfer_out", "reversal"}

// String names the type as stored in the database.
func (t EntryType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("EntryType(%d)", int(t))
}

// ParseEntryType is the inverse of String.
func ParseEntryType(s string) (EntryType, error) {
	for i, n := range typeNames {
		if n == s && i != 0 {
			return EntryType(i), nil
		}
	}
	return TypeUnspecified, fmt.Errorf("unknown entry type %q", s)
}

// creditTypes may create lots through Credit.
func (t EntryType) isCredit() bool {
	switch t {
	case TypeAccrual, TypeAdjustment, TypeReferralReward, TypeTransferIn:
		return true
	}
	return false
}

// debitTypes may consume lots through Spend.
func (t EntryType) isDebit() bool {
	switch t {
	case TypeRedemption, TypeAdjustment, TypeTransferOut:
		return true
	}
	return false
}

// Errors the ports layer maps to gRPC codes.
var (
	// ErrInsufficientPoints: the spendable balance does not cover a debit
	// (FailedPrecondition). Returned as *InsufficientPointsError.
	ErrInsufficientPoints = errors.New("insufficient points")
	// ErrHoldClosed: the hold was already captured, released or expired (FailedPrecondition).
	ErrHoldClosed = errors.New("hold is no longer active")
	// ErrHoldExpired: the hold's TTL passed before capture (FailedPrecondition).
	ErrHoldExpired = errors.New("hold has expired")
	// ErrNotReversible: the entry is not a debit that can be reversed (FailedPrecondition).
	ErrNotReversible = errors.New("entry cannot be reversed")
	// ErrUnknownLot: an operation names a lot the account was not loaded
	// with; a bug in the caller's loading, never user input (Internal).
	ErrUnknownLot = errors.New("lot not loaded in account")
	// ErrInvariant: balance != sum of lots - deficit; corrupt state (Internal).
	ErrInvariant = errors.New("ledger invariant violated")
)

// InsufficientPointsError says how many points were needed and available.
type InsufficientPointsError struct {
	Needed, Available int64
}

// Error describes the shortfall.
func (e *InsufficientPointsError) Error() string {
	return fmt.Sprintf("insufficient points: need %d, have %d", e.Needed, e.Available)
}

// Is matches ErrInsufficientPoints.
func (e *InsufficientPointsError) Is(target error) bool { return target == ErrInsufficientPoints }

// Draw is an amount taken from (or, in a reversal, returned to) one lot.
type Draw struct {
	LotID  string
	Points int64
}

// Lot is the points one credit created and what is left of them.
type Lot struct {
	ID       string
	MemberID string
	// EntryID is the credit entry that created the lot.
	EntryID string
	// Source is the credit's type (accrual, referral reward, ...).
	Source EntryType
	// OrderID is the order whose earn created the lot, so refunds find it.
	OrderID string
	// PartnerID is the coalition partner that issued the points, if any.
	PartnerID string
	// Points credited; Remaining is what is neither spent, held, clawed
	// back nor expired.
	Points    int64
	Remaining int64
	EarnedAt  time.Time
	// PendingUntil: the lot cannot be spent before this (return window);
	// zero means vested at once.
	PendingUntil time.Time
	// ExpiresAt: the lot's remainder expires at this instant; zero means
	// no date of its own.
	ExpiresAt time.Time
}

// Vested reports whether the lot's return window has passed.
func (l *Lot) Vested(now time.Time) bool {
	return l.PendingUntil.IsZero() || !now.Before(l.PendingUntil)
}

// Expired reports whether the lot's expiry has been reached.
func (l *Lot) Expired(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt)
}

// Spendable reports whether points can be drawn from the lot now.
func (l *Lot) Spendable(now time.Time) bool {
	return l.Remaining > 0 && l.Vested(now) && !l.Expired(now)
}

// Entry is one append-only ledger line. Points is signed: credits positive,
// debits negative.
type Entry struct {
	ID       string
	MemberID string
	Type     EntryType
	Points   int64
	// BalanceAfter is the ledger balance (sum of entries) after this entry.
	BalanceAfter int64
	OrderID      string
	// ReferenceID names what the entry is about: the redemption, hold,
	// refund, reward, transfer or reversed entry. The app layer makes
	// (type, reference) unique where an operation must happen once.
	ReferenceID string
	// RuleIDs are the earning rules that produced an accrual.
	RuleIDs     []string
	Description string
	// LotID is the lot a credit created.
	LotID string
	// Draws are the lots a debit consumed, or a reversal/release restored.
	Draws        []Draw
	PendingUntil time.Time
	ExpiresAt    time.Time
	// Actor is who made a manual adjustment; Reason why.
	Actor     string
	Reason    string
	PartnerID string
	CreatedAt time.Time
}

// DebtPolicy is what a clawback does when the points to take back were
// already spent.
type DebtPolicy int

const (
	// AllowNegative lets the balance go below zero; later credits pay it
	// off first, silently (the entries already account for it).
	AllowNegative DebtPolicy = iota
	// CapAtZero stops the balance at zero and records the rest as Debt,
	// which later credits pay off with an explicit clawback entry.
	CapAtZero
)

// String names the policy.
func (p DebtPolicy) String() string {
	switch p {
	case AllowNegative:
		return "allow_negative"
	case CapAtZero:
		return "cap_at_zero"
	}
	return fmt.Sprintf("DebtPolicy(%d)", int(p))
}

// Balances is what a member sees.
type Balances struct {
	// Available is spendable now (negative under AllowNegative after a clawback).
	Available int64
	// Pending is earned but inside the return window.
	Pending int64
	// Debt is owed under CapAtZero and not part of Available.
	Debt int64
}

// Expiring is an amount of points that expires at one instant.
type Expiring struct {
	Points    int64
	ExpiresAt time.Time
}
