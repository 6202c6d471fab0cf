package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyev "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	refev "github.com/affinity-platform/affinity/proto/referral/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// Topics are the topics the service consumes.
var Topics = []string{topics.CommerceCustomers, topics.CommerceOrders, topics.CommerceInteractions, topics.LoyaltyEvents, topics.ReferralEvents}

// ErrInvalidEvent wraps an event that cannot be applied (missing ids,
// values out of range); it changes nothing.
var ErrInvalidEvent = errors.New("invalid event")

// Update is one decoded event: the customers it concerns and what it does
// to each of their profiles. A referral event concerns the referrer only.
type Update struct {
	CustomerID string
	Apply      func(p *profile.Profile) error
}

// Decode turns a consumed message into profile updates. Messages that carry
// nothing the profile keeps (anonymous interactions, product events,
// loyalty expiry warnings) decode to no update.
func Decode(m events.Message) ([]Update, error) {
	at := m.Time
	occurred := func(ts *timestamppb.Timestamp) time.Time {
		if ts.IsValid() && ts.AsTime().Unix() > 0 {
			return ts.AsTime().UTC()
		}
		return at.UTC()
	}
	switch m.Topic {
	case topics.CommerceOrders:
		var e commercev1.OrderEvent
		if err := m.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		if e.GetCustomerId() == "" {
			return nil, nil // guest orders have no profile
		}
		return []Update{{CustomerID: e.GetCustomerId(), Apply: orderUpdate(m.ID, occurred(e.GetOccurredAt()), &e)}}, nil
	case topics.CommerceCustomers:
		var e commercev1.CustomerEvent
		if err := m.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		c := e.GetCustomer()
		if c.GetCustomerId() == "" {
			return nil, fmt.Errorf("%w: customer.customer_id is required", ErrInvalidEvent)
		}
		u := customerUpdate(m.ID, occurred(e.GetOccurredAt()), c)
		return []Update{{CustomerID: c.GetCustomerId(), Apply: func(p *profile.Profile) error { return p.ApplyCustomer(u) }}}, nil
	case topics.CommerceInteractions:
		var e commercev1.InteractionEvent
		if err := m.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		if e.GetCustomerId() == "" {
			return nil, nil
		}
		fn, err := interactionUpdate(m.ID, occurred(e.GetOccurredAt()), &e)
		if err != nil || fn == nil {
			return nil, err
		}
		return []Update{{CustomerID: e.GetCustomerId(), Apply: fn}}, nil
	case topics.LoyaltyEvents:
		var e loyev.LoyaltyEvent
		if err := m.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		return loyaltyUpdate(m.ID, at, &e), nil
	case topics.ReferralEvents:
		var e refev.ReferralEvent
		if err := m.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		return referralUpdate(&e, occurred), nil
	}
	return nil, nil
}

func orderUpdate(eventID string, at time.Time, e *commercev1.OrderEvent) func(*profile.Profile) error {
	return func(p *profile.Profile) error {
		switch e.GetKind() {
		case commercev1.OrderEvent_KIND_COMPLETED:
			oe := profile.OrderEvent{EventID: eventID, At: at, OrderID: e.GetOrderId(), Status: profile.StatusCompleted,
				PlacedAt: e.GetOrderedAt().AsTime(), Channel: channelName(e.GetChannel()),
				Currency: e.GetTotals().GetTotal().GetCurrency(), Total: e.GetTotals().GetTotal().GetAmountMinor()}
			if !e.GetOrderedAt().IsValid() || e.GetOrderedAt() == nil {
				oe.PlacedAt = time.Time{}
			}
			for _, l := range e.GetLines() {
				amount := l.GetUnitPrice().GetAmountMinor()*l.GetQuantity() - l.GetDiscount().GetAmountMinor()
				oe.Lines = append(oe.Lines, profile.Line{SKU: cmp.Or(l.GetSku(), l.GetProductId()), Category: category(l.GetCategoryPath()), Quantity: l.GetQuantity(), Amount: max(0, amount)})
				oe.Currency = cmp.Or(oe.Currency, l.GetUnitPrice().GetCurrency())
			}
			return p.ApplyOrder(oe)
		case commercev1.OrderEvent_KIND_CANCELLED:
			return p.ApplyOrder(profile.OrderEvent{EventID: eventID, At: at, OrderID: e.GetOrderId(), Status: profile.StatusCancelled})
		case commercev1.OrderEvent_KIND_REFUNDED:
			r := profile.Refund{ID: e.GetRefundId(), EventID: eventID, OrderID: e.GetOrderId(), At: at,
				Currency: e.GetTotals().GetTotal().GetCurrency(), Amount: e.GetTotals().GetTotal().GetAmountMinor()}
			var sum int64
			for _, l := range e.GetRefundedLines() {
				r.Lines = append(r.Lines, profile.Line{SKU: l.GetSku(), Quantity: max(1, l.GetQuantity()), Amount: l.GetAmount().GetAmountMinor()})
				sum += l.GetAmount().GetAmountMinor()
				r.Currency = cmp.Or(r.Currency, l.GetAmount().GetCurrency())
			}
			if e.GetTotals().GetTotal() == nil {
				r.Amount = sum
			}
			return p.ApplyRefund(r)
		}
		return &profile.ValidationError{Field: "kind", Reason: "must be completed, refunded or cancelled"}
	}
}

// category is the top level of a category path: segments speak of
// "garden", not of "garden/tools/spades".
func category(path []string) string {
	if len(path) == 0 {
		return ""
	}
	return strings.ToLower(path[0])
}

// channelName is the lower-case name of a sales channel ("web", "store").
func channelName(c commercev1.Channel) string {
	if c == commercev1.Channel_CHANNEL_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(c.String(), "CHANNEL_"))
}

// contactName is the lower-case name of a contact channel ("email").
func contactName(c commercev1.ContactChannel) string {
	if c == commercev1.ContactChannel_CONTACT_CHANNEL_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(c.String(), "CONTACT_CHANNEL_"))
}

func customerUpdate(eventID string, at time.Time, c *commercev1.Customer) profile.CustomerUpdate {
	u := profile.CustomerUpdate{EventID: eventID, At: at, Country: c.GetCountry(), SignupChannel: channelName(c.GetSignupChannel()),
		PreferredChannel: contactName(c.GetPreferredContactChannel()), Attributes: c.GetAttributes()}
	if c.GetSignedUpAt() != nil {
		u.SignedUpAt = c.GetSignedUpAt().AsTime()
	}
	if b := c.GetBirthday(); b != nil && b.GetMonth() > 0 && b.GetDay() > 0 {
		u.Birthday = time.Date(int(max(b.GetYear(), 1)), time.Month(b.GetMonth()), int(b.GetDay()), 0, 0, 0, 0, time.UTC)
	}
	if cs := c.GetConsent(); cs != nil {
		u.Consents = map[string]bool{"email": cs.GetEmailMarketing(), "sms": cs.GetSmsMarketing(), "push": cs.GetPushMarketing(),
			"personalization": cs.GetPersonalization(), "partner_sharing": cs.GetPartnerSharing()}
	}
	if u.Attributes != nil && c.GetLocale() != "" {
		u.Attributes["locale"] = c.GetLocale()
	}
	return u
}

func interactionUpdate(eventID string, at time.Time, e *commercev1.InteractionEvent) (func(*profile.Profile) error, error) {
	if e.GetKind() == commercev1.InteractionEvent_KIND_SURVEY_ANSWER {
		s := e.GetSurvey()
		kind := map[commercev1.SurveyAnswer_Kind]profile.SurveyKind{
			commercev1.SurveyAnswer_KIND_CSAT: profile.CSAT, commercev1.SurveyAnswer_KIND_NPS: profile.NPS, commercev1.SurveyAnswer_KIND_CES: profile.CES,
		}[s.GetKind()]
		a := profile.SurveyAnswer{ID: eventID, Kind: kind, Score: int(s.GetScore()), At: at}
		return func(p *profile.Profile) error { return p.ApplySurvey(a) }, nil
	}
	kinds := map[commercev1.InteractionEvent_Kind]profile.InteractionKind{
		commercev1.InteractionEvent_KIND_VIEW:             profile.KindView,
		commercev1.InteractionEvent_KIND_ADD_TO_CART:      profile.KindAddToCart,
		commercev1.InteractionEvent_KIND_REMOVE_FROM_CART: profile.KindRemoveFromCart,
		commercev1.InteractionEvent_KIND_SEARCH_CLICK:     profile.KindClick,
	}
	kind, ok := kinds[e.GetKind()]
	if !ok {
		if e.GetKind() == commercev1.InteractionEvent_KIND_CUSTOM {
			return nil, nil // custom events are not profile facts (yet)
		}
		return nil, fmt.Errorf("%w: interaction kind %v", ErrInvalidEvent, e.GetKind())
	}
	i := profile.Interaction{EventID: eventID, Kind: kind, At: at, SKU: cmp.Or(e.GetSku(), e.GetProductId()),
		Category: strings.ToLower(e.GetProperties()["category"]), Channel: channelName(e.GetChannel()),
		Quantity: e.GetQuantity(), Price: e.GetUnitPrice().GetAmountMinor()}
	return func(p *profile.Profile) error { return p.ApplyInteraction(i) }, nil
}

func loyaltyUpdate(eventID string, at time.Time, e *loyev.LoyaltyEvent) []Update {
	var customer, tier string
	var balance *int64
	var occurred *timestamppb.Timestamp
	bal := func(v int64) *int64 { return &v }
	switch x := e.GetEvent().(type) {
	case *loyev.LoyaltyEvent_PointsEarned:
		customer, balance, occurred = x.PointsEarned.GetCustomerId(), bal(x.PointsEarned.GetBalanceAfter()), x.PointsEarned.GetOccurredAt()
	case *loyev.LoyaltyEvent_PointsRedeemed:
		customer, balance, occurred = x.PointsRedeemed.GetCustomerId(), bal(x.PointsRedeemed.GetBalanceAfter()), x.PointsRedeemed.GetOccurredAt()
	case *loyev.LoyaltyEvent_PointsReversed:
		customer, balance, occurred = x.PointsReversed.GetCustomerId(), bal(x.PointsReversed.GetBalanceAfter()), x.PointsReversed.GetOccurredAt()
	case *loyev.LoyaltyEvent_PointsExpired:
		customer, balance, occurred = x.PointsExpired.GetCustomerId(), bal(x.PointsExpired.GetBalanceAfter()), x.PointsExpired.GetOccurredAt()
	case *loyev.LoyaltyEvent_TierChanged:
		customer, tier, occurred = x.TierChanged.GetCustomerId(), x.TierChanged.GetTierId(), x.TierChanged.GetOccurredAt()
	default:
		return nil
	}
	if customer == "" {
		return nil
	}
	if occurred.IsValid() && occurred.AsTime().Unix() > 0 {
		at = occurred.AsTime().UTC()
	}
	u := profile.LoyaltyUpdate{EventID: eventID, At: at, Tier: tier, Balance: balance}
	return []Update{{CustomerID: customer, Apply: func(p *profile.Profile) error { return p.ApplyLoyalty(u) }}}
}

func referralUpdate(e *refev.ReferralEvent, occurred func(*timestamppb.Timestamp) time.Time) []Update {
	var r profile.Referral
	var referrer string
	switch x := e.GetEvent().(type) {
	case *refev.ReferralEvent_ReferralAttributed:
		referrer = x.ReferralAttributed.GetReferrerCustomerId()
		r = profile.Referral{ID: x.ReferralAttributed.GetAttributionId(), At: occurred(x.ReferralAttributed.GetOccurredAt())}
	case *refev.ReferralEvent_ReferralConverted:
		referrer = x.ReferralConverted.GetReferrerCustomerId()
		r = profile.Referral{ID: x.ReferralConverted.GetAttributionId(), At: occurred(x.ReferralConverted.GetOccurredAt()), Converted: true}
	default:
		return nil
	}
	if referrer == "" {
		return nil
	}
	return []Update{{CustomerID: referrer, Apply: func(p *profile.Profile) error { return p.ApplyReferral(r) }}}
}

// HandleMessages is the consumer handler: it applies each message to the
// profiles it concerns and re-evaluates the segments each change can
// affect, inside the consumer's transaction (with the inbox). Updates of
// one customer within a batch are applied together, so the profile is
// loaded, evaluated and stored once per batch. Invalid events change
// nothing and are not retried (retrying cannot make them valid): they go to
// the consumer group's dead-letter topic through consumer.Reject, with the
// reason, while the rest of the batch is applied.
func (a *App) HandleMessages(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
	type pending struct {
		msg events.Message
		up  Update
	}
	byCustomer := map[string][]pending{}
	var order []string
	for _, m := range msgs {
		ups, err := Decode(m)
		if err != nil {
			a.reject(ctx, m, "", err)
			continue
		}
		// Anonymous history: identify merges it, linked ids are attributed (identity.go).
		anon, err := a.anonymousUpdates(ctx, tx, m)
		if err != nil {
			return err
		}
		ups = append(ups, anon...)
		for _, u := range ups {
			if _, seen := byCustomer[u.CustomerID]; !seen {
				order = append(order, u.CustomerID)
			}
			byCustomer[u.CustomerID] = append(byCustomer[u.CustomerID], pending{m, u})
		}
	}
	// Membership changes of all the batch's customers are stored and
	// announced together at the end: three statements per batch instead
	// of per customer, which is what lets a consumer that fell behind
	// catch up with large batches.
	col := &changeCollector{}
	ctx = context.WithValue(ctx, changeCollectorKey{}, col)
	for _, id := range order {
		err := a.UpdateProfile(ctx, tx, id, func(p *profile.Profile) error {
			for _, pu := range byCustomer[id] {
				// Apply methods validate before they change anything, so a
				// refused event leaves the profile as it was.
				if err := pu.up.Apply(p); err != nil {
					var ve *profile.ValidationError
					if !errors.As(err, &ve) {
						return err
					}
					a.reject(ctx, pu.msg, id, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return applyChanges(ctx, tx, col.changes, col.names, false)
}

// reject sends an invalid event to the dead-letter topic; outside a
// consumer (tests calling HandleMessages directly) it is only logged.
func (a *App) reject(ctx context.Context, m events.Message, customerID string, cause error) {
	if err := consumer.Reject(ctx, m, cause); err != nil {
		a.log.WarnContext(ctx, "skipping an invalid event", "topic", m.Topic, "id", m.ID, "customer_id", customerID, "err", cause, "reject_err", err)
	}
}

// UpdateProfile runs fn on the customer's locked profile (a new one when
// none exists), recomputes its snapshot, re-evaluates only the segments the
// change can affect and stores profile, memberships and their events in tx.
// When fn fails nothing is written: savepoint semantics are not needed
// because nothing was written before fn ran.
func (a *App) UpdateProfile(ctx context.Context, tx pgx.Tx, customerID string, fn func(p *profile.Profile) error) error {
	q := sqlc.New(tx)
	now := a.Now()
	p := profile.New(customerID)
	var before profile.Snapshot
	var score profile.RFMScore
	// The row lock of LockProfile alone is not enough: a transaction that
	// waited for it would re-read the profiles row but keep the
	// profile_facts row of its original snapshot and write those stale
	// facts back, and two transactions that both find no profile yet would
	// both start from an empty one. A transaction-scoped lock on the
	// customer, taken in its own statement so the reads after it see every
	// commit before it, serialises writers of one customer in both cases.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, profileLockClass, customerID); err != nil {
		return fmt.Errorf("lock profile %s: %w", customerID, err)
	}
	row, err := q.LockProfile(ctx, customerID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		before = profile.TakeSnapshot(p, now, a.traits, nil)
	case err != nil:
		return fmt.Errorf("lock profile %s: %w", customerID, err)
	default:
		if err := json.Unmarshal(row.Facts, p); err != nil {
			return fmt.Errorf("decode profile %s: %w", customerID, err)
		}
		if err := before.UnmarshalBinary(row.Snapshot); err != nil {
			return fmt.Errorf("decode snapshot %s: %w", customerID, err)
		}
		score = rfmScore(row.RfmR, row.RfmF, row.RfmM, row.RfmGroup)
	}
	if err := fn(p); err != nil {
		return err
	}
	p.Compact(now, segment.MaxWindow)
	model, err := a.currentModel(ctx, q)
	if err != nil {
		return err
	}
	after := profile.TakeSnapshot(p, now, a.traits, model)
	before.Traits.RFM, after.Traits.RFM = score, score
	if err := a.reevaluate(ctx, tx, customerID, &before, &after, now); err != nil {
		return err
	}
	return saveProfile(ctx, q, p, &after, now, a.traits.AbandonCartAfter)
}

// reevaluate re-evaluates the segments a change from before to after can
// affect (before is the stored snapshot, as of its own time, so changes
// the clock made since are caught too) and stores and announces the
// changes.
func (a *App) reevaluate(ctx context.Context, tx pgx.Tx, customerID string, before, after *profile.Snapshot, now time.Time) error {
	q := sqlc.New(tx)
	g, names, err := a.loadGraph(ctx, q)
	if err != nil {
		return err
	}
	ms, err := membershipsOf(ctx, q, []string{customerID})
	if err != nil {
		return err
	}
	bin := inputOf(customerID, before, ms[customerID], before.At)
	ain := inputOf(customerID, after, ms[customerID], now)
	changes, _, err := g.Reevaluate(bin, ain)
	if err != nil {
		// A rule failing on this profile counts as "not a member"; that
		// is the documented semantics, not an operational error.
		a.log.DebugContext(ctx, "rule evaluation failed", "customer_id", customerID, "err", err)
	}
	if col, ok := ctx.Value(changeCollectorKey{}).(*changeCollector); ok {
		col.changes = append(col.changes, changes...)
		col.names = names
		return nil
	}
	return applyChanges(ctx, tx, changes, names, false)
}

// changeCollector gathers the membership changes of a consumed batch
// (HandleMessages) so they are applied in one go; each customer's
// profile is updated once per batch, so their changes are independent.
type changeCollector struct {
	changes []segment.Change
	names   map[string]string
}

type changeCollectorKey struct{}

func inputOf(customerID string, s *profile.Snapshot, segments map[string]bool, now time.Time) *segment.Input {
	if segments == nil {
		segments = map[string]bool{}
	}
	return &segment.Input{CustomerID: customerID, Traits: s.Traits, Orders: s.Orders, Interactions: s.Interactions, Segments: segments, Now: now}
}

func saveProfile(ctx context.Context, q *sqlc.Queries, p *profile.Profile, s *profile.Snapshot, now time.Time, abandonAfter time.Duration) error {
	facts, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode profile %s: %w", p.CustomerID, err)
	}
	snap, err := s.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode snapshot %s: %w", p.CustomerID, err)
	}
	var last *time.Time
	if !s.Traits.LastOrderAt.IsZero() {
		t := s.Traits.LastOrderAt
		last = &t
	}
	// cart_due_at tells the cart check when to look at this profile: the
	// moment its open, not yet announced cart counts as abandoned.
	var due *time.Time
	if len(s.CartItems) > 0 {
		at := s.CartActivity.Add(abandonAfter)
		if c, ok := p.FindAbandonedCart(at, abandonAfter); ok {
			if _, notified := p.NotifiedCarts[c.Key]; !notified {
				due = &at
			}
		}
	}
	err = q.SaveProfile(ctx, sqlc.SaveProfileParams{CustomerID: p.CustomerID, Snapshot: snap,
		OrderCount: int32(s.Traits.OrderCount), TotalSpend: s.Traits.TotalSpend, LastOrderAt: last, CartDueAt: due, UpdatedAt: now})
	if err != nil {
		return fmt.Errorf("save profile %s: %w", p.CustomerID, err)
	}
	if err := q.SaveFacts(ctx, sqlc.SaveFactsParams{CustomerID: p.CustomerID, Facts: facts}); err != nil {
		return fmt.Errorf("save facts of %s: %w", p.CustomerID, err)
	}
	return nil
}
