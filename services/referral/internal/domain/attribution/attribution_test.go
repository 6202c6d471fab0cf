package attribution_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
)

var signUpAt = time.Date(2026, 6, 10, 18, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func click(id string, c code.Code, device string, ago time.Duration) attribution.Click {
	return attribution.Click{ID: id, Code: c, CampaignID: "c1", DeviceID: device, At: signUpAt.Add(-ago)}
}

func TestAttribute(t *testing.T) {
	t.Parallel()
	clicks := []attribution.Click{
		click("k1", "AAAA2222", "dev1", 20*day),
		click("k2", "BBBB3333", "dev1", 5*day),
		click("k3", "CCCC4444", "dev1", 40*day),     // outside a 30-day window
		click("k4", "DDDD5555", "dev2", time.Hour),  // another device
		click("k5", "EEEE6666", "dev1", -time.Hour), // after the sign-up
	}
	tests := []struct {
		name       string
		signUp     attribution.SignUp
		model      attribution.Model
		window     time.Duration
		want       code.Code
		clickID    string
		considered int
		none       bool
	}{
		{name: "the last click in the window wins", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", At: signUpAt}, window: 30 * day, want: "BBBB3333", clickID: "k2", considered: 2},
		{name: "the first click in the window wins under first click", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", At: signUpAt}, model: attribution.FirstClick, window: 30 * day, want: "AAAA2222", clickID: "k1", considered: 2},
		{name: "a zero window keeps every earlier click", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", At: signUpAt}, model: attribution.FirstClick, want: "CCCC4444", clickID: "k3", considered: 3},
		{name: "a code typed at sign-up beats older clicks", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", Code: "ZZZZ9999", At: signUpAt}, window: 30 * day, want: "ZZZZ9999", considered: 3},
		{name: "a code typed at sign-up keeps its own click time", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", Code: "AAAA2222", At: signUpAt}, window: 30 * day, want: "AAAA2222", clickID: "k1", considered: 3},
		{name: "under first click a typed code loses to a click in the window", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", Code: "ZZZZ9999", At: signUpAt}, model: attribution.FirstClick, window: 30 * day, want: "AAAA2222", clickID: "k1", considered: 3},
		{name: "a typed code alone is attributed", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev9", Code: "ZZZZ9999", At: signUpAt}, window: 30 * day, want: "ZZZZ9999", considered: 1},
		{name: "clicks of other devices are never used", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev3", At: signUpAt}, window: 30 * day, none: true},
		{name: "a click named by its id counts whatever its device", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev3", ClickID: "k4", At: signUpAt}, window: 30 * day, want: "DDDD5555", clickID: "k4", considered: 1},
		{name: "a named click competes with the device's clicks", signUp: attribution.SignUp{FriendID: "f", DeviceID: "dev1", ClickID: "k4", At: signUpAt}, window: 30 * day, want: "DDDD5555", clickID: "k4", considered: 3},
		{name: "a named click outside the window is not credited", signUp: attribution.SignUp{FriendID: "f", ClickID: "k3", At: signUpAt}, window: 30 * day, none: true},
		{name: "a named click after the sign-up is not credited", signUp: attribution.SignUp{FriendID: "f", ClickID: "k5", At: signUpAt}, window: 30 * day, none: true},
		{name: "a sign-up without a device matches no click", signUp: attribution.SignUp{FriendID: "f", At: signUpAt}, window: 30 * day, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := attribution.Attribute(tt.signUp, clicks, tt.model, tt.window)
			if tt.none {
				if !errors.Is(err, attribution.ErrNoTouch) {
					t.Fatalf("expected ErrNoTouch, got %+v, %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected a touch, got %v", err)
			}
			if got.Code != tt.want || got.ClickID != tt.clickID || got.Considered != tt.considered {
				t.Errorf("expected %s via %q of %d touches, got %s via %q of %d", tt.want, tt.clickID, tt.considered, got.Code, got.ClickID, got.Considered)
			}
			wantModel := tt.model
			if wantModel == "" {
				wantModel = attribution.LastClick
			}
			if got.Model != wantModel {
				t.Errorf("expected model %s, got %s", wantModel, got.Model)
			}
		})
	}
}

func TestAttributeIgnoresClickOrder(t *testing.T) {
	t.Parallel()
	// Two clicks at the same instant: the higher id wins whatever the order.
	clicks := []attribution.Click{
		click("k1", "AAAA2222", "dev1", day), click("k2", "BBBB3333", "dev1", day),
		click("k0", "CCCC4444", "dev1", 2*day), click("k3", "DDDD5555", "dev1", 3*day),
	}
	s := attribution.SignUp{FriendID: "f", DeviceID: "dev1", At: signUpAt}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		shuffled := slices.Clone(clicks)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := attribution.Attribute(s, shuffled, attribution.LastClick, 7*day)
		if err != nil || got.ClickID != "k2" {
			t.Fatalf("expected k2 whatever the order, got %+v, %v", got, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		fields []string
	}{
		{name: "a complete click is valid", err: click("k", "AAAA2222", "d", 0).Validate()},
		{name: "a click needs a code, an identifier and a time", err: attribution.Click{}.Validate(), fields: []string{"code", "device_id", "at"}},
		{name: "a sign-up with a code is valid", err: attribution.SignUp{FriendID: "f", Code: "AAAA2222", At: signUpAt}.Validate()},
		{name: "a sign-up needs a friend, a code or device, and a time", err: attribution.SignUp{}.Validate(), fields: []string{"friend_customer_id", "code", "at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validation.Fields(tt.err); !slices.Equal(got, tt.fields) {
				t.Errorf("expected violations %v, got %v", tt.fields, got)
			}
		})
	}
}

func BenchmarkAttribute(b *testing.B) {
	clicks := make([]attribution.Click, 20)
	for i := range clicks {
		clicks[i] = click(string(rune('a'+i)), "AAAA2222", "dev1", time.Duration(i)*time.Hour)
	}
	s := attribution.SignUp{FriendID: "f", DeviceID: "dev1", At: signUpAt}
	for b.Loop() {
		if _, err := attribution.Attribute(s, clicks, attribution.LastClick, 30*day); err != nil {
			b.Fatal(err)
		}
	}
}
