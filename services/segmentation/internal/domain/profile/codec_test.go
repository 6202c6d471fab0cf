package profile

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func richProfile(t *testing.T) *Profile {
	t.Helper()
	t0 := time.Date(2025, 1, 10, 12, 0, 0, 5, time.UTC)
	p := New("c1")
	for _, err := range []error{
		p.ApplyCustomer(CustomerUpdate{EventID: "e1", At: t0, SignedUpAt: t0.AddDate(-1, 0, 0), Country: "DE", Consents: map[string]bool{"email": true}, Attributes: map[string]string{"vip": "yes"}}),
		p.ApplyOrder(OrderEvent{EventID: "o1", At: t0, OrderID: "o1", Status: StatusCompleted, PlacedAt: t0.AddDate(0, 0, -3), Channel: "web", Currency: "EUR", Total: 2500,
			Lines: []Line{{SKU: "a", Category: "garden", Quantity: 1, Amount: 2000}, {SKU: "b", Category: "toys", Quantity: 1, Amount: 500}}}),
		p.ApplyInteraction(Interaction{EventID: "i1", Kind: KindAddToCart, At: t0.Add(time.Hour), SKU: "c", Quantity: 1, Price: 900}),
		p.ApplySurvey(SurveyAnswer{ID: "s1", Kind: NPS, Score: 4, At: t0}),
		p.ApplyLoyalty(LoyaltyUpdate{EventID: "l1", At: t0, Tier: "gold"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestASnapshotSurvivesBinaryEncoding(t *testing.T) {
	t.Parallel()
	cases := map[string]*Profile{"an empty profile": New("c0"), "a profile with every kind of fact": richProfile(t)}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := TakeSnapshot(p, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), DefaultConfig("EUR"), nil)
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Snapshot
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, s)
			}
		})
	}
}

func FuzzSnapshotDecoding(f *testing.F) {
	s := TakeSnapshot(New("c0"), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), DefaultConfig("EUR"), nil)
	b, _ := s.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Snapshot
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrSnapshotFormat) {
				t.Fatalf("error %v is not ErrSnapshotFormat", err)
			}
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 Snapshot
		if err := s2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(s, s2) {
			t.Errorf("re-encoding a decoded snapshot changed it (%v)", err)
		}
	})
}

func TestADecoderReusingItsSnapshotDecodesEachLikeUnmarshalBinary(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	rich := richProfile(t)
	bigger := richProfile(t)
	if err := bigger.ApplyOrder(OrderEvent{EventID: "o2", At: at, OrderID: "o2", Status: StatusCompleted, PlacedAt: at.AddDate(0, 0, -1), Channel: "app", Currency: "EUR", Total: 900,
		Lines: []Line{{SKU: "k", Category: "kitchen", Quantity: 1, Amount: 900}}}); err != nil {
		t.Fatal(err)
	}
	// Larger, smaller, empty and larger again, so reused slices and maps
	// must shrink and grow without leftovers.
	d := NewDecoder()
	for i, p := range []*Profile{bigger, rich, New("c0"), bigger, rich} {
		s := TakeSnapshot(p, at, DefaultConfig("EUR"), nil)
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var want Snapshot
		if err := want.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		got, err := d.Decode(b)
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("snapshot %d: decoder gave\n%+v\nwant\n%+v", i, *got, want)
		}
	}
	if _, err := d.Decode([]byte{9}); !errors.Is(err, ErrSnapshotFormat) {
		t.Errorf("foreign bytes: expected ErrSnapshotFormat, got %v", err)
	}
}
