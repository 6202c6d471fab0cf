package ledger

import (
	"cmp"
	"slices"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// PartnerTotals are a partner's points issued and redeemed, the basis of a
// coalition settlement: partners pay the program for points they issue and
// are paid for points redeemed with them.
type PartnerTotals struct {
	PartnerID string
	Issued    int64
	Redeemed  int64
	// Reversed is points of the partner's entries reversed or clawed back.
	Reversed int64
	// Net is Issued - Redeemed - Reversed.
	Net int64
	// NetValue is Net at the program's conversion rate.
	NetValue money.Money
}

// Settlement sums entries per partner, sorted by partner id. Entries
// without a partner are ignored; the app layer feeds it the entries of the
// settlement period (or the SQL equivalent computes the same sums).
func Settlement(entries []Entry, conv money.Conversion) ([]PartnerTotals, error) {
	by := map[string]*PartnerTotals{}
	for _, e := range entries {
		if e.PartnerID == "" {
			continue
		}
		t, ok := by[e.PartnerID]
		if !ok {
			t = &PartnerTotals{PartnerID: e.PartnerID}
			by[e.PartnerID] = t
		}
		switch {
		case e.Type.isCredit():
			t.Issued += e.Points
		case e.Type == TypeRedemption:
			t.Redeemed -= e.Points
		case e.Type == TypeRefundClawback:
			t.Reversed -= e.Points
		}
	}
	out := make([]PartnerTotals, 0, len(by))
	for _, t := range by {
		t.Net = t.Issued - t.Redeemed - t.Reversed
		if conv.Points > 0 {
			neg := t.Net < 0
			v, err := conv.ValueOf(max(t.Net, -t.Net))
			if err != nil {
				return nil, err
			}
			if neg {
				v.Amount = -v.Amount
			}
			t.NetValue = v
		}
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b PartnerTotals) int { return cmp.Compare(a.PartnerID, b.PartnerID) })
	return out, nil
}

// Liability is the program's outstanding obligation: points members can
// still spend or will be able to (pending), valued at the conversion rate.
// Debt is not subtracted, because it is not collectable with certainty.
func Liability(outstanding int64, conv money.Conversion) (money.Money, error) {
	return conv.ValueOf(max(outstanding, 0))
}
