package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// unset is how an absent bound is stored: the columns are NOT NULL, and the
// zero time.Time round-trips through timestamptz as 0001-01-01 UTC.
var unset = time.Time{}

func fromDB(t time.Time) time.Time {
	if t.Year() <= 1 {
		return unset
	}
	return t
}

// MerchandisingVersion is the counter every rule or experiment change
// bumps; replicas reload when it moves.
func (s *Store) MerchandisingVersion(ctx context.Context) (int64, error) {
	v, err := s.q.MerchandisingVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("merchandising version: %w", err)
	}
	return v, nil
}

// BumpMerchandisingVersion announces a change committed in the same
// transaction.
func (s *Store) BumpMerchandisingVersion(ctx context.Context) error {
	if _, err := s.q.BumpMerchandisingVersion(ctx); err != nil {
		return fmt.Errorf("bump merchandising version: %w", err)
	}
	return nil
}

func ruleFromRow(r sqlc.MerchandisingRule) recommend.Rule {
	return recommend.Rule{
		ID: r.RuleID, Name: r.Name, Kind: recommend.RuleKind(r.Kind), ProductIDs: r.ProductIds, Categories: r.Categories,
		Segment: r.SegmentID, Tier: r.TierID, Multiplier: r.Multiplier, MarginWeight: r.MarginWeight, Paused: r.Paused,
		From: fromDB(r.StartTime), Until: fromDB(r.EndTime), Created: r.CreateTime, Updated: r.UpdateTime,
	}
}

// Rules returns every stored merchandising rule in id order.
func (s *Store) Rules(ctx context.Context) ([]recommend.Rule, error) {
	rows, err := s.q.AllMerchandisingRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("merchandising rules: %w", err)
	}
	out := make([]recommend.Rule, len(rows))
	for i, r := range rows {
		out[i] = ruleFromRow(r)
	}
	return out, nil
}

// RulesPage returns up to max rules with ids after after, in id order.
func (s *Store) RulesPage(ctx context.Context, after string, max int) ([]recommend.Rule, error) {
	rows, err := s.q.MerchandisingRulesPage(ctx, sqlc.MerchandisingRulesPageParams{After: after, Max: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("merchandising rules page: %w", err)
	}
	out := make([]recommend.Rule, len(rows))
	for i, r := range rows {
		out[i] = ruleFromRow(r)
	}
	return out, nil
}

// RuleForUpdate reads a rule and locks it until the transaction ends.
func (s *Store) RuleForUpdate(ctx context.Context, id string) (recommend.Rule, error) {
	r, err := s.q.GetMerchandisingRuleForUpdate(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return recommend.Rule{}, fmt.Errorf("merchandising rule %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return recommend.Rule{}, fmt.Errorf("merchandising rule %s: %w", id, err)
	}
	return ruleFromRow(r), nil
}

// InsertRule stores a new rule.
func (s *Store) InsertRule(ctx context.Context, r recommend.Rule) error {
	err := s.q.InsertMerchandisingRule(ctx, sqlc.InsertMerchandisingRuleParams{
		RuleID: r.ID, Name: r.Name, Kind: int16(r.Kind), ProductIds: nonNil(r.ProductIDs), Categories: nonNil(r.Categories),
		SegmentID: r.Segment, TierID: r.Tier, Multiplier: r.Multiplier, MarginWeight: r.MarginWeight, Paused: r.Paused,
		StartTime: r.From, EndTime: r.Until, CreateTime: r.Created, UpdateTime: r.Updated,
	})
	if err != nil {
		return fmt.Errorf("insert merchandising rule %s: %w", r.ID, err)
	}
	return nil
}

// UpdateRule replaces a stored rule's values.
func (s *Store) UpdateRule(ctx context.Context, r recommend.Rule) error {
	err := s.q.UpdateMerchandisingRule(ctx, sqlc.UpdateMerchandisingRuleParams{
		RuleID: r.ID, Name: r.Name, Kind: int16(r.Kind), ProductIds: nonNil(r.ProductIDs), Categories: nonNil(r.Categories),
		SegmentID: r.Segment, TierID: r.Tier, Multiplier: r.Multiplier, MarginWeight: r.MarginWeight, Paused: r.Paused,
		StartTime: r.From, EndTime: r.Until, UpdateTime: r.Updated,
	})
	if err != nil {
		return fmt.Errorf("update merchandising rule %s: %w", r.ID, err)
	}
	return nil
}

// DeleteRule removes a rule; ErrNotFound when there is none.
func (s *Store) DeleteRule(ctx context.Context, id string) error {
	n, err := s.q.DeleteMerchandisingRule(ctx, id)
	if err != nil {
		return fmt.Errorf("delete merchandising rule %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("merchandising rule %q: %w", id, domain.ErrNotFound)
	}
	return nil
}

// ExperimentRecord is a stored experiment: the definition the engine
// assigns by, and the marketer's bookkeeping around it.
type ExperimentRecord struct {
	experiment.Experiment
	Name string
	// State is recommendation.v1.ExperimentState's number.
	State            int
	Created, Updated time.Time
}

func experimentFromRow(r sqlc.Experiment) (ExperimentRecord, error) {
	out := ExperimentRecord{
		Experiment: experiment.Experiment{ID: r.ExperimentID, Placement: r.Placement, Start: fromDB(r.StartTime), End: fromDB(r.EndTime)},
		Name:       r.Name, State: int(r.State), Created: r.CreateTime, Updated: r.UpdateTime,
	}
	if err := json.Unmarshal(r.Variants, &out.Variants); err != nil {
		return out, fmt.Errorf("variants of experiment %s: %w", r.ExperimentID, err)
	}
	return out, nil
}

// Experiments returns every stored experiment in id order.
func (s *Store) Experiments(ctx context.Context) ([]ExperimentRecord, error) {
	rows, err := s.q.AllExperiments(ctx)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	out := make([]ExperimentRecord, len(rows))
	for i, r := range rows {
		if out[i], err = experimentFromRow(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ExperimentForUpdate reads an experiment and locks it until the
// transaction ends.
func (s *Store) ExperimentForUpdate(ctx context.Context, id string) (ExperimentRecord, error) {
	r, err := s.q.GetExperimentForUpdate(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ExperimentRecord{}, fmt.Errorf("experiment %q: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return ExperimentRecord{}, fmt.Errorf("experiment %s: %w", id, err)
	}
	return experimentFromRow(r)
}

// ErrExperimentExists is returned when an experiment id is taken.
var ErrExperimentExists = errors.New("experiment already exists")

// InsertExperiment stores a new experiment; ErrExperimentExists when the id
// is taken.
func (s *Store) InsertExperiment(ctx context.Context, x ExperimentRecord) error {
	vs, err := json.Marshal(x.Variants)
	if err != nil {
		return fmt.Errorf("variants of experiment %s: %w", x.ID, err)
	}
	n, err := s.q.InsertExperiment(ctx, sqlc.InsertExperimentParams{
		ExperimentID: x.ID, Name: x.Name, Placement: x.Placement, Variants: vs, State: int16(x.State),
		StartTime: x.Start, EndTime: x.End, CreateTime: x.Created, UpdateTime: x.Updated,
	})
	if err != nil {
		return fmt.Errorf("insert experiment %s: %w", x.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("experiment %q: %w", x.ID, ErrExperimentExists)
	}
	return nil
}

// UpdateExperiment replaces a stored experiment's values.
func (s *Store) UpdateExperiment(ctx context.Context, x ExperimentRecord) error {
	vs, err := json.Marshal(x.Variants)
	if err != nil {
		return fmt.Errorf("variants of experiment %s: %w", x.ID, err)
	}
	err = s.q.UpdateExperiment(ctx, sqlc.UpdateExperimentParams{
		ExperimentID: x.ID, Name: x.Name, Placement: x.Placement, Variants: vs, State: int16(x.State),
		StartTime: x.Start, EndTime: x.End, UpdateTime: x.Updated,
	})
	if err != nil {
		return fmt.Errorf("update experiment %s: %w", x.ID, err)
	}
	return nil
}
