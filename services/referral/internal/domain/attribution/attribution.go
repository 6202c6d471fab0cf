// Package attribution decides which referral code a new customer's sign-up
// is credited to.
//
// # Model
//
// The default model is last click within the window: among the touches
// that happened at or before the sign-up and no longer ago than the window,
// the most recent wins. Touches are the clicks recorded for the friend's
// device and, when the sign-up carries a code (typed in or passed by the
// storefront), that code as a touch at the sign-up time, so an explicit code
// always beats an older click from another referrer. Ties on time are broken
// by the higher click id, which makes the result independent of the order
// the repository returns clicks in. First click within the window is
// available for campaigns that want to reward the original introducer.
//
// Clicks are matched by device id, plus the one click the sign-up names by
// its id (the storefront kept the id RecordClick returned, which also works
// when the device id changed between click and sign-up, e.g. another
// browser on the same phone). IP addresses are never matched: they are
// shared (offices, mobile carriers) and would attribute strangers to each
// other.
package attribution

import (
	"context"
	"errors"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
)

// ErrNoTouch is returned when no click or code can be credited.
var ErrNoTouch = errors.New("no referral touch to attribute")

// Model is an attribution model.
type Model string

// Models.
const (
	LastClick  Model = "last_click"
	FirstClick Model = "first_click"
)

// Click is one recorded visit through a share link.
type Click struct {
	ID         string
	Code       code.Code
	CampaignID string
	DeviceID   string
	IPHash     string
	At         time.Time
}

// Validate checks a click before it is stored.
func (c Click) Validate() error {
	var v validation.Collector
	if c.Code == "" {
		v.Add("code", "is required")
	}
	if c.DeviceID == "" && c.IPHash == "" {
		v.Add("device_id", "a device id or an IP hash is required")
	}
	if c.At.IsZero() {
		v.Add("at", "is required")
	}
	return v.Err()
}

// SignUp is the friend's registration as reported to the attribution API.
type SignUp struct {
	FriendID string
	// Code is the code carried by the sign-up, if any.
	Code code.Code
	// ClickID names the click the friend came from, if known; that click is
	// a touch whatever its device.
	ClickID   string
	DeviceID  string
	IPHash    string
	EmailHash string
	PhoneHash string
	// EmailDomain is kept in clear for the disposable-domain rule.
	EmailDomain string
	At          time.Time
}

// Validate checks a sign-up request.
func (s SignUp) Validate() error {
	var v validation.Collector
	if s.FriendID == "" {
		v.Add("friend_customer_id", "is required")
	}
	if s.Code == "" && s.DeviceID == "" && s.ClickID == "" {
		v.Add("code", "a code, a click id or a device id with a recorded click is required")
	}
	if s.At.IsZero() {
		v.Add("at", "is required")
	}
	return v.Err()
}

// Touch is the credited code and where it came from.
type Touch struct {
	Code code.Code
	// ClickID is empty when the code came with the sign-up itself.
	ClickID string
	// ClickedAt is the click time, zero for a code typed in at sign-up.
	ClickedAt time.Time
	Model     Model
	// Considered counts the touches that were inside the window, evidence
	// for support questions ("I clicked two links").
	Considered int
}

// Attribute credits a sign-up to one touch under model and window (zero
// window = clicks never expire). clicks may contain clicks of other devices
// or outside the window; they are filtered here so the rule lives in one
// place.
func Attribute(s SignUp, clicks []Click, model Model, window time.Duration) (Touch, error) {
	if model == "" {
		model = LastClick
	}
	var best, sameCode *Click
	considered := 0
	better := func(c, b *Click) bool {
		if !c.At.Equal(b.At) {
			if model == FirstClick {
				return c.At.Before(b.At)
			}
			return c.At.After(b.At)
		}
		return c.ID > b.ID
	}
	for i := range clicks {
		c := &clicks[i]
		named := s.ClickID != "" && c.ID == s.ClickID
		if !named && (c.DeviceID == "" || c.DeviceID != s.DeviceID) || c.At.After(s.At) {
			continue
		}
		if window > 0 && s.At.Sub(c.At) > window {
			continue
		}
		considered++
		if best == nil || better(c, best) {
			best = c
		}
		if s.Code != "" && c.Code == s.Code && (sameCode == nil || c.At.After(sameCode.At) || c.At.Equal(sameCode.At) && c.ID > sameCode.ID) {
			sameCode = c
		}
	}
	if s.Code != "" {
		considered++
		// Under last click the sign-up's own code is the latest touch; under
		// first click it wins only when no click is in the window. When the
		// device also clicked that code, the latest such click is kept so a
		// click-anchored window is measured from it.
		if model == LastClick || best == nil {
			t := Touch{Code: s.Code, Model: model, Considered: considered}
			if sameCode != nil {
				t.ClickID, t.ClickedAt = sameCode.ID, sameCode.At
			}
			return t, nil
		}
	}
	if best == nil {
		return Touch{}, ErrNoTouch
	}
	return Touch{Code: best.Code, ClickID: best.ID, ClickedAt: best.At, Model: model, Considered: considered}, nil
}

// ClickRepository stores clicks.
type ClickRepository interface {
	Add(ctx context.Context, c Click) error
	// ForDevice lists a device's clicks at or after since, for Attribute.
	ForDevice(ctx context.Context, deviceID string, since time.Time) ([]Click, error)
}
