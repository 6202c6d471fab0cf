package segment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Sentinel errors the ports layer maps to gRPC codes.
var (
	ErrNotFound      = errors.New("segment: not found")
	ErrAlreadyExists = errors.New("segment: already exists")
	// ErrCycle: segments referring to each other through in_segment could
	// never settle, so such a set is rejected on save.
	ErrCycle = errors.New("segment: in_segment references form a cycle")
	// ErrUnknownSegment: a rule refers to a segment that does not exist.
	ErrUnknownSegment = errors.New("segment: rule refers to an unknown segment")
	// ErrInUse: a segment other rules refer to cannot be deleted.
	ErrInUse = errors.New("segment: referenced by other segments")
)

// ValidationError names the invalid field of a segment definition.
type ValidationError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// ValidID reports whether id is a valid segment id: lower-case, starting
// with a letter, at most 63 characters, so it is safe in URLs, metrics
// labels and rule literals.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Segment is a saved segment definition.
type Segment struct {
	ID          string
	Name        string
	Description string
	Rule        string
	// TemplateID is set when the segment was created from a template.
	TemplateID string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Version increases on every change; memberships computed by an older
	// version are re-evaluated.
	Version int64
}

// Validate checks the definition's fields and compiles its rule. Rule
// problems come back as *CompileError, field problems as *ValidationError.
func (s Segment) Validate(c *Compiler) (*Rule, error) {
	if !ValidID(s.ID) {
		return nil, &ValidationError{Field: "id", Reason: "must match " + idPattern.String()}
	}
	if name := strings.TrimSpace(s.Name); name == "" || len(name) > 200 {
		return nil, &ValidationError{Field: "name", Reason: "must be 1–200 characters"}
	}
	if len(s.Description) > 2000 {
		return nil, &ValidationError{Field: "description", Reason: "must be at most 2000 characters"}
	}
	r, err := c.Compile(s.Rule)
	if err != nil {
		return nil, err
	}
	if slices.Contains(r.Segments(), s.ID) {
		return nil, fmt.Errorf("%w: %s refers to itself", ErrCycle, s.ID)
	}
	return r, nil
}

// Repository stores segment definitions. Update runs fn on the locked
// current definition in one transaction.
type Repository interface {
	Create(ctx context.Context, s Segment) error // ErrAlreadyExists
	Get(ctx context.Context, id string) (Segment, error)
	List(ctx context.Context) ([]Segment, error)
	Update(ctx context.Context, id string, fn func(s *Segment) error) error
	Delete(ctx context.Context, id string) error
}

// Change is one membership transition, announced as SegmentEntered or
// SegmentExited.
type Change struct {
	SegmentID  string
	CustomerID string
	Entered    bool
	At         time.Time
}

// SizePoint is a segment's size at one time, for the size-over-time query.
type SizePoint struct {
	At   time.Time
	Size int64
}

// MembershipRepository stores current memberships and their history. Apply
// must run in the same transaction as the outbox write of the matching
// events, so every change is announced exactly once.
type MembershipRepository interface {
	Memberships(ctx context.Context, customerID string) (map[string]bool, error)
	Apply(ctx context.Context, changes []Change) error
	IsMember(ctx context.Context, segmentID, customerID string) (bool, error)
	// Members pages through a segment in customer id order, after the given
	// id ("" for the first page); next is "" on the last page.
	Members(ctx context.Context, segmentID, after string, limit int) (ids []string, next string, err error)
	Sizes(ctx context.Context, segmentID string, from, to time.Time) ([]SizePoint, error)
}

// Diff returns the changes that move a customer from before to after,
// sorted by segment id so events are emitted in a stable order. Only
// segments in scope are considered: a partial re-evaluation must not read a
// segment it did not evaluate as an exit.
func Diff(customerID string, before, after map[string]bool, scope []string, at time.Time) []Change {
	var out []Change
	for _, id := range scope {
		if b, a := before[id], after[id]; a != b {
			out = append(out, Change{SegmentID: id, CustomerID: customerID, Entered: a, At: at})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return cmp.Compare(x.SegmentID, y.SegmentID) })
	return out
}

// PreviewResult is the size of a would-be segment and a sample of members.
type PreviewResult struct {
	Size   int
	Sample []string
	// Errors counts profiles on which the rule failed at run time (e.g. a
	// missing attribute); they are not members. A high count means the
	// rule should guard with `has` or optional syntax.
	Errors int
}

// Preview evaluates a rule over a population before the segment is saved.
// The sample holds the first sampleSize members in the order the inputs
// come (the adapter streams in customer id order, so it is stable).
func Preview(r *Rule, inputs iter.Seq[*Input], sampleSize int) PreviewResult {
	var res PreviewResult
	for in := range inputs {
		ok, err := r.Eval(in)
		if err != nil {
			res.Errors++
			continue
		}
		if ok {
			res.Size++
			if len(res.Sample) < sampleSize {
				res.Sample = append(res.Sample, in.CustomerID)
			}
		}
	}
	return res
}
