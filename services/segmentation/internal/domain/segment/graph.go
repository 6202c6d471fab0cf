package segment

import (
	"errors"
	"fmt"
	"slices"
)

// Graph is a consistent set of compiled segments: every in_segment refers
// to a member of the set and there are no cycles, so an evaluation order
// exists in which each segment sees the fresh result of those it uses.
type Graph struct {
	rules      map[string]*Rule
	order      []string            // topological: dependencies first
	dependents map[string][]string // segment -> segments that use it
}

// NewGraph checks and orders a set of rules keyed by segment id.
func NewGraph(rules map[string]*Rule) (*Graph, error) {
	g := &Graph{rules: rules, dependents: map[string][]string{}}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, dep := range rules[id].Segments() {
			if _, ok := rules[dep]; !ok {
				return nil, fmt.Errorf("%w: %s uses %q", ErrUnknownSegment, id, dep)
			}
			g.dependents[dep] = append(g.dependents[dep], id)
		}
	}
	// Depth-first topological sort; ids are visited in sorted order so the
	// result is deterministic.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch state[id] {
		case visiting:
			return fmt.Errorf("%w: %v", ErrCycle, append(path, id))
		case done:
			return nil
		}
		state[id] = visiting
		for _, dep := range rules[id].Segments() {
			if err := visit(dep, append(path, id)); err != nil {
				return err
			}
		}
		state[id] = done
		g.order = append(g.order, id)
		return nil
	}
	for _, id := range ids {
		if err := visit(id, nil); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Order returns every segment id, dependencies first.
func (g *Graph) Order() []string { return slices.Clone(g.order) }

// Rule returns the compiled rule of a segment.
func (g *Graph) Rule(id string) (*Rule, bool) {
	r, ok := g.rules[id]
	return r, ok
}

// Dependents returns the segments that use id through in_segment, directly
// or transitively, in evaluation order.
func (g *Graph) Dependents(id string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(s string) {
		for _, d := range g.dependents[s] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(id)
	return g.inOrder(seen)
}

// Affected returns, in evaluation order, the segments whose result may
// change when the given variables change: those reading any of them, plus
// everything that depends on those. Pass the output of Changed.
func (g *Graph) Affected(changed []string) []string {
	hit := map[string]bool{}
	for id, r := range g.rules {
		for _, v := range r.reads {
			if slices.Contains(changed, v) {
				hit[id] = true
				break
			}
		}
	}
	for id := range hit {
		for _, d := range g.Dependents(id) {
			hit[d] = true
		}
	}
	return g.inOrder(hit)
}

// TimeDependent returns, in evaluation order, the segments to re-evaluate
// on the schedule: time-dependent rules and everything depending on them.
func (g *Graph) TimeDependent() []string {
	hit := map[string]bool{}
	for id, r := range g.rules {
		if r.timeDependent {
			hit[id] = true
			for _, d := range g.Dependents(id) {
				hit[d] = true
			}
		}
	}
	return g.inOrder(hit)
}

func (g *Graph) inOrder(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for _, id := range g.order {
		if set[id] {
			out = append(out, id)
		}
	}
	return out
}

// Evaluate evaluates the given segments (all when ids is nil) on one input,
// in evaluation order, so that in_segment sees the fresh result of segments
// evaluated earlier in the same pass. It starts from in.Segments and returns
// the new membership map; in itself is not modified. Rules that fail at run
// time count as "not a member" and their errors are returned joined, beside
// a usable result.
func (g *Graph) Evaluate(in *Input, ids []string) (map[string]bool, error) {
	local := *in
	local.Segments = make(map[string]bool, len(in.Segments)+len(ids))
	for k, v := range in.Segments {
		if v {
			local.Segments[k] = true
		}
	}
	if ids == nil {
		ids = g.order
	}
	var errs []error
	for _, id := range ids {
		r, ok := g.rules[id]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		v, err := r.Eval(&local)
		if err != nil {
			errs = append(errs, fmt.Errorf("segment %s: %w", id, err))
		}
		if v {
			local.Segments[id] = true
		} else {
			delete(local.Segments, id)
		}
	}
	return local.Segments, errors.Join(errs...)
}

// Reevaluate is the real-time path for one profile change: it finds the
// variables that differ between before and after, evaluates only the
// segments they can affect (starting from before.Segments, the stored
// memberships) and returns the changes to announce and the new membership
// set. Rules failing at run time count as "not a member"; their errors are
// returned beside a usable result.
func (g *Graph) Reevaluate(before, after *Input) ([]Change, map[string]bool, error) {
	scope := g.Affected(Changed(before, after))
	in := *after
	in.Segments = before.Segments
	next, err := g.Evaluate(&in, scope)
	if next == nil {
		return nil, nil, err
	}
	return Diff(after.CustomerID, before.Segments, next, scope, after.Now), next, err
}

// Recompute evaluates every segment in scope (all when nil; use
// TimeDependent for the scheduled pass) for one customer from the stored
// memberships, and returns the changes and the new set.
func (g *Graph) Recompute(in *Input, scope []string) ([]Change, map[string]bool, error) {
	if scope == nil {
		scope = g.order
	}
	next, err := g.Evaluate(in, scope)
	if next == nil {
		return nil, nil, err
	}
	return Diff(in.CustomerID, in.Segments, next, scope, in.Now), next, err
}
