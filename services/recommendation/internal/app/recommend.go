package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/affinity-platform/affinity/pkg/events"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// Query asks for recommendations.
type Query struct {
	recommend.Request
	// AnonymousID identifies a visitor without a customer id; their
	// interactions are stored under AnonymousKey(id).
	AnonymousID string
}

// AnonymousKey is the customer key under which an anonymous visitor's
// interactions are stored, so they are personalized before signing up.
func AnonymousKey(anonymousID string) string { return "anon:" + anonymousID }

// Item is one recommended product with its catalog data (Product: the
// catalog's shared product, read only). It is the engine's item itself, so
// the answer is handed on without copying it.
type Item = recommend.Item

// Result is the answer to a Query.
type Result struct {
	ID            string
	Items         []Item
	Strategy      recommend.Strategy
	ExperimentID  string
	Variant       string
	NextPageToken string
}

// Recommend answers a query from the in-memory models and the customer's
// stored interactions, segments and tier. An experiment running on the
// placement may replace the strategy for the customer's variant.
func (a *App) Recommend(ctx context.Context, q Query) (Result, error) {
	key := q.CustomerID
	if key == "" && q.AnonymousID != "" {
		if err := domain.ValidateID("anonymous_id", q.AnonymousID); err != nil {
			return Result{}, err
		}
		key = AnonymousKey(q.AnonymousID)
	}
	var res Result
	if key != "" {
		if x, v, ok := a.assign(q.Placement, key); ok {
			res.ExperimentID, res.Variant = x.ID, v.Name
			if v.Strategy != "" && (q.Strategy == "" || q.Strategy == recommend.Auto) {
				q.Strategy = recommend.Strategy(strings.ToLower(v.Strategy))
			}
			q.Request = applyParams(q.Request, v)
		}
	}
	cust := a.customer(key)
	req := q.Request
	req.CustomerID = key
	resp, err := a.engine.Recommend(req, cust, a.Now())
	if err != nil {
		return Result{}, err
	}
	id, err := events.NewID()
	if err != nil {
		return Result{}, fmt.Errorf("recommendation id: %w", err)
	}
	res.ID, res.NextPageToken = id, resp.NextPageToken
	res.Strategy = recommend.Trending
	if len(resp.Plan) > 0 {
		res.Strategy = resp.Plan[0]
	}
	if len(resp.Items) > 0 {
		res.Strategy = resp.Items[0].Strategy
	}
	res.Items = resp.Items
	for i := range res.Items {
		// The engine hands over the product it ranked (the version the
		// rules checked), sparing a lookup by id per item.
		if it := &res.Items[i]; it.Product == nil {
			p, _ := a.catalog.Get(it.ProductID)
			it.Product = &p
		}
	}
	return res, nil
}

// customer returns the customer's state from memory: the tailer keeps it
// equal to the database, so serving never waits for a query. A key without
// stored state (a first visit) is a customer without history.
func (a *App) customer(key string) recommend.Customer {
	if key == "" {
		return recommend.Customer{}
	}
	if c, ok := a.customers.get(key); ok {
		return c
	}
	return recommend.Customer{ID: key}
}

// assign finds the first experiment running on the placement and the
// customer's variant in it.
func (a *App) assign(p recommend.Placement, customerKey string) (experiment.Experiment, experiment.Variant, bool) {
	now := a.Now()
	for _, x := range a.experimentsRunning() {
		if matchesPlacement(x.Placement, p) && x.Active(now) {
			return x, x.Assign(customerKey), true
		}
	}
	return experiment.Experiment{}, experiment.Variant{}, false
}

// Variant returns the experiment and variant a customer is assigned to on a
// placement, for attributing feedback.
func (a *App) Variant(p recommend.Placement, customerKey string) (experimentID, variant string) {
	if x, v, ok := a.assign(p, customerKey); ok {
		return x.ID, v.Name
	}
	return "", ""
}

// SyncCustomers reloads customers' state after a write through this replica
// committed, so their next request here sees it without waiting for the
// tailer (other replicas see it within RECO_POLL_INTERVAL).
func (a *App) SyncCustomers(ctx context.Context, customerKeys ...string) error {
	return a.customers.reload(ctx, store.New(a.pool), customerKeys, a.cfg.RecentEvents)
}
