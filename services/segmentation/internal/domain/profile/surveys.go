package profile

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// SurveyKind is the kind of satisfaction survey.
type SurveyKind string

// Survey kinds and their scales: CSAT 1–7, NPS 0–10, CES 1–7.
const (
	CSAT SurveyKind = "csat"
	NPS  SurveyKind = "nps"
	CES  SurveyKind = "ces"
)

// scale returns the valid range of a survey kind.
func (k SurveyKind) scale() (lo, hi int, ok bool) {
	switch k {
	case CSAT, CES:
		return 1, 7, true
	case NPS:
		return 0, 10, true
	}
	return 0, 0, false
}

// SurveyAnswer is one answer to a tracked survey, keyed by its id.
type SurveyAnswer struct {
	ID    string
	Kind  SurveyKind
	Score int
	At    time.Time
}

// ApplySurvey merges a survey answer after checking the score is on the
// kind's scale.
func (p *Profile) ApplySurvey(a SurveyAnswer) error {
	if a.ID == "" {
		return invalid("answer_id", "is required")
	}
	if a.At.IsZero() {
		return invalid("time", "is required")
	}
	lo, hi, ok := a.Kind.scale()
	if !ok {
		return invalid("kind", "must be csat, nps or ces")
	}
	if a.Score < lo || a.Score > hi {
		return invalid("score", "outside the survey's scale")
	}
	// Two versions of one answer: the later wins, and at equal times the
	// content decides, so replicas agree whatever the delivery order.
	if old, ok := p.Surveys[a.ID]; ok && !newer(a.At, a.tieKey(), old.At, old.tieKey()) {
		return nil
	}
	p.Surveys[a.ID] = a
	return nil
}

func (a SurveyAnswer) tieKey() string { return fmt.Sprintf("%s/%02d", a.Kind, a.Score) }

// Trend is the direction of a customer's answers.
type Trend string

// Trends. TrendNone means fewer than two answers.
const (
	TrendNone Trend = "none"
	TrendUp   Trend = "up"
	TrendDown Trend = "down"
	TrendFlat Trend = "flat"
)

// SurveyTrait is the latest answer of one kind and its trend.
type SurveyTrait struct {
	Latest int
	At     time.Time
	Count  int
	Trend  Trend
}

// trendWindow is how many earlier answers the latest one is compared with:
// enough to smooth one odd answer, few enough to react to a real change.
const trendWindow = 3

// surveyTrait computes the latest answer and its trend: the latest score
// compared with the mean of up to three previous answers; a move of at
// least a tenth of the scale counts as up or down, anything smaller is flat.
func (p *Profile) surveyTrait(kind SurveyKind) SurveyTrait {
	var as []SurveyAnswer
	for _, a := range p.Surveys {
		if a.Kind == kind {
			as = append(as, a)
		}
	}
	if len(as) == 0 {
		return SurveyTrait{Trend: TrendNone}
	}
	slices.SortFunc(as, func(a, b SurveyAnswer) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID)) })
	last := as[len(as)-1]
	t := SurveyTrait{Latest: last.Score, At: last.At, Count: len(as), Trend: TrendNone}
	prev := as[max(0, len(as)-1-trendWindow) : len(as)-1]
	if len(prev) == 0 {
		return t
	}
	sum := 0
	for _, a := range prev {
		sum += a.Score
	}
	lo, hi, _ := kind.scale()
	// Compare 10·len·latest with 10·sum ± len·range to stay in integers.
	diff := 10 * (last.Score*len(prev) - sum)
	step := (hi - lo) * len(prev)
	switch {
	case diff >= step:
		t.Trend = TrendUp
	case diff <= -step:
		t.Trend = TrendDown
	default:
		t.Trend = TrendFlat
	}
	return t
}
