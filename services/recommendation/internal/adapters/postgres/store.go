// Package postgres stores the recommendation service's state in its own
// PostgreSQL database through sqlc-generated queries: the catalog replica,
// the baskets folded into the co-occurrence model, order lines, customer
// interactions, segment and tier membership, and feedback. A Store wraps one
// transaction (or the pool), so the app layer decides what commits together
// with which outbox event.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// Store is the service's data access over one connection or transaction.
type Store struct {
	db sqlc.DBTX
	q  *sqlc.Queries
}

// New returns a Store over db (a pgx.Tx or a *pgxpool.Pool).
func New(db sqlc.DBTX) *Store { return &Store{db: db, q: sqlc.New(db)} }

// UpsertProducts stores products whose UpdatedAt is not older than the
// stored version and reports how many were created and replaced. Writers are
// serialized so the change sequence follows commit order.
func (s *Store) UpsertProducts(ctx context.Context, ps ...catalog.Product) (created, updated int, err error) {
	if len(ps) == 0 {
		return 0, 0, nil
	}
	if err := s.q.LockProducts(ctx); err != nil {
		return 0, 0, fmt.Errorf("lock products: %w", err)
	}
	for _, p := range ps {
		margin := pgtype.Int8{Int64: p.Margin, Valid: p.HasMargin}
		isNew, err := s.q.UpsertProduct(ctx, sqlc.UpsertProductParams{
			ProductID: p.ID, Sku: p.SKU, Title: p.Title, CategoryPath: nonNil(p.CategoryPath),
			PriceMinor: p.Price.Minor, Currency: p.Price.Currency, MarginMinor: margin,
			Stock: int16(p.Stock), Brand: p.Brand, Tags: nonNil(p.Tags), Kind: int16(p.Kind),
			Url: p.URL, ImageUrl: p.ImageURL, UpdatedAt: p.UpdatedAt,
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// A newer version is stored; the older one is ignored.
		case err != nil:
			return 0, 0, fmt.Errorf("upsert product %s: %w", p.ID, err)
		case isNew:
			created++
		default:
			updated++
		}
	}
	return created, updated, nil
}

// ProductsAfter returns up to max products changed after seq, in change
// order, with the seq of the last one.
func (s *Store) ProductsAfter(ctx context.Context, seq int64, max int) ([]catalog.Product, int64, error) {
	rows, err := s.q.ProductsAfter(ctx, sqlc.ProductsAfterParams{After: seq, MaxRows: int32(max)})
	if err != nil {
		return nil, seq, fmt.Errorf("products after %d: %w", seq, err)
	}
	out := make([]catalog.Product, len(rows))
	for i, r := range rows {
		out[i] = catalog.Product{
			ID: r.ProductID, SKU: r.Sku, Title: r.Title, CategoryPath: r.CategoryPath,
			Price:  catalog.Money{Minor: r.PriceMinor, Currency: r.Currency},
			Margin: r.MarginMinor.Int64, HasMargin: r.MarginMinor.Valid,
			Stock: catalog.StockStatus(r.Stock), Brand: r.Brand, Tags: r.Tags, Kind: catalog.Kind(r.Kind),
			URL: r.Url, ImageURL: r.ImageUrl, UpdatedAt: r.UpdatedAt,
		}
		seq = r.Seq
	}
	return out, seq, nil
}

// Basket is one basket folded into the co-occurrence model.
type Basket struct {
	Seq        int64
	OrderID    string
	CustomerID string
	Items      []string
	// History is the customer's earlier items at ingest, newest first.
	History []string
	// Weight is 1 for an order, -1 to take one back.
	Weight float64
	At     time.Time
}

// AddBasket appends a basket. Writers are serialized so the sequence follows
// commit order and every replica folds baskets in the same order.
func (s *Store) AddBasket(ctx context.Context, b Basket) error {
	if err := s.q.LockBaskets(ctx); err != nil {
		return fmt.Errorf("lock baskets: %w", err)
	}
	err := s.q.InsertBasket(ctx, sqlc.InsertBasketParams{
		OrderID: b.OrderID, CustomerID: b.CustomerID, Items: nonNil(b.Items), History: nonNil(b.History),
		Weight: b.Weight, OccurredAt: b.At,
	})
	if err != nil {
		return fmt.Errorf("insert basket of order %s: %w", b.OrderID, err)
	}
	return nil
}

// BasketsAfter returns up to max baskets after seq, in fold order.
func (s *Store) BasketsAfter(ctx context.Context, seq int64, max int) ([]Basket, error) {
	rows, err := s.q.BasketsAfter(ctx, sqlc.BasketsAfterParams{After: seq, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("baskets after %d: %w", seq, err)
	}
	out := make([]Basket, len(rows))
	for i, r := range rows {
		out[i] = Basket{Seq: r.Seq, OrderID: r.OrderID, CustomerID: r.CustomerID, Items: r.Items, History: r.History, Weight: r.Weight, At: r.OccurredAt}
	}
	return out, nil
}

// OrderLine is one stored line of an order.
type OrderLine struct {
	LineID, SKU, ProductID string
	Quantity, Refunded     int
}

// AddOrderLine stores a line and reports whether it was new (a redelivered
// order finds its lines stored).
func (s *Store) AddOrderLine(ctx context.Context, orderID string, l OrderLine) (bool, error) {
	n, err := s.q.InsertOrderLine(ctx, sqlc.InsertOrderLineParams{OrderID: orderID, LineID: l.LineID, Sku: l.SKU, ProductID: l.ProductID, Quantity: int32(l.Quantity)})
	if err != nil {
		return false, fmt.Errorf("insert line %s of order %s: %w", l.LineID, orderID, err)
	}
	return n == 1, nil
}

// OrderLines returns an order's lines, locked for the refund that reads them.
func (s *Store) OrderLines(ctx context.Context, orderID string) ([]OrderLine, error) {
	rows, err := s.q.OrderLines(ctx, orderID)
	if err != nil {
		return nil, fmt.Errorf("lines of order %s: %w", orderID, err)
	}
	out := make([]OrderLine, len(rows))
	for i, r := range rows {
		out[i] = OrderLine{LineID: r.LineID, SKU: r.Sku, ProductID: r.ProductID, Quantity: int(r.Quantity), Refunded: int(r.Refunded)}
	}
	return out, nil
}

// RefundLine records quantity refunded on a line (capped at what was bought).
func (s *Store) RefundLine(ctx context.Context, orderID, lineID string, quantity int) error {
	if err := s.q.RefundOrderLine(ctx, sqlc.RefundOrderLineParams{OrderID: orderID, LineID: lineID, Quantity: int32(quantity)}); err != nil {
		return fmt.Errorf("refund line %s of order %s: %w", lineID, orderID, err)
	}
	return nil
}

// PurchaseHistory returns up to max distinct products the customer bought,
// newest first.
func (s *Store) PurchaseHistory(ctx context.Context, customerID string, max int) ([]string, error) {
	ids, err := s.q.PurchaseHistory(ctx, sqlc.PurchaseHistoryParams{CustomerID: customerID, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("purchase history of %s: %w", customerID, err)
	}
	return ids, nil
}

// AppendInteractions stores events, ignoring ones already stored.
func (s *Store) AppendInteractions(ctx context.Context, evs ...interaction.Event) error {
	ids := make([]string, 0, 1)
	for _, e := range evs {
		if !slices.Contains(ids, e.CustomerID) {
			ids = append(ids, e.CustomerID)
		}
	}
	if err := s.TouchCustomers(ctx, ids...); err != nil {
		return err
	}
	for _, e := range evs {
		err := s.q.InsertInteraction(ctx, sqlc.InsertInteractionParams{
			CustomerID: e.CustomerID, ProductID: e.ProductID, Kind: int16(e.Kind),
			Quantity: int32(max(e.Quantity, 1)), OrderID: e.OrderID, OccurredAt: e.At,
		})
		if err != nil {
			return fmt.Errorf("insert %s of %s by %s: %w", e.Kind, e.ProductID, e.CustomerID, err)
		}
	}
	return nil
}

// RecentInteractions returns up to max of the customer's newest events.
func (s *Store) RecentInteractions(ctx context.Context, customerID string, max int) ([]interaction.Event, error) {
	rows, err := s.q.RecentInteractions(ctx, sqlc.RecentInteractionsParams{CustomerID: customerID, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("interactions of %s: %w", customerID, err)
	}
	out := make([]interaction.Event, len(rows))
	for i, r := range rows {
		out[i] = interaction.Event{CustomerID: r.CustomerID, ProductID: r.ProductID, Kind: interaction.Kind(r.Kind), Quantity: int(r.Quantity), OrderID: r.OrderID, At: r.OccurredAt}
	}
	return out, nil
}

// SetSegment records entering or leaving a segment; an older change than the
// stored one is ignored, so out-of-order events converge.
func (s *Store) SetSegment(ctx context.Context, customerID, segment string, member bool, at time.Time) error {
	if err := s.TouchCustomers(ctx, customerID); err != nil {
		return err
	}
	if err := s.q.SetSegment(ctx, sqlc.SetSegmentParams{CustomerID: customerID, SegmentID: segment, Member: member, ChangedAt: at}); err != nil {
		return fmt.Errorf("set segment %s of %s: %w", segment, customerID, err)
	}
	return nil
}

// SetTier records the customer's loyalty tier with the same ordering rule.
func (s *Store) SetTier(ctx context.Context, customerID, tier string, at time.Time) error {
	if err := s.TouchCustomers(ctx, customerID); err != nil {
		return err
	}
	if err := s.q.SetTier(ctx, sqlc.SetTierParams{CustomerID: customerID, TierID: tier, ChangedAt: at}); err != nil {
		return fmt.Errorf("set tier of %s: %w", customerID, err)
	}
	return nil
}

// SegmentMembers pages through a segment's members in id order.
func (s *Store) SegmentMembers(ctx context.Context, segment, after string, max int) ([]string, error) {
	ids, err := s.q.SegmentMembers(ctx, sqlc.SegmentMembersParams{SegmentID: segment, After: after, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("members of segment %s: %w", segment, err)
	}
	return ids, nil
}

// Feedback is one stored feedback entry.
type Feedback struct {
	RecommendationID, CustomerID, ProductID, ExperimentID, Variant string
	Kind, Position, Placement                                      int
	At                                                             time.Time
}

// AddFeedback stores feedback entries.
func (s *Store) AddFeedback(ctx context.Context, fs ...Feedback) error {
	for _, f := range fs {
		err := s.q.InsertFeedback(ctx, sqlc.InsertFeedbackParams{
			RecommendationID: f.RecommendationID, CustomerID: f.CustomerID, ProductID: f.ProductID,
			Kind: int16(f.Kind), Position: int32(f.Position), Placement: int16(f.Placement), ExperimentID: f.ExperimentID, Variant: f.Variant, OccurredAt: f.At,
		})
		if err != nil {
			return fmt.Errorf("insert feedback: %w", err)
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// BasketOfOrder returns the items and history an order's basket added, and
// whether there is one.
func (s *Store) BasketOfOrder(ctx context.Context, orderID string) (items, history []string, ok bool, err error) {
	rows, err := s.q.BasketOfOrder(ctx, orderID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("basket of order %s: %w", orderID, err)
	}
	if len(rows) == 0 {
		return nil, nil, false, nil
	}
	return rows[0].Items, rows[0].History, true, nil
}

// ConsumableBuyers pages through customers who bought a consumable.
func (s *Store) ConsumableBuyers(ctx context.Context, after string, max int) ([]string, error) {
	ids, err := s.q.ConsumableBuyers(ctx, sqlc.ConsumableBuyersParams{After: after, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("consumable buyers: %w", err)
	}
	return ids, nil
}

// MarkReplenishmentSent records that the reminder with key went out and
// reports false when it already had.
func (s *Store) MarkReplenishmentSent(ctx context.Context, key, customerID string, at time.Time) (bool, error) {
	n, err := s.q.MarkReplenishmentSent(ctx, sqlc.MarkReplenishmentSentParams{Key: key, CustomerID: customerID, SentAt: at})
	if err != nil {
		return false, fmt.Errorf("mark replenishment %s: %w", key, err)
	}
	return n == 1, nil
}

// SaveSnapshot stores a model snapshot unless a newer one (by watermark) is
// already stored, which another replica may have written.
func (s *Store) SaveSnapshot(ctx context.Context, meta cooccur.SnapshotMeta, data []byte) error {
	q, done, err := s.oneOff(ctx)
	if err != nil {
		return fmt.Errorf("save snapshot %s: %w", meta.Name, err)
	}
	defer done()
	if err := q.SaveSnapshot(ctx, sqlc.SaveSnapshotParams{Name: meta.Name, Watermark: meta.Watermark, TakenAt: meta.TakenAt, Data: data}); err != nil {
		return fmt.Errorf("save snapshot %s: %w", meta.Name, err)
	}
	return nil
}

// oneOff returns queries on a connection of their own, taken out of the
// pool and closed by done, for a snapshot's row: a connection keeps the
// buffer of the largest message it has sent for good, and a snapshot is
// the whole model (about 100 MB at 500,000 orders), which a pooled
// connection would otherwise hold on to for the life of the process.
// Outside a pool (a transaction) it uses the store's own queries.
func (s *Store) oneOff(ctx context.Context) (q *sqlc.Queries, done func(), err error) {
	pool, ok := s.db.(*pgxpool.Pool)
	if !ok {
		return s.q, func() {}, nil
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn := c.Hijack()
	return sqlc.New(conn), func() { conn.Close(context.Background()) }, nil
}

// LoadSnapshot returns the stored snapshot of a model; ok is false when
// there is none.
func (s *Store) LoadSnapshot(ctx context.Context, name string) (meta cooccur.SnapshotMeta, data []byte, ok bool, err error) {
	q, done, err := s.oneOff(ctx)
	if err != nil {
		return meta, nil, false, fmt.Errorf("load snapshot %s: %w", name, err)
	}
	defer done()
	rows, err := q.LoadSnapshot(ctx, name)
	if err != nil {
		return meta, nil, false, fmt.Errorf("load snapshot %s: %w", name, err)
	}
	if len(rows) == 0 {
		return meta, nil, false, nil
	}
	r := rows[0]
	return cooccur.SnapshotMeta{Name: r.Name, Watermark: r.Watermark, TakenAt: r.TakenAt}, r.Data, true, nil
}

// ExperimentCounts returns the recorded feedback of each variant of an
// experiment.
func (s *Store) ExperimentCounts(ctx context.Context, experimentID string) (map[string]experiment.Counts, error) {
	rows, err := s.q.ExperimentCounts(ctx, experimentID)
	if err != nil {
		return nil, fmt.Errorf("counts of experiment %s: %w", experimentID, err)
	}
	out := make(map[string]experiment.Counts, len(rows))
	for _, r := range rows {
		out[r.Variant] = experiment.Counts{Impressions: r.Impressions, Clicks: r.Clicks, Conversions: r.Conversions}
	}
	return out, nil
}

// MoveInteractions re-keys the interactions stored under from (anonymous
// visitor keys) to customerID.
func (s *Store) MoveInteractions(ctx context.Context, customerID string, from []string) error {
	if err := s.TouchCustomers(ctx, append([]string{customerID}, from...)...); err != nil {
		return err
	}
	if err := s.q.CopyInteractions(ctx, sqlc.CopyInteractionsParams{CustomerID: customerID, FromKeys: from}); err != nil {
		return fmt.Errorf("move interactions to %s: %w", customerID, err)
	}
	if err := s.q.DeleteInteractions(ctx, from); err != nil {
		return fmt.Errorf("move interactions to %s: %w", customerID, err)
	}
	return nil
}

// TouchCustomers records that the customers' state changed, for every
// replica's tailer. It takes the basket writers' lock, so change sequence
// numbers follow commit order (and a transaction that also adds a basket
// takes the same lock, so the two never deadlock).
func (s *Store) TouchCustomers(ctx context.Context, customerIDs ...string) error {
	if len(customerIDs) == 0 {
		return nil
	}
	if err := s.q.LockBaskets(ctx); err != nil {
		return fmt.Errorf("lock customer changes: %w", err)
	}
	if err := s.q.TouchCustomers(ctx, customerIDs); err != nil {
		return fmt.Errorf("record change of customers %v: %w", customerIDs, err)
	}
	return nil
}

// CustomerChange is one customer whose state changed, with the change's
// position in commit order.
type CustomerChange struct {
	CustomerID string
	Seq        int64
}

// CustomerChangesAfter returns up to max customers changed after seq, in
// commit order.
func (s *Store) CustomerChangesAfter(ctx context.Context, seq int64, max int) ([]CustomerChange, error) {
	rows, err := s.q.CustomerChangesAfter(ctx, sqlc.CustomerChangesAfterParams{After: seq, MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("customer changes after %d: %w", seq, err)
	}
	out := make([]CustomerChange, len(rows))
	for i, r := range rows {
		out[i] = CustomerChange{CustomerID: r.CustomerID, Seq: r.Seq}
	}
	return out, nil
}

// CustomerChangeWatermark returns the newest customer change's seq (0 when
// none).
func (s *Store) CustomerChangeWatermark(ctx context.Context) (int64, error) {
	seq, err := s.q.CustomerChangeWatermark(ctx)
	if err != nil {
		return 0, fmt.Errorf("customer change watermark: %w", err)
	}
	return seq, nil
}

// CustomerKeys returns every customer key with stored state
// (interactions, segments or tier).
func (s *Store) CustomerKeys(ctx context.Context) ([]string, error) {
	ids, err := s.q.CustomerKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("customer keys: %w", err)
	}
	return ids, nil
}

// CustomerStates is the stored state of several customers.
type CustomerStates struct {
	// Events are each customer's newest interactions, newest first.
	Events   map[string][]interaction.Event
	Segments map[string][]string
	Tiers    map[string]string
	// Owned are the products each customer still owns (units bought minus
	// units refunded is positive) over all stored purchases and refunds,
	// not just the newest max interactions, sorted by product id.
	Owned map[string][]string
}

// StatesOf reads the newest max interactions, the segments, the tier and
// the owned products of each of the customers in four queries.
//
// Over a pool the queries share one snapshot (a read-only repeatable-read
// transaction); over a transaction they see what it sees. Read one after
// another without a snapshot, the owned set could include purchases that
// committed after the interactions were read: a state whose newest events
// still held an old return (which counts against the returned product)
// while its owned set already held every later purchase, a state that
// never existed.
func (s *Store) StatesOf(ctx context.Context, customerIDs []string, max int) (CustomerStates, error) {
	if b, ok := s.db.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	}); ok && len(customerIDs) > 0 {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return CustomerStates{}, fmt.Errorf("customer states: begin snapshot: %w", err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		return New(tx).statesOf(ctx, customerIDs, max)
	}
	return s.statesOf(ctx, customerIDs, max)
}

func (s *Store) statesOf(ctx context.Context, customerIDs []string, max int) (CustomerStates, error) {
	st := CustomerStates{Events: make(map[string][]interaction.Event), Segments: make(map[string][]string), Tiers: make(map[string]string), Owned: make(map[string][]string)}
	if len(customerIDs) == 0 {
		return st, nil
	}
	evs, err := s.q.InteractionsOfCustomers(ctx, sqlc.InteractionsOfCustomersParams{CustomerIds: customerIDs, MaxRows: int32(max)})
	if err != nil {
		return st, fmt.Errorf("interactions of %d customers: %w", len(customerIDs), err)
	}
	for _, r := range evs {
		st.Events[r.CustomerID] = append(st.Events[r.CustomerID], interaction.Event{CustomerID: r.CustomerID, ProductID: r.ProductID, Kind: interaction.Kind(r.Kind), Quantity: int(r.Quantity), OrderID: r.OrderID, At: r.OccurredAt})
	}
	segs, err := s.q.SegmentsOfCustomers(ctx, customerIDs)
	if err != nil {
		return st, fmt.Errorf("segments of %d customers: %w", len(customerIDs), err)
	}
	for _, r := range segs {
		st.Segments[r.CustomerID] = append(st.Segments[r.CustomerID], r.SegmentID)
	}
	tiers, err := s.q.TiersOfCustomers(ctx, customerIDs)
	if err != nil {
		return st, fmt.Errorf("tiers of %d customers: %w", len(customerIDs), err)
	}
	for _, r := range tiers {
		st.Tiers[r.CustomerID] = r.TierID
	}
	// A customer with fewer than max interactions has all of them in
	// Events, so what they own is summed here; only the others' purchases
	// are summed by the database (over all their rows), which keeps the
	// aggregate off the start-up's path for most customers.
	var long []string
	for id, evs := range st.Events {
		if len(evs) >= max {
			long = append(long, id)
		} else if owned := ownedOf(evs); len(owned) > 0 {
			st.Owned[id] = owned
		}
	}
	if len(long) == 0 {
		return st, nil
	}
	owned, err := s.q.OwnedOfCustomers(ctx, long)
	if err != nil {
		return st, fmt.Errorf("owned products of %d customers: %w", len(long), err)
	}
	for _, r := range owned {
		st.Owned[r.CustomerID] = append(st.Owned[r.CustomerID], r.ProductID)
	}
	return st, nil
}

// ownedOf returns the products a complete history leaves owned, sorted:
// units bought minus units refunded (at least one unit a line) is
// positive, the rule of the OwnedOfCustomers query.
func ownedOf(evs []interaction.Event) []string {
	var units map[string]int
	for _, e := range evs {
		q := max(e.Quantity, 1)
		switch e.Kind {
		case interaction.Purchase:
		case interaction.Refund:
			q = -q
		default:
			continue
		}
		if units == nil {
			units = make(map[string]int)
		}
		units[e.ProductID] += q
	}
	var out []string
	for id, n := range units {
		if n > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
