package app

import (
	"context"
	"fmt"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/recognition"
)

// recognitionPrefix marks recognition credits: their reference is
// "recognition:<occasion key>", and the unique index on bonus references
// makes each occasion pay once per member.
const recognitionPrefix = "recognition:"

// SetBirthday records a customer's birthday (from commerce.customers.v1),
// enrolling them at enrolledAt if the program has not seen them yet.
func (u *Unit) SetBirthday(ctx context.Context, memberID string, month, day int32, enrolledAt time.Time) error {
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return validation.Field("customer.birthday", "must be a valid month and day, got %d-%d", month, day)
	}
	if err := u.st.Q.SetBirthday(ctx, sqlc.SetBirthdayParams{CustomerID: memberID, EnrolledAt: enrolledAt, BirthMonth: month, BirthDay: day}); err != nil {
		return fmt.Errorf("birthday of %s: %w", memberID, err)
	}
	return nil
}

// Enroll records that a customer signed up at, which anniversaries count
// from (the earliest of the sign-up and when the program first saw them).
func (u *Unit) Enroll(ctx context.Context, memberID string, at time.Time) error {
	if err := u.st.Q.EnrollAt(ctx, sqlc.EnrollAtParams{CustomerID: memberID, EnrolledAt: at}); err != nil {
		return fmt.Errorf("enrol %s: %w", memberID, err)
	}
	return nil
}

func (c Config) recognitionOn() bool {
	r := c.Recognition
	return r.BirthdayPoints > 0 || r.AnniversaryPoints > 0 || len(r.OrderMilestones) > 0 || len(r.PointsMilestones) > 0
}

// recognize credits due occasions (birthdays, enrolment anniversaries,
// order and lifetime-points milestones) to a batch of members after
// *cursor, advancing it; it returns how many members it looked at.
func (u *Unit) recognize(ctx context.Context, cursor *string) (int, error) {
	cfg := u.a.cfg.Recognition
	if !u.a.cfg.recognitionOn() {
		return 0, nil
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	p := sqlc.RecognitionCandidatesParams{After: *cursor, Tz: loc.String(), Lim: batch}
	// The local dates whose birthdays and anniversaries may be inside the
	// grace period now (one day of slack: the domain decides exactly). A
	// 29 February is celebrated on the 28th in other years.
	local := u.now.In(loc)
	for d := 0; d <= int(cfg.Grace/(24*time.Hour))+1; d++ {
		t := local.AddDate(0, 0, -d)
		dates := []int32{int32(t.Month())*100 + int32(t.Day())}
		if t.Month() == time.February && t.Day() == 28 && time.Date(t.Year(), time.February, 29, 0, 0, 0, 0, loc).Month() != time.February {
			dates = append(dates, 229)
		}
		for _, date := range dates {
			if cfg.BirthdayPoints > 0 {
				p.BDates, p.BYears = append(p.BDates, date), append(p.BYears, int32(t.Year()))
			}
			if cfg.AnniversaryPoints > 0 {
				p.ADates, p.AYears = append(p.ADates, date), append(p.AYears, int32(t.Year()))
			}
		}
	}
	for _, m := range cfg.OrderMilestones {
		p.OrderThresholds = append(p.OrderThresholds, m.Threshold)
	}
	for _, m := range cfg.PointsMilestones {
		p.PointsThresholds = append(p.PointsThresholds, m.Threshold)
	}
	ids, err := u.st.Q.RecognitionCandidates(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("recognition candidates: %w", err)
	}
	for _, id := range ids {
		if err := u.recognizeMember(ctx, id); err != nil {
			return 0, err
		}
		*cursor = id
	}
	return len(ids), nil
}

func (u *Unit) recognizeMember(ctx context.Context, memberID string) error {
	acct, m, err := u.account(ctx, memberID, nil)
	if err != nil {
		return err
	}
	b, err := u.st.Q.GetBirthday(ctx, memberID)
	if err != nil {
		return fmt.Errorf("birthday of %s: %w", memberID, err)
	}
	due := u.a.cfg.Recognition.Due(recognition.Profile{BirthMonth: time.Month(b.BirthMonth), BirthDay: int(b.BirthDay), EnrolledAt: m.EnrolledAt,
		OrderCount: m.OrdersCount, LifetimePoints: m.LifetimePoints}, u.now)
	var earned int64
	for _, o := range due {
		ref := recognitionPrefix + o.Key
		done, err := u.st.Q.BonusExists(ctx, sqlc.BonusExistsParams{MemberID: memberID, ReferenceID: ref})
		if err != nil {
			return fmt.Errorf("recognition %s of %s: %w", ref, memberID, err)
		}
		if done {
			continue
		}
		if _, err := acct.Credit(ledger.Credit{Type: ledger.TypeAccrual, Points: o.Points, ReferenceID: ref, Description: o.Description,
			ExpiresAt: u.a.cfg.Program.Expiry.LotExpiry(u.now)}, u.now); err != nil {
			return err
		}
		earned += o.Points
	}
	if earned == 0 {
		return nil
	}
	if err := u.st.SaveAccount(ctx, acct, earned, 0); err != nil {
		return err
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{source: eventsv1.EarnSource_EARN_SOURCE_BONUS}); err != nil {
		return err
	}
	return u.evaluateTier(ctx, memberID, m.Tier)
}
