package profile

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
)

func TestTraitsUseTheFittedModelForRepeatCustomersOnly(t *testing.T) {
	t.Parallel()
	m := &clv.Model{
		Purchases: clv.BGNBD{R: 0.8, Alpha: 30, A: 1.5, B: 4},
		Spend:     clv.GammaGamma{P: 6, Q: 4, V: 1500},
		Options:   clv.Options{HorizonDays: 365, Margin: 1},
	}
	l := Line{SKU: "a", Quantity: 1, Amount: 20_00}
	cfg := DefaultConfig("EUR")
	at := t0.Add(days(100))

	repeat := build(t, []event{order("e1", "o1", StatusPlaced, t0, l), order("e2", "o2", StatusPlaced, t0.Add(days(30)), l)})
	got := ComputeTraits(repeat, at, cfg, m)
	want := m.Predict(clv.Customer{Frequency: 1, Recency: 30, Age: 100, MeanValue: 20_00})
	if math.Abs(got.ProbAlive-want.ProbAlive) > 1e-9 || got.CLV != want.CLV || got.CLV <= 0 {
		t.Errorf("expected the model's P(alive) %.4f and CLV %d, got %.4f and %d", want.ProbAlive, want.CLV, got.ProbAlive, got.CLV)
	}

	single := build(t, []event{order("e1", "o1", StatusPlaced, t0, l)})
	got = ComputeTraits(single, at, cfg, m)
	heuristic := ComputeTraits(single, at, cfg, nil)
	if got.ChurnRisk != heuristic.ChurnRisk || got.ChurnRisk == 0 {
		t.Errorf("expected a one-order customer to keep the heuristic churn risk %.4f, got %.4f", heuristic.ChurnRisk, got.ChurnRisk)
	}
	if got.CLV <= 0 {
		t.Errorf("expected a positive CLV from the population mean spend, got %d", got.CLV)
	}
}

func TestRFMInputComesFromTheTraits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		traits Traits
		want   rfm.Customer
		ok     bool
	}{
		{"a customer without orders is not scored", Traits{RecencyDays: -1}, rfm.Customer{}, false},
		{"a buyer is scored on recency, count and spend", Traits{OrderCount: 3, RecencyDays: 12, TotalSpend: 99_00}, rfm.Customer{ID: "c", RecencyDays: 12, Frequency: 3, Monetary: 99_00}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := RFMCustomer("c", tt.traits)
			if ok != tt.ok || got != tt.want {
				t.Errorf("expected %+v (%v), got %+v (%v)", tt.want, tt.ok, got, ok)
			}
		})
	}
	if got := RFMScoreOf(rfm.Score{R: 5, F: 4, M: 3, Group: rfm.Loyal}); got != (RFMScore{R: 5, F: 4, M: 3, Group: "Loyal"}) {
		t.Errorf("expected 543 Loyal, got %+v", got)
	}
}

// FuzzMergeIsOrderIndependent decodes a byte string into a sequence of
// small events over few ids (so they collide), applies it forwards and
// backwards, and requires the same profile.
func FuzzMergeIsOrderIndependent(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 1, 1, 17, 33, 49, 2, 18, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		var evs []event
		for i := 0; i+1 < len(data) && len(evs) < 40; i += 2 {
			op, arg := data[i], data[i+1]
			id := fmt.Sprint(arg % 4)
			at := t0.Add(days(int(arg % 16)))
			l := Line{SKU: "s" + id, Category: "c" + fmt.Sprint(arg%3), Quantity: 1, Amount: int64(arg) * 100}
			switch op % 6 {
			case 0:
				evs = append(evs, order(fmt.Sprint("e", op, arg), "o"+id, StatusPlaced, at, l))
			case 1:
				evs = append(evs, order(fmt.Sprint("e", op, arg), "o"+id, OrderStatus(1+arg%3), at))
			case 2:
				evs = append(evs, refund("r"+id, "o"+fmt.Sprint(arg%2), at, int64(arg)*50))
			case 3:
				evs = append(evs, func(p *Profile) error {
					return p.ApplyLoyalty(LoyaltyUpdate{EventID: fmt.Sprint("l", arg), At: at, Tier: "t" + id, Balance: i64(int64(arg))})
				})
			case 4:
				evs = append(evs, func(p *Profile) error {
					return p.ApplySurvey(SurveyAnswer{ID: id, Kind: NPS, Score: int(arg % 11), At: at})
				})
			case 5:
				evs = append(evs, func(p *Profile) error {
					return p.ApplyInteraction(Interaction{EventID: id, Kind: KindAddToCart, At: at, SKU: "s" + fmt.Sprint(arg), Quantity: 1})
				})
			}
		}
		fwd, bwd := New("c"), New("c")
		for _, e := range evs {
			_ = e(fwd)
		}
		for i := len(evs) - 1; i >= 0; i-- {
			_ = evs[i](bwd)
			_ = evs[i](bwd) // and every event twice
		}
		if !reflect.DeepEqual(fwd, bwd) {
			t.Fatalf("expected the same profile in both orders\nforward  %+v\nbackward %+v", fwd, bwd)
		}
		now := t0.Add(days(30))
		cfg := DefaultConfig("EUR")
		if a, b := ComputeTraits(fwd, now, cfg, nil), ComputeTraits(bwd, now, cfg, nil); !reflect.DeepEqual(a, b) {
			t.Fatalf("expected the same traits\nforward  %+v\nbackward %+v", a, b)
		}
	})
}
