package ledger

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

var t0 = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func counter() IDSource {
	n := 0
	return func() string { n++; return fmt.Sprintf("id%03d", n) }
}

// assertInvariant checks the ledger's core promise on the account: the
// balance is the sum of all entries written, and equals lots minus deficit.
func assertInvariant(t *testing.T, a *Account, start int64) {
	t.Helper()
	if err := a.check(); err != nil {
		t.Fatalf("expected the invariant to hold, got %v", err)
	}
	sum := start
	for _, e := range a.Changes().Entries {
		sum += e.Points
	}
	if sum != a.State().Balance {
		t.Fatalf("expected balance %d to equal the sum of entries %d", a.State().Balance, sum)
	}
}

func mustCredit(t *testing.T, a *Account, c Credit, now time.Time) Lot {
	t.Helper()
	if c.Type == TypeUnspecified {
		c.Type = TypeAccrual
	}
	es, err := a.Credit(c, now)
	if err != nil {
		t.Fatalf("expected credit to succeed, got %v", err)
	}
	l, _ := a.Lot(es[0].LotID)
	return l
}

func TestSpendAllocatesSoonestExpiryFirst(t *testing.T) {
	t.Parallel()
	a := Open("m1", counter())
	late := mustCredit(t, a, Credit{Points: 100, ExpiresAt: day(300)}, t0)
	never := mustCredit(t, a, Credit{Points: 100}, t0)
	soon := mustCredit(t, a, Credit{Points: 100, ExpiresAt: day(100)}, t0)
	pending := mustCredit(t, a, Credit{Points: 100, PendingUntil: day(30), ExpiresAt: day(50)}, t0)
	tests := []struct {
		name      string
		points    int64
		wantDraws []Draw
		wantErr   error
	}{
		{"a small spend comes from the soonest-expiring lot", 50, []Draw{{soon.ID, 50}}, nil},
		{"a spend crossing lots drains them in expiry order and undated lots last", 250,
			[]Draw{{soon.ID, 100}, {late.ID, 100}, {never.ID, 50}}, nil},
		{"pending points cannot be spent", 301, nil, ErrInsufficientPoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Restore(a.State(), a.Lots(), counter())
			if err != nil {
				t.Fatalf("expected restore to succeed, got %v", err)
			}
			e, err := b.Spend(Spend{Type: TypeRedemption, Points: tt.points, ReferenceID: "r"}, day(1))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected error %v, got %v", tt.wantErr, err)
			}
			if err != nil {
				if n := len(b.Changes().Entries); n != 0 {
					t.Errorf("expected a failed spend to write nothing, got %d entries", n)
				}
				var ie *InsufficientPointsError
				if !errors.As(err, &ie) || ie.Available != 300 {
					t.Errorf("expected 300 available in the error, got %v", err)
				}
				return
			}
			if !slices.Equal(e.Draws, tt.wantDraws) {
				t.Errorf("expected draws %v, got %v", tt.wantDraws, e.Draws)
			}
			if l, _ := b.Lot(pending.ID); l.Remaining != 100 {
				t.Errorf("expected the pending lot untouched, got %d left", l.Remaining)
			}
			assertInvariant(t, b, a.State().Balance)
		})
	}
}

func TestReverseRestoresTheExactLots(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reverseAt     time.Time
		wantAvailable int64
		wantExpired   int64
	}{
		{"a reversal before expiry gives back spendable points", day(5), 300, 0},
		{"a reversal after a lot expired gives the points back and expires them at once", day(20), 200, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Open("m1", counter())
			soon := mustCredit(t, a, Credit{Points: 100, ExpiresAt: day(10)}, t0)
			later := mustCredit(t, a, Credit{Points: 200, ExpiresAt: day(400)}, t0)
			red, err := a.Spend(Spend{Type: TypeRedemption, Points: 150, ReferenceID: "r1"}, day(1))
			if err != nil {
				t.Fatalf("expected spend to succeed, got %v", err)
			}
			es, err := a.Reverse(red, "reward cancelled", tt.reverseAt)
			if err != nil {
				t.Fatalf("expected reversal to succeed, got %v", err)
			}
			if es[0].Type != TypeReversal || es[0].Points != 150 || !slices.Equal(es[0].Draws, red.Draws) {
				t.Errorf("expected a +150 reversal with the original draws %v, got %+v", red.Draws, es[0])
			}
			var expired int64
			for _, e := range es[1:] {
				if e.Type == TypeExpiration {
					expired -= e.Points
				}
			}
			if expired != tt.wantExpired {
				t.Errorf("expected %d points expired by the reversal, got %d", tt.wantExpired, expired)
			}
			if l, _ := a.Lot(later.ID); l.Remaining != 200 {
				t.Errorf("expected the later lot back at 200, got %d", l.Remaining)
			}
			if l, _ := a.Lot(soon.ID); l.ExpiresAt != day(10) {
				t.Errorf("expected the original expiry kept, got %v", l.ExpiresAt)
			}
			if got := a.Balances(tt.reverseAt).Available; got != tt.wantAvailable {
				t.Errorf("expected %d available, got %d", tt.wantAvailable, got)
			}
			assertInvariant(t, a, 0)
		})
	}
}

func TestReverseRefusesCredits(t *testing.T) {
	t.Parallel()
	a := Open("m1", counter())
	es, _ := a.Credit(Credit{Type: TypeAccrual, Points: 10}, t0)
	if _, err := a.Reverse(es[0], "", t0); !errors.Is(err, ErrNotReversible) {
		t.Errorf("expected ErrNotReversible for an accrual, got %v", err)
	}
}

func TestClawback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		policy        DebtPolicy
		pendingUntil  time.Time
		spend         int64
		claw          int64
		at            time.Time
		wantFromOrder int64
		wantFromOther int64
		wantShortfall int64
		wantAvailable int64
		wantPending   int64
		wantDebt      int64
	}{
		{"a refund inside the return window removes pending points only", AllowNegative, day(14), 0, 40, day(2), 40, 0, 0, 500, 60, 0},
		{"a partial refund after a partial spend takes what is left of the order", AllowNegative, time.Time{}, 50, 40, day(2), 40, 0, 0, 510, 0, 0},
		{"spent order points come from other lots next", AllowNegative, time.Time{}, 580, 40, day(2), 0, 20, 20, -20, 0, 0},
		{"allow negative takes the balance below zero", AllowNegative, time.Time{}, 600, 100, day(2), 0, 0, 100, -100, 0, 0},
		{"cap at zero records the rest as debt", CapAtZero, time.Time{}, 590, 100, day(2), 0, 10, 90, 0, 0, 90},
		{"other lots pay when the order's lots are drained", CapAtZero, time.Time{}, 100, 100, day(2), 0, 100, 0, 400, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Open("m1", counter())
			mustCredit(t, a, Credit{Points: 500, ExpiresAt: day(365)}, t0)
			order := mustCredit(t, a, Credit{Points: 100, OrderID: "o1", PendingUntil: tt.pendingUntil, ExpiresAt: day(30)}, t0)
			if tt.spend > 0 {
				if _, err := a.Spend(Spend{Type: TypeRedemption, Points: tt.spend}, day(1)); err != nil {
					t.Fatalf("expected spend to succeed, got %v", err)
				}
			}
			_ = order
			res, err := a.Clawback(Clawback{OrderID: "o1", Points: tt.claw, ReferenceID: "refund1", Policy: tt.policy}, tt.at)
			if err != nil {
				t.Fatalf("expected clawback to succeed, got %v", err)
			}
			if res.FromOrder != tt.wantFromOrder || res.FromOther != tt.wantFromOther || res.Shortfall != tt.wantShortfall {
				t.Errorf("expected from order/other/shortfall %d/%d/%d, got %d/%d/%d", tt.wantFromOrder, tt.wantFromOther,
					tt.wantShortfall, res.FromOrder, res.FromOther, res.Shortfall)
			}
			b := a.Balances(tt.at)
			if b.Available != tt.wantAvailable || b.Pending != tt.wantPending || b.Debt != tt.wantDebt {
				t.Errorf("expected available/pending/debt %d/%d/%d, got %d/%d/%d", tt.wantAvailable, tt.wantPending,
					tt.wantDebt, b.Available, b.Pending, b.Debt)
			}
			assertInvariant(t, a, 0)
		})
	}
}

func TestDebtIsPaidByLaterCredits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		policy        DebtPolicy
		wantAvailable int64
		wantEntries   []EntryType
	}{
		{"a negative balance is offset silently by the next credit", AllowNegative, 30, []EntryType{TypeAccrual}},
		{"debt is collected from the next credit with a clawback entry", CapAtZero, 30, []EntryType{TypeAccrual, TypeRefundClawback}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Open("m1", counter())
			mustCredit(t, a, Credit{Points: 100, OrderID: "o1"}, t0)
			if _, err := a.Spend(Spend{Type: TypeRedemption, Points: 100}, t0); err != nil {
				t.Fatalf("expected spend to succeed, got %v", err)
			}
			if _, err := a.Clawback(Clawback{OrderID: "o1", Points: 70, Policy: tt.policy}, day(1)); err != nil {
				t.Fatalf("expected clawback to succeed, got %v", err)
			}
			es, err := a.Credit(Credit{Type: TypeAccrual, Points: 100, OrderID: "o2"}, day(2))
			if err != nil {
				t.Fatalf("expected credit to succeed, got %v", err)
			}
			var types []EntryType
			for _, e := range es {
				types = append(types, e.Type)
			}
			if !slices.Equal(types, tt.wantEntries) {
				t.Errorf("expected entries %v, got %v", tt.wantEntries, types)
			}
			b := a.Balances(day(2))
			if b.Available != tt.wantAvailable || b.Debt != 0 || a.State().Deficit != 0 {
				t.Errorf("expected %d available and no debt or deficit, got %+v deficit %d", tt.wantAvailable, b, a.State().Deficit)
			}
			assertInvariant(t, a, 0)
		})
	}
}

func TestHolds(t *testing.T) {
	t.Parallel()
	h12 := t0.Add(12 * time.Hour)
	tests := []struct {
		name          string
		op            func(a *Account, h *Hold) ([]Entry, error)
		wantErr       error
		wantStatus    HoldStatus
		wantAvailable int64
		at            time.Time
	}{
		{"a full capture redeems the held points", func(a *Account, h *Hold) ([]Entry, error) { return a.CaptureHold(h, 150, h12) },
			nil, HoldCaptured, 50, h12},
		{"a partial capture returns the rest", func(a *Account, h *Hold) ([]Entry, error) { return a.CaptureHold(h, 100, h12) },
			nil, HoldCaptured, 100, h12},
		{"a release returns everything", func(a *Account, h *Hold) ([]Entry, error) { return a.ReleaseHold(h, h12) },
			nil, HoldReleased, 200, h12},
		{"a lot expiring between hold and capture is still honoured", func(a *Account, h *Hold) ([]Entry, error) {
			return a.CaptureHold(h, 150, t0.Add(23*time.Hour))
		}, nil, HoldCaptured, 50, t0.Add(23 * time.Hour)},
		{"a partial capture after a held lot expired expires the returned rest", func(a *Account, h *Hold) ([]Entry, error) {
			return a.CaptureHold(h, 40, t0.Add(23*time.Hour))
		}, nil, HoldCaptured, 100, t0.Add(23 * time.Hour)},
		{"a capture after the TTL is refused", func(a *Account, h *Hold) ([]Entry, error) { return a.CaptureHold(h, 150, day(2)) },
			ErrHoldExpired, HoldActive, 50, h12},
		{"the expiry job releases a hold past its TTL as expired", func(a *Account, h *Hold) ([]Entry, error) { return a.ReleaseHold(h, day(2)) },
			nil, HoldExpired, 100, day(2)},
		{"capturing more than was held is invalid", func(a *Account, h *Hold) ([]Entry, error) { return a.CaptureHold(h, 151, h12) },
			ErrInvalidForTest, HoldActive, 50, h12},
		{"a second capture is refused", func(a *Account, h *Hold) ([]Entry, error) {
			if _, err := a.CaptureHold(h, 150, h12); err != nil {
				return nil, err
			}
			return a.CaptureHold(h, 150, h12)
		}, ErrHoldClosed, HoldCaptured, 50, h12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Open("m1", counter())
			// 100 points expiring 20h after t0 and 100 later: the hold takes
			// all of the first and half of the second.
			mustCredit(t, a, Credit{Points: 100, ExpiresAt: t0.Add(20 * time.Hour)}, t0.Add(-time.Hour))
			mustCredit(t, a, Credit{Points: 100, ExpiresAt: day(100)}, t0.Add(-time.Hour))
			h, _, err := a.PlaceHold(HoldRequest{OrderID: "o1", Points: 150, TTL: 24 * time.Hour}, t0)
			if err != nil {
				t.Fatalf("expected the hold to be placed, got %v", err)
			}
			if got := a.Balances(t0).Available; got != 50 {
				t.Fatalf("expected 50 available while 150 are held, got %d", got)
			}
			_, err = tt.op(a, h)
			if tt.wantErr == ErrInvalidForTest {
				if err == nil {
					t.Fatalf("expected a validation error, got nil")
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected error %v, got %v", tt.wantErr, err)
			}
			if h.Status != tt.wantStatus {
				t.Errorf("expected status %s, got %s", tt.wantStatus, h.Status)
			}
			if got := a.Balances(tt.at).Available; got != tt.wantAvailable {
				t.Errorf("expected %d available, got %d", tt.wantAvailable, got)
			}
			assertInvariant(t, a, 0)
		})
	}
}

// ErrInvalidForTest marks rows that expect any validation error.
var ErrInvalidForTest = errors.New("any validation error")

func TestHoldsNeverOverdraw(t *testing.T) {
	t.Parallel()
	a := Open("m1", counter())
	mustCredit(t, a, Credit{Points: 37}, t0)
	ok := 0
	for i := 0; i < 200; i++ {
		if _, _, err := a.PlaceHold(HoldRequest{Points: 1, TTL: time.Hour}, t0); err == nil {
			ok++
		} else if !errors.Is(err, ErrInsufficientPoints) {
			t.Fatalf("expected ErrInsufficientPoints, got %v", err)
		}
	}
	if ok != 37 || a.Balances(t0).Available != 0 {
		t.Errorf("expected exactly 37 holds and 0 available, got %d holds and %d available", ok, a.Balances(t0).Available)
	}
	assertInvariant(t, a, 0)
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	a := Open("m1", counter())
	mustCredit(t, a, Credit{Points: 100, ExpiresAt: day(10)}, t0)
	mustCredit(t, a, Credit{Points: 50, ExpiresAt: day(10)}, t0)
	mustCredit(t, a, Credit{Points: 70, ExpiresAt: day(40)}, t0)
	mustCredit(t, a, Credit{Points: 30, PendingUntil: day(5)}, t0)
	if _, err := a.Spend(Spend{Type: TypeRedemption, Points: 120}, day(1)); err != nil {
		t.Fatalf("expected spend to succeed, got %v", err)
	}
	soon := a.ExpiringWithin(day(1), 30*24*time.Hour)
	if want := []Expiring{{30, day(10)}}; !slices.Equal(soon, want) {
		t.Errorf("expected %v expiring within 30 days, got %v", want, soon)
	}
	if w := a.ExpiryWarnings(day(1), 10*24*time.Hour); len(w) != 1 || w[0].Remaining != 30 {
		t.Errorf("expected a warning for the one lot with 30 points left expiring within 10 days, got %+v", w)
	}
	es := a.ExpireDue(day(10))
	if len(es) != 1 || es[0].Points != -30 {
		t.Fatalf("expected one expiration of 30 points, got %+v", es)
	}
	if again := a.ExpireDue(day(10)); len(again) != 0 {
		t.Errorf("expected a second run to expire nothing, got %d entries", len(again))
	}
	e, ok := a.ExpireAll(day(11))
	if !ok || e.Points != -100 {
		t.Errorf("expected inactivity to expire the 100 vested points left, got %+v", e)
	}
	assertInvariant(t, a, 0)
}

func TestTransferKeepsExpiry(t *testing.T) {
	t.Parallel()
	ids := counter()
	from, to := Open("m1", ids), Open("m2", ids)
	mustCredit(t, from, Credit{Points: 100, ExpiresAt: day(10)}, t0)
	mustCredit(t, from, Credit{Points: 100, ExpiresAt: day(20)}, t0)
	tr, _, err := from.TransferOut("m2", 150, day(1))
	if err != nil {
		t.Fatalf("expected transfer out to succeed, got %v", err)
	}
	if _, err := to.TransferIn(tr, day(1)); err != nil {
		t.Fatalf("expected transfer in to succeed, got %v", err)
	}
	got := to.ExpiringWithin(day(1), 365*24*time.Hour)
	if want := []Expiring{{100, day(10)}, {50, day(20)}}; !slices.Equal(got, want) {
		t.Errorf("expected the receiver to get %v, got %v", want, got)
	}
	if _, _, err := from.TransferOut("m1", 1, day(1)); err == nil {
		t.Errorf("expected a transfer to oneself to be refused")
	}
	assertInvariant(t, from, 0)
	assertInvariant(t, to, 0)
}

func TestCreditValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Credit
	}{
		{"zero points are invalid", Credit{Type: TypeAccrual}},
		{"a debit type cannot credit", Credit{Type: TypeRedemption, Points: 1}},
		{"pending past expiry is invalid", Credit{Type: TypeAccrual, Points: 1, PendingUntil: day(5), ExpiresAt: day(4)}},
		{"an adjustment needs an actor and a reason", Credit{Type: TypeAdjustment, Points: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Open("m1", counter())
			if _, err := a.Credit(tt.c, t0); err == nil {
				t.Errorf("expected %+v to be refused", tt.c)
			}
			if n := len(a.Changes().Entries); n != 0 {
				t.Errorf("expected nothing written, got %d entries", n)
			}
		})
	}
}

func TestLateCreditExpiresAtOnce(t *testing.T) {
	t.Parallel()
	a := Open("m1", counter())
	es, err := a.Credit(Credit{Type: TypeAccrual, Points: 40, OrderID: "old", ExpiresAt: day(-1)}, t0)
	if err != nil {
		t.Fatalf("expected a late credit to be accepted, got %v", err)
	}
	if len(es) != 2 || es[1].Type != TypeExpiration || es[1].Points != -40 {
		t.Errorf("expected an accrual followed by its expiration, got %+v", es)
	}
	if b := a.Balances(t0); b.Available != 0 {
		t.Errorf("expected nothing available, got %d", b.Available)
	}
	assertInvariant(t, a, 0)
}

func TestRestoreRejectsCorruptState(t *testing.T) {
	t.Parallel()
	lots := []Lot{{ID: "l1", MemberID: "m1", Points: 10, Remaining: 10}}
	if _, err := Restore(State{MemberID: "m1", Balance: 9}, lots, counter()); !errors.Is(err, ErrInvariant) {
		t.Errorf("expected ErrInvariant for a balance that does not match the lots, got %v", err)
	}
}

// FuzzOperations runs random operation sequences and checks the invariant
// and that no spend ever takes the available balance below zero.
func FuzzOperations(f *testing.F) {
	f.Add([]byte{0, 50, 1, 20, 2, 10, 3, 5, 4, 0, 5, 1, 6, 9})
	f.Add([]byte{0, 255, 7, 200, 1, 255, 3, 250})
	f.Fuzz(runOperations)
}

func TestLongRandomOperationSequencesKeepTheInvariant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed int64
		ops  int
	}{
		{"a short sequence keeps the invariant", 1, 200},
		{"a long sequence keeps the invariant", 2, 5000},
		{"another long sequence keeps the invariant", 3, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops := make([]byte, 2*tt.ops)
			rand.New(rand.NewSource(tt.seed)).Read(ops)
			runOperations(t, ops)
		})
	}
}

// runOperations is the body of FuzzOperations, callable with any input.
func runOperations(t *testing.T, ops []byte) {
	a := Open("m1", counter())
	now := t0
	var spent []Entry
	var holds []*Hold
	orders := 0
	for i := 0; i+1 < len(ops); i += 2 {
		n := int64(ops[i+1]) + 1
		now = now.Add(time.Duration(ops[i+1]) * time.Hour)
		switch ops[i] % 8 {
		case 0:
			orders++
			_, _ = a.Credit(Credit{Type: TypeAccrual, Points: n, OrderID: fmt.Sprint("o", orders), ExpiresAt: now.Add(time.Duration(n) * 24 * time.Hour), PendingUntil: now.Add(time.Duration(n%3) * time.Hour)}, now)
		case 1:
			before := a.Balances(now).Available
			e, err := a.Spend(Spend{Type: TypeRedemption, Points: n}, now)
			if err == nil {
				spent = append(spent, e)
			} else if before >= n && errors.Is(err, ErrInsufficientPoints) {
				t.Fatalf("expected a spend of %d on %d available to succeed", n, before)
			}
		case 2:
			if len(spent) > 0 {
				e := spent[0]
				spent = spent[1:]
				if _, err := a.Reverse(e, "", now); err != nil {
					t.Fatalf("expected reversal to succeed, got %v", err)
				}
			}
		case 3:
			if orders > 0 {
				_, _ = a.Clawback(Clawback{OrderID: fmt.Sprint("o", int(n)%orders+1), Points: n, Policy: DebtPolicy(n % 2)}, now)
			}
		case 4:
			a.ExpireDue(now)
		case 5:
			if h, _, err := a.PlaceHold(HoldRequest{Points: n, TTL: time.Duration(n) * time.Minute}, now); err == nil {
				holds = append(holds, h)
			}
		case 6:
			if len(holds) > 0 {
				h := holds[0]
				holds = holds[1:]
				if h.Active(now) {
					_, _ = a.CaptureHold(h, max(1, h.Points/2), now)
				} else {
					_, _ = a.ReleaseHold(h, now)
				}
			}
		case 7:
			_, _ = a.Credit(Credit{Type: TypeAccrual, Points: n}, now)
		}
		if err := a.check(); err != nil {
			t.Fatalf("expected the invariant after op %d, got %v", i/2, err)
		}
	}
	assertInvariant(t, a, 0)
}

func BenchmarkSpend(b *testing.B) {
	base := Open("m1", counter())
	for i := 0; i < 200; i++ {
		if _, err := base.Credit(Credit{Type: TypeAccrual, Points: 10, ExpiresAt: day(30 + i)}, t0); err != nil {
			b.Fatal(err)
		}
	}
	state, lots := base.State(), base.Lots()
	b.ReportAllocs()
	for b.Loop() {
		a, err := Restore(state, lots, counter())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Spend(Spend{Type: TypeRedemption, Points: 155}, day(1)); err != nil {
			b.Fatal(err)
		}
		_ = a.Changes()
	}
}

func TestSettlement(t *testing.T) {
	t.Parallel()
	entries := []Entry{
		{Type: TypeAccrual, Points: 500, PartnerID: "fuel"},
		{Type: TypeAccrual, Points: 300, PartnerID: "hotel"},
		{Type: TypeRedemption, Points: -100, PartnerID: "fuel"},
		{Type: TypeRefundClawback, Points: -50, PartnerID: "fuel"},
		{Type: TypeAccrual, Points: 999},
	}
	got, err := Settlement(entries, money.Conversion{Points: 100, Value: money.New(100, "EUR")})
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	want := []PartnerTotals{
		{PartnerID: "fuel", Issued: 500, Redeemed: 100, Reversed: 50, Net: 350, NetValue: money.New(350, "EUR")},
		{PartnerID: "hotel", Issued: 300, Net: 300, NetValue: money.New(300, "EUR")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("expected %+v, got %+v", want, got)
	}
}

func BenchmarkHoldAndCapture(b *testing.B) {
	base := Open("m1", counter())
	for i := 0; i < 50; i++ {
		if _, err := base.Credit(Credit{Type: TypeAccrual, Points: 100, ExpiresAt: day(30 + i)}, t0); err != nil {
			b.Fatal(err)
		}
	}
	state, lots := base.State(), base.Lots()
	b.ReportAllocs()
	for b.Loop() {
		a, err := Restore(state, lots, counter())
		if err != nil {
			b.Fatal(err)
		}
		h, _, err := a.PlaceHold(HoldRequest{Points: 250, TTL: time.Hour}, day(1))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.CaptureHold(h, 200, day(1)); err != nil {
			b.Fatal(err)
		}
		_ = a.Changes()
	}
}

func TestEntryTypeNamesRoundTrip(t *testing.T) {
	t.Parallel()
	for typ := TypeAccrual; typ <= TypeReversal; typ++ {
		t.Run("the name of "+typ.String()+" parses back", func(t *testing.T) {
			t.Parallel()
			got, err := ParseEntryType(typ.String())
			if err != nil || got != typ {
				t.Errorf("expected %d, got %d (%v)", typ, got, err)
			}
		})
	}
	if _, err := ParseEntryType("unspecified"); err == nil {
		t.Errorf("expected unspecified to be refused")
	}
}
