package app

import (
	"context"
	"errors"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

// SignUpInput is a friend's sign-up reported to the attribution API.
type SignUpInput struct {
	// Code is the code the friend used as typed; empty to attribute by the
	// device's clicks alone.
	Code        string
	FriendID    string
	ClickID     string
	EmailHash   string
	PhoneHash   string
	EmailDomain string
	DeviceID    string
	IPHash      string
	At          time.Time
}

// Attributed is the outcome of a sign-up. Referral is the stored referral
// (accepted or rejected with its decisions). When nothing could be stored,
// because the friend was referred before through another code or the code
// does not exist, Referral is zero and Rejection says why.
type Attributed struct {
	Referral  referral.Referral
	Rejection *rejection.Rejection
	Campaign  campaign.Campaign
}

// Attribute credits a friend's sign-up to a code (last click within the
// campaign's window by default; see the attribution package), screens it
// with the fraud rules and the referrer's eligibility, and stores the
// referral with every decision. A repeat of the same sign-up returns the
// stored referral.
func (a *App) Attribute(ctx context.Context, t *Tx, in SignUpInput) (Attributed, error) {
	var typed code.Code
	if in.Code != "" {
		c, err := code.Parse(in.Code)
		if err != nil {
			return Attributed{}, validation.Field("code", "is not a referral code")
		}
		typed = c
	}
	at := in.At
	if at.IsZero() {
		at = a.Now()
	}
	signUp := attribution.SignUp{
		FriendID: in.FriendID, Code: typed, ClickID: in.ClickID, DeviceID: in.DeviceID, IPHash: in.IPHash,
		EmailHash: in.EmailHash, PhoneHash: in.PhoneHash, EmailDomain: in.EmailDomain, At: at,
	}
	if err := signUp.Validate(); err != nil {
		return Attributed{}, err
	}
	if prev, err := t.store.ReferralByFriend(ctx, in.FriendID); err == nil {
		return a.alreadyReferred(ctx, t, prev, typed, at)
	} else if !errors.Is(err, referral.ErrNotFound) {
		return Attributed{}, err
	}

	window := campaign.MaxAttributionWindow
	model := attribution.LastClick
	var typedRec *code.Record
	if typed != "" {
		rec, err := t.store.GetCode(ctx, typed)
		switch {
		case errors.Is(err, code.ErrNotFound):
			// A code typed in may be a typo: answer with the reason, store nothing.
			return Attributed{Rejection: rejection.New(rejection.UnknownCode, "code_lookup", at, "code", string(typed))}, nil
		case err != nil:
			return Attributed{}, err
		}
		typedRec = &rec
		c, err := t.store.GetCampaign(ctx, rec.CampaignID)
		if err != nil {
			return Attributed{}, err
		}
		if c.Conditions.AttributionWindow > 0 {
			window = c.Conditions.AttributionWindow
		}
		model = c.Model()
	}
	var clicks []attribution.Click
	if in.DeviceID != "" {
		var err error
		if clicks, err = t.store.ClicksForDevice(ctx, in.DeviceID, at.Add(-window)); err != nil {
			return Attributed{}, err
		}
	}
	if in.ClickID != "" {
		named, err := t.store.GetClick(ctx, in.ClickID)
		if errors.Is(err, attribution.ErrNoTouch) {
			return Attributed{}, validation.Field("click_id", "is not a recorded click")
		}
		if err != nil {
			return Attributed{}, err
		}
		if !slices.ContainsFunc(clicks, func(c attribution.Click) bool { return c.ID == named.ID }) {
			clicks = append(clicks, named)
		}
	}
	if typed == "" {
		// Without a code the campaign of the latest touch decides the model
		// and the window, as a code typed in would.
		if latest, err := attribution.Attribute(signUp, clicks, attribution.LastClick, window); err == nil {
			i := slices.IndexFunc(clicks, func(c attribution.Click) bool { return c.ID == latest.ClickID })
			c, err := t.store.GetCampaign(ctx, clicks[i].CampaignID)
			if err != nil {
				return Attributed{}, err
			}
			if c.Conditions.AttributionWindow > 0 {
				window = c.Conditions.AttributionWindow
			}
			model = c.Model()
		}
	}
	touch, err := attribution.Attribute(signUp, clicks, model, window)
	if errors.Is(err, attribution.ErrNoTouch) {
		if in.ClickID != "" {
			return Attributed{}, validation.Field("click_id", "the click is after the sign-up or outside the attribution window")
		}
		return Attributed{}, validation.Field("code", "is required: no click was recorded for device_id %q", in.DeviceID)
	}
	if err != nil {
		return Attributed{}, err
	}
	rec := typedRec
	if rec == nil || rec.Code != touch.Code {
		r, err := t.store.GetCode(ctx, touch.Code)
		if err != nil {
			return Attributed{}, err
		}
		rec = &r
	}
	camp, err := t.store.GetCampaign(ctx, rec.CampaignID)
	if err != nil {
		return Attributed{}, err
	}
	screening, ineligible, err := a.screen(ctx, t, camp, *rec, touch, signUp)
	if err != nil {
		return Attributed{}, err
	}
	r, err := referral.Open(referral.OpenParams{Campaign: camp, Code: *rec, Touch: touch, SignUp: signUp, Screening: screening, Ineligible: ineligible})
	if err != nil {
		return Attributed{}, err
	}
	nudgeAt, _ := r.NudgeAt(camp)
	if err := t.store.CreateReferral(ctx, r, nudgeAt); err != nil {
		if errors.Is(err, referral.ErrAlreadyReferred) {
			// A concurrent sign-up of the same friend won; the retry of
			// the transaction will see it.
			return Attributed{}, err
		}
		return Attributed{}, err
	}
	if r.Stage == referral.StageRejected {
		t.emit(r.FriendID, rejectedEvent(r, r.Rejection, ""))
	} else {
		t.emit(r.FriendID, &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralAttributed{ReferralAttributed: &referraleventsv1.ReferralAttributed{
			AttributionId: r.ID, CampaignId: r.CampaignID, Code: string(r.Code), ReferrerCustomerId: r.ReferrerID,
			ReferredCustomerId: r.FriendID, ClickId: r.ClickID, OccurredAt: pbTime(r.SignedUpAt),
		}}})
	}
	return Attributed{Referral: r, Campaign: camp}, nil
}

// alreadyReferred answers a sign-up of a friend who has a referral: the
// same code (or none) is a retry and gets the stored referral; another code
// is rejected, and announced, without touching the first referral.
func (a *App) alreadyReferred(ctx context.Context, t *Tx, prev referral.Referral, typed code.Code, at time.Time) (Attributed, error) {
	camp, err := t.store.GetCampaign(ctx, prev.CampaignID)
	if err != nil {
		return Attributed{}, err
	}
	if typed == "" || typed == prev.Code {
		return Attributed{Referral: prev, Campaign: camp}, nil
	}
	why := rejection.New(rejection.AlreadyReferred, "already_referred", at, "code", string(typed))
	ev := &referraleventsv1.ReferralRejected{
		ReferredCustomerId: prev.FriendID, Reason: ReasonToProto(why.Reason), ReasonCode: string(why.Reason),
		Detail: why.Reason.Description(), Evidence: why.Evidence, OccurredAt: pbTime(at),
	}
	if rec, err := t.store.GetCode(ctx, typed); err == nil {
		ev.CampaignId = rec.CampaignID
		if rec.OwnerKind == code.OwnerCustomer {
			ev.ReferrerCustomerId = rec.OwnerID
		}
	}
	t.emit(prev.FriendID, &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralRejected{ReferralRejected: ev}})
	return Attributed{Rejection: why}, nil
}

// screen gathers the evidence the fraud rules and the eligibility check
// look at and runs them.
func (a *App) screen(ctx context.Context, t *Tx, camp campaign.Campaign, rec code.Record, touch attribution.Touch, s attribution.SignUp) (fraud.Result, *rejection.Rejection, error) {
	p := a.cfg.Fraud
	touchAt := touch.ClickedAt
	if touchAt.IsZero() {
		touchAt = s.At
	}
	friend, err := t.store.GetCustomer(ctx, s.FriendID)
	if err != nil {
		return fraud.Result{}, nil, err
	}
	ordersBefore, err := t.store.CountOrders(ctx, s.FriendID, touchAt)
	if err != nil {
		return fraud.Result{}, nil, err
	}
	in := fraud.Input{
		Friend: fraud.Friend{
			CustomerID: s.FriendID, EmailHash: or(s.EmailHash, friend.EmailHash), PhoneHash: or(s.PhoneHash, friend.PhoneHash),
			EmailDomain: s.EmailDomain, DeviceID: s.DeviceID, IPHash: s.IPHash,
			CustomerSince: friend.CustomerSince, OrdersBefore: ordersBefore,
		},
		TouchAt: touchAt, SignUpAt: s.At,
	}
	var ineligible *rejection.Rejection
	if rec.OwnerKind == code.OwnerCustomer {
		ref, err := t.store.GetCustomer(ctx, rec.OwnerID)
		if err != nil {
			return fraud.Result{}, nil, err
		}
		devices, err := t.store.ReferrerDevices(ctx, rec.OwnerID)
		if err != nil {
			return fraud.Result{}, nil, err
		}
		in.Referrer = fraud.Referrer{CustomerID: rec.OwnerID, EmailHash: ref.EmailHash, PhoneHash: ref.PhoneHash, DeviceIDs: slices.Concat(ref.DeviceIDs, devices)}
		orders, err := t.store.CountOrders(ctx, rec.OwnerID, time.Time{})
		if err != nil {
			return fraud.Result{}, nil, err
		}
		ineligible = camp.Eligibility.Check(rec.OwnerID, campaign.ReferrerFacts{Segments: ref.Segments, OrderCount: orders, Tier: ref.Tier}, s.At)
	} else {
		in.Referrer = fraud.Referrer{CustomerID: rec.OwnerID}
	}
	if p.MaxSignUpsPerIP > 0 {
		if in.SignUpsFromIP, err = t.store.SignUpTimesByIP(ctx, s.IPHash, s.At.Add(-p.IPWindow)); err != nil {
			return fraud.Result{}, nil, err
		}
	}
	if p.MaxSignUpsPerDevice > 0 {
		if in.SignUpsFromDevice, err = t.store.SignUpTimesByDevice(ctx, s.DeviceID, s.At.Add(-p.DeviceWindow)); err != nil {
			return fraud.Result{}, nil, err
		}
	}
	return fraud.Screen(p, in), ineligible, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rejectedEvent announces a rejected referral (or voided rewards).
func rejectedEvent(r referral.Referral, why *rejection.Rejection, rewardID string) *referraleventsv1.ReferralEvent {
	ev := &referraleventsv1.ReferralRejected{
		AttributionId: r.ID, CampaignId: r.CampaignID, ReferredCustomerId: r.FriendID, RewardId: rewardID,
	}
	if r.ReferrerKind == code.OwnerCustomer {
		ev.ReferrerCustomerId = r.ReferrerID
	}
	if why != nil {
		ev.Reason, ev.ReasonCode, ev.Detail, ev.Evidence, ev.OccurredAt = ReasonToProto(why.Reason), string(why.Reason), why.Reason.Description(), why.Evidence, pbTime(why.At)
	}
	return &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralRejected{ReferralRejected: ev}}
}
