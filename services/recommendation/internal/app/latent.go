package app

import (
	"bytes"
	"context"
	"errors"
	"time"

	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// purchaseHistories returns every customer's events held in memory. The
// slices are shared, not copied: a reload replaces a customer's slice
// rather than changing it, so readers never see it change.
func (c *customerStates) purchaseHistories() map[string][]interaction.Event {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string][]interaction.Event, len(c.m))
	for id, cust := range c.m {
		out[id] = cust.Events
	}
	return out
}

// TrainLatent trains the latent-factor model on the customer states in
// memory (each customer's newest RECO_RECENT_EVENTS interactions) and
// swaps it in for personalized and cross-sell ranking, then rebuilds the
// co-view model the same way.
func (a *App) TrainLatent(ctx context.Context) error {
	start := time.Now()
	m, err := latent.TrainEvents(ctx, latent.DefaultConfig(), a.customers.purchaseHistories(), a.Now())
	switch {
	case errors.Is(err, latent.ErrNoInteractions):
		// Nothing bought yet: co-occurrence (empty too) and trending answer.
	case err != nil:
		return err
	default:
		a.latent.Store(m)
		a.log.Info("latent model trained", "customers", m.Customers(), "products", m.Products(), "bytes", m.Bytes(), "took", time.Since(start).String())
		var buf bytes.Buffer
		if err := m.Snapshot(&buf); err != nil {
			return err
		}
		meta := cooccur.SnapshotMeta{Name: LatentSnapshot, TakenAt: a.Now(), Watermark: max(1, a.watermark())}
		if err := store.New(a.pool).SaveSnapshot(ctx, meta, buf.Bytes()); err != nil {
			return err
		}
	}
	return a.buildCoView(ctx)
}

// LatentSnapshot names the latent model's snapshot (a row of
// model_snapshots), which a start restores.
const LatentSnapshot = "latent"

func (a *App) watermark() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.basketSeq
}

// restoreLatent serves the last trained latent model, if one is stored, so
// a restart answers as before it. Without one, the model is first trained
// one RECO_LATENT_INTERVAL after start; until then co-occurrence ranks
// alone. An unreadable snapshot is ignored the same way.
func (a *App) restoreLatent(ctx context.Context) error {
	meta, data, ok, err := store.New(a.pool).LoadSnapshot(ctx, LatentSnapshot)
	if err != nil || !ok {
		return err
	}
	m, err := latent.Restore(bytes.NewReader(data))
	if err != nil {
		a.log.Warn("latent snapshot unusable; co-occurrence ranks alone until the next training", "err", err)
		return nil
	}
	a.latent.Store(m)
	a.log.Info("latent snapshot restored", "taken_at", meta.TakenAt, "bytes", len(data))
	return nil
}

// buildCoView rebuilds the co-view model (products looked at by the same
// shopper: viewed, clicked, found by search or put in the cart) from the
// customer states in memory, swaps it into the engine and snapshots it, so
// a restart serves the same upsell substitution (restoreCoView). Upsell
// reads it as the substitution signal and personalized as extra
// neighbours.
func (a *App) buildCoView(ctx context.Context) error {
	start := time.Now()
	m, err := cooccur.New(coViewConfig())
	if err != nil {
		return err
	}
	for _, evs := range a.customers.purchaseHistories() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var looked []string
		seen := map[string]bool{}
		for _, e := range evs {
			switch e.Kind {
			case interaction.View, interaction.Click, interaction.SearchClick, interaction.AddToCart:
				if !seen[e.ProductID] {
					seen[e.ProductID] = true
					looked = append(looked, e.ProductID)
				}
			}
		}
		if len(looked) > 1 {
			m.Observe(looked, nil, 1)
		}
	}
	m.Refresh()
	// Ranked before it serves (this runs in the background): requests
	// would otherwise rank its lists on first use.
	m.RankAll(ctx)
	a.engine.SetViewed(m)
	st := m.Stats()
	a.log.Info("co-view model built", "items", st.Items, "pairs", st.Pairs, "took", time.Since(start).String())
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		return err
	}
	meta := cooccur.SnapshotMeta{Name: coViewSnapshot, TakenAt: a.Now(), Watermark: max(1, a.watermark())}
	return store.New(a.pool).SaveSnapshot(ctx, meta, buf.Bytes())
}

// coViewSnapshot names the co-view model's snapshot.
const coViewSnapshot = "viewed"

// coViewConfig is the co-view model's configuration: the co-occurrence
// defaults, with every pair counted the same, since a session has no
// order in which one item came "before" the other in the sense of a
// repeat purchase.
func coViewConfig() cooccur.Config {
	cfg := cooccur.DefaultConfig()
	cfg.HistoryWeight = 0
	return cfg
}

// restoreCoView serves the last built co-view model, if one is stored, so
// that after a restart upsell ranks with the substitution signal it had
// before, rather than without it until the first rebuild one
// RECO_LATENT_INTERVAL later. An unreadable snapshot is ignored the same
// way as the latent model's.
func (a *App) restoreCoView(ctx context.Context) error {
	meta, data, ok, err := store.New(a.pool).LoadSnapshot(ctx, coViewSnapshot)
	if err != nil || !ok {
		return err
	}
	m, err := cooccur.Restore(bytes.NewReader(data), coViewConfig())
	if err != nil {
		a.log.Warn("co-view snapshot unusable; upsell ranks without substitution until the next rebuild", "err", err)
		return nil
	}
	m.Refresh()
	a.engine.SetViewed(m)
	a.log.Info("co-view snapshot restored", "taken_at", meta.TakenAt, "bytes", len(data))
	return nil
}

// RunLatent trains the latent model (and rebuilds the co-view model) every
// LatentInterval until ctx ends; a zero interval switches both off. It
// does not train at start: a restart serves the restored snapshot, so its
// answers are those before the restart. A failed training keeps the
// previous model: it is logged, not fatal, since co-occurrence answers on
// its own.
func (a *App) RunLatent(ctx context.Context) error {
	if a.cfg.LatentInterval <= 0 {
		return nil
	}
	t := time.NewTicker(a.cfg.LatentInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := a.TrainLatent(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("latent model training failed; serving the previous model", "error", err)
		}
	}
}
