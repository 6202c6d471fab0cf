// Package domain is the pure core of the referral service: campaigns, codes,
// attribution, fraud rules, referrals and their rewards, and the funnel
// statistics, with no I/O. The sub-packages hold the types and rules; this
// file exists only to document the layout:
//
//   - validation: field-level input errors that ports map to InvalidArgument.
//   - rejection: the reason codes marketers see for every rejected referral.
//   - money: integer minor units with an ISO 4217 currency.
//   - code: referral code generation, vanity validation, parsing, share links.
//   - identity: canonical hashing of e-mail, phone and IP evidence.
//   - reward: reward specifications, stable reward ids and the reward lifecycle.
//   - campaign: the campaign model, its state machine, conditions, caps and budget.
//   - attribution: which click or code a sign-up is attributed to.
//   - fraud: the fraud rules as pure evaluators with evidence.
//   - referral: one friend's journey from sign-up to conversion, progress, nudges.
//   - stats: funnel math for campaign statistics.
//
// Rules never read the clock: callers pass now. Repository interfaces are
// declared beside the aggregate they store, for the adapters to implement.
package domain
