// Package domain is the pure core of the loyalty service: the points ledger
// and its lots, earning rules, tiers, expiry, rewards, challenges and
// recognition, with no I/O. Every rule that can be decided from values alone
// lives in one of its sub-packages so that it can be tested exhaustively and
// fuzzed without a database; the app layer loads state, calls these rules
// inside a transaction and persists what they return.
//
// Sub-packages, lowest first (imports only go down this list):
//
//	validation   field-level input errors (mapped to InvalidArgument in ports)
//	money        int64 minor units + ISO 4217 currency, rounding, points<->money conversion
//	expiry       when a lot expires (fixed period, month/quarter rounding, inactivity)
//	ledger       entries, lots, spending allocation, reversal, clawback, holds, transfers
//	earning      base rate, rules, caps, budgets, holdouts, refund clawback amounts
//	tier         qualification, upgrade/downgrade, overrides, paid tiers
//	reward       catalog rewards and redemption eligibility
//	challenge    stamp-card progress
//	recognition  birthday, anniversary and milestone occasions, once each
//	offer        "what does this member get right now"
package domain
