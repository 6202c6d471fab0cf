package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/pkg/events"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// Marketers manage merchandising rules and A/B experiments through the API;
// both are stored in the service's database. Every change bumps one version
// counter in the same transaction, and every replica polls that counter
// each RECO_POLL_INTERVAL and, when it moved, reloads rules and experiments
// and swaps the engine's configuration (Engine.SetConfig), so a change
// applies on every replica within a poll interval. RECO_BOOSTS and
// RECO_EXPERIMENTS stay as the operator's layer beside the stored ones: they
// always apply, are read-only through the API, and an experiment id they use
// cannot be taken by a stored experiment.

// Experiment states, numbered as recommendation.v1.ExperimentState.
const (
	ExperimentUnspecified = 0
	ExperimentDraft       = 1
	ExperimentRunning     = 2
	ExperimentStopped     = 3
)

// ErrReadOnly marks a change to an experiment configured by the operator
// (RECO_EXPERIMENTS), which only the environment can change.
var ErrReadOnly = errors.New("configured by RECO_EXPERIMENTS; read-only through the API")

// ErrExists marks a create whose id is taken.
var ErrExists = store.ErrExperimentExists

// Experiment is an experiment as the API shows it.
type Experiment struct {
	store.ExperimentRecord
	// ManagedByEnvironment is true for RECO_EXPERIMENTS entries.
	ManagedByEnvironment bool
}

// HomePlacement is an experiment's placement for home requests, which the
// engine sees as the unspecified placement; an experiment with no placement
// runs on every placement.
const HomePlacement = "home"

// matchesPlacement reports whether an experiment on placement xp runs on a
// request for placement p.
func matchesPlacement(xp string, p recommend.Placement) bool {
	return xp == "" || xp == string(p) || (xp == HomePlacement && p == recommend.PlacementUnspecified)
}

// ParamMaxPerCategory is the variant parameter that sets the request's
// diversity cap (items per leaf category).
const ParamMaxPerCategory = "max_per_category"

// validateParams checks a variant's parameters: only the ones Recommend
// applies are accepted, so a typo does not silently do nothing.
func validateParams(field string, params map[string]string) error {
	for k, v := range params {
		switch k {
		case ParamMaxPerCategory:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return domain.Invalid(field+"."+k, fmt.Sprintf("must be an integer within 0..100, got %q", v))
			}
		default:
			return domain.Invalid(field, fmt.Sprintf("unknown parameter %q; known: %s", k, ParamMaxPerCategory))
		}
	}
	return nil
}

// applyParams applies a variant's parameters to a request.
func applyParams(r recommend.Request, v experiment.Variant) recommend.Request {
	if s, ok := v.Params[ParamMaxPerCategory]; ok {
		if n, err := strconv.Atoi(s); err == nil {
			r.MaxPerCategory = n
		}
	}
	return r
}

// merchState is what serving reads of the marketer's configuration,
// swapped as a whole.
type merchState struct {
	// running are the experiments that may assign customers, stored ones
	// first, each group in id order.
	running []experiment.Experiment
}

// experimentsRunning returns the experiments that may assign customers.
func (a *App) experimentsRunning() []experiment.Experiment {
	if st := a.merch.Load(); st != nil {
		return st.running
	}
	return nil
}

// ReloadMerchandising reloads rules and experiments when the stored
// version moved (or force is set), and recomputes the engine configuration
// when a margin rule's window opened or closed since the last time.
func (a *App) ReloadMerchandising(ctx context.Context, force bool) error {
	a.merchMu.Lock()
	defer a.merchMu.Unlock()
	s := store.New(a.pool)
	v, err := s.MerchandisingVersion(ctx)
	if err != nil {
		return err
	}
	now := a.Now()
	due := !a.merchNext.IsZero() && !now.Before(a.merchNext)
	if !force && v == a.merchVersion && a.merch.Load() != nil && !due {
		return nil
	}
	if force || v != a.merchVersion || a.merch.Load() == nil {
		rules, err := s.Rules(ctx)
		if err != nil {
			return err
		}
		xs, err := s.Experiments(ctx)
		if err != nil {
			return err
		}
		st := &merchState{}
		for _, x := range xs {
			if x.State == ExperimentRunning {
				st.running = append(st.running, x.Experiment)
			}
		}
		st.running = append(st.running, a.envExperiments...)
		a.merchRules = rules
		a.merch.Store(st)
	}
	cfg, next := recommend.WithRules(a.baseConfig, a.merchRules, now)
	if err := a.engine.SetConfig(cfg); err != nil {
		return fmt.Errorf("apply merchandising rules: %w", err)
	}
	a.merchVersion, a.merchNext = v, next
	return nil
}

// ruleFields are the writable fields of a rule, named as in the API.
var ruleFields = []string{"name", "kind", "product_ids", "categories", "segment_id", "tier_id", "multiplier", "margin_weight", "paused", "start_time", "end_time"}

// CreateRule stores a new merchandising rule in tx and returns it with its
// id. The caller reloads after commit (ReloadMerchandising).
func (a *App) CreateRule(ctx context.Context, tx pgx.Tx, r recommend.Rule) (recommend.Rule, error) {
	if err := r.Validate(); err != nil {
		return recommend.Rule{}, err
	}
	id, err := events.NewID()
	if err != nil {
		return recommend.Rule{}, fmt.Errorf("rule id: %w", err)
	}
	now := a.Now().UTC().Truncate(time.Microsecond)
	r.ID, r.Created, r.Updated = id, now, now
	s := store.New(tx)
	if err := s.InsertRule(ctx, r); err != nil {
		return recommend.Rule{}, err
	}
	return r, s.BumpMerchandisingVersion(ctx)
}

// UpdateRule changes the named fields (all writable ones when fields is
// empty) of the stored rule with in.ID.
func (a *App) UpdateRule(ctx context.Context, tx pgx.Tx, in recommend.Rule, fields []string) (recommend.Rule, error) {
	if err := domain.ValidateID("rule_id", in.ID); err != nil {
		return recommend.Rule{}, err
	}
	if len(fields) == 0 {
		fields = ruleFields
	}
	s := store.New(tx)
	r, err := s.RuleForUpdate(ctx, in.ID)
	if err != nil {
		return recommend.Rule{}, err
	}
	for _, f := range fields {
		switch f {
		case "name":
			r.Name = in.Name
		case "kind":
			r.Kind = in.Kind
		case "product_ids":
			r.ProductIDs = in.ProductIDs
		case "categories":
			r.Categories = in.Categories
		case "segment_id":
			r.Segment = in.Segment
		case "tier_id":
			r.Tier = in.Tier
		case "multiplier":
			r.Multiplier = in.Multiplier
		case "margin_weight":
			r.MarginWeight = in.MarginWeight
		case "paused":
			r.Paused = in.Paused
		case "start_time":
			r.From = in.From
		case "end_time":
			r.Until = in.Until
		default:
			return recommend.Rule{}, domain.Invalid("update_mask", fmt.Sprintf("unknown or read-only field %q; writable: %v", f, ruleFields))
		}
	}
	if err := r.Validate(); err != nil {
		return recommend.Rule{}, err
	}
	r.Updated = a.Now().UTC().Truncate(time.Microsecond)
	if err := s.UpdateRule(ctx, r); err != nil {
		return recommend.Rule{}, err
	}
	return r, s.BumpMerchandisingVersion(ctx)
}

// DeleteRule removes a stored rule.
func (a *App) DeleteRule(ctx context.Context, tx pgx.Tx, id string) error {
	if err := domain.ValidateID("rule_id", id); err != nil {
		return err
	}
	s := store.New(tx)
	if err := s.DeleteRule(ctx, id); err != nil {
		return err
	}
	return s.BumpMerchandisingVersion(ctx)
}

// Rules returns up to max stored rules with ids after after, in id order.
func (a *App) Rules(ctx context.Context, after string, max int) ([]recommend.Rule, error) {
	return store.New(a.pool).RulesPage(ctx, after, max)
}

// envExperiment returns the RECO_EXPERIMENTS entry with this id.
func (a *App) envExperiment(id string) (experiment.Experiment, bool) {
	for _, x := range a.envExperiments {
		if x.ID == id {
			return x, true
		}
	}
	return experiment.Experiment{}, false
}

func fromEnv(x experiment.Experiment) Experiment {
	return Experiment{ExperimentRecord: store.ExperimentRecord{Experiment: x, State: ExperimentRunning}, ManagedByEnvironment: true}
}

// validateExperiment checks a definition; fields are named as in
// recommendation.v1.Experiment.
func validateExperiment(x store.ExperimentRecord) error {
	if len(x.Name) > 200 {
		return domain.Invalid("name", fmt.Sprintf("at most 200 bytes, got %d", len(x.Name)))
	}
	if len(x.Variants) > 20 {
		return domain.Invalid("variants", fmt.Sprintf("at most 20, got %d", len(x.Variants)))
	}
	if err := x.Experiment.Validate(); err != nil {
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			switch ve.Field {
			case "id":
				return domain.Invalid("experiment_id", ve.Reason)
			case "end":
				return domain.Invalid("end_time", ve.Reason)
			}
		}
		return err
	}
	for i, v := range x.Variants {
		if v.Strategy != "" {
			if _, err := recommend.ParseStrategy(v.Strategy); err != nil {
				return domain.Invalid(fmt.Sprintf("variants[%d].strategy", i), err.Error())
			}
		}
		if err := validateParams(fmt.Sprintf("variants[%d].params", i), v.Params); err != nil {
			return err
		}
	}
	if x.Placement != HomePlacement {
		if _, err := recommend.ParsePlacement(x.Placement); err != nil {
			return domain.Invalid("placement", err.Error())
		}
	}
	return nil
}

// CreateExperiment stores a new experiment as a draft, or running from now
// when its state says so. An experiment without an id gets a generated one.
func (a *App) CreateExperiment(ctx context.Context, tx pgx.Tx, x store.ExperimentRecord) (Experiment, error) {
	now := a.Now().UTC().Truncate(time.Microsecond)
	if x.ID == "" {
		id, err := events.NewID()
		if err != nil {
			return Experiment{}, fmt.Errorf("experiment id: %w", err)
		}
		x.ID = id
	}
	switch x.State {
	case ExperimentUnspecified, ExperimentDraft:
		x.State, x.Start = ExperimentDraft, time.Time{}
	case ExperimentRunning:
		x.Start = now
	default:
		return Experiment{}, domain.Invalid("state", "a new experiment is a draft or running")
	}
	if err := validateExperiment(x); err != nil {
		return Experiment{}, err
	}
	if _, ok := a.envExperiment(x.ID); ok {
		return Experiment{}, fmt.Errorf("experiment %q: %w", x.ID, ErrExists)
	}
	x.Created, x.Updated = now, now
	s := store.New(tx)
	if err := s.InsertExperiment(ctx, x); err != nil {
		return Experiment{}, err
	}
	return Experiment{ExperimentRecord: x}, s.BumpMerchandisingVersion(ctx)
}

// experimentFields are the writable fields of an experiment.
var experimentFields = []string{"name", "placement", "variants", "state", "end_time"}

// UpdateExperiment changes the named fields (all writable ones when fields
// is empty) of the stored experiment with in.ID. Starting sets the start
// time on the first start and clears a past end; stopping sets the end to
// now. Once started, variants keep their names and order: only weights,
// strategies and parameters change, so every recorded result still belongs
// to a variant.
func (a *App) UpdateExperiment(ctx context.Context, tx pgx.Tx, in store.ExperimentRecord, fields []string) (Experiment, error) {
	if err := domain.ValidateID("experiment_id", in.ID); err != nil {
		return Experiment{}, err
	}
	if _, ok := a.envExperiment(in.ID); ok {
		return Experiment{}, fmt.Errorf("experiment %q: %w", in.ID, ErrReadOnly)
	}
	if len(fields) == 0 {
		fields = experimentFields
	}
	s := store.New(tx)
	x, err := s.ExperimentForUpdate(ctx, in.ID)
	if err != nil {
		return Experiment{}, err
	}
	now := a.Now().UTC().Truncate(time.Microsecond)
	was := x.State
	endGiven := false
	for _, f := range fields {
		switch f {
		case "name":
			x.Name = in.Name
		case "placement":
			x.Placement = in.Placement
		case "variants":
			if was != ExperimentDraft && !sameNames(x.Variants, in.Variants) {
				return Experiment{}, domain.Invalid("variants", "a started experiment keeps its variants' names and order; change weights, strategies or parameters, or create a new experiment")
			}
			x.Variants = in.Variants
		case "state":
			switch {
			case in.State == ExperimentUnspecified:
				return Experiment{}, domain.Invalid("state", "must be draft, running or stopped")
			case in.State == ExperimentDraft && was != ExperimentDraft:
				return Experiment{}, domain.Invalid("state", "a started experiment cannot return to draft")
			}
			x.State = in.State
		case "end_time":
			x.End, endGiven = in.End, true
		default:
			return Experiment{}, domain.Invalid("update_mask", fmt.Sprintf("unknown or read-only field %q; writable: %v", f, experimentFields))
		}
	}
	switch {
	case x.State == ExperimentRunning && was != ExperimentRunning:
		if x.Start.IsZero() {
			x.Start = now
		}
		if !endGiven && !x.End.IsZero() && !x.End.After(now) {
			x.End = time.Time{} // a restart clears the stop time
		}
	case x.State == ExperimentStopped && was != ExperimentStopped:
		if x.Start.IsZero() {
			return Experiment{}, domain.Invalid("state", "a draft that never ran cannot be stopped; start it first")
		}
		x.End = now
	}
	if err := validateExperiment(x); err != nil {
		return Experiment{}, err
	}
	x.Updated = now
	if err := s.UpdateExperiment(ctx, x); err != nil {
		return Experiment{}, err
	}
	return Experiment{ExperimentRecord: x}, s.BumpMerchandisingVersion(ctx)
}

func sameNames(a, b []experiment.Variant) bool {
	return slices.EqualFunc(a, b, func(x, y experiment.Variant) bool { return x.Name == y.Name })
}

// GetExperiment returns a stored or environment experiment.
func (a *App) GetExperiment(ctx context.Context, id string) (Experiment, error) {
	if x, ok := a.envExperiment(id); ok {
		return fromEnv(x), nil
	}
	xs, err := store.New(a.pool).Experiments(ctx)
	if err != nil {
		return Experiment{}, err
	}
	for _, x := range xs {
		if x.ID == id {
			return Experiment{ExperimentRecord: x}, nil
		}
	}
	return Experiment{}, fmt.Errorf("experiment %q: %w", id, domain.ErrNotFound)
}

// Experiments returns up to max experiments, stored and environment ones,
// with ids after after, in id order.
func (a *App) Experiments(ctx context.Context, after string, max int) ([]Experiment, error) {
	xs, err := store.New(a.pool).Experiments(ctx)
	if err != nil {
		return nil, err
	}
	all := make([]Experiment, 0, len(xs)+len(a.envExperiments))
	for _, x := range xs {
		all = append(all, Experiment{ExperimentRecord: x})
	}
	for _, x := range a.envExperiments {
		all = append(all, fromEnv(x))
	}
	slices.SortFunc(all, func(x, y Experiment) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	out := make([]Experiment, 0, max)
	for _, x := range all {
		if x.ID > after && len(out) < max {
			out = append(out, x)
		}
	}
	return out, nil
}
