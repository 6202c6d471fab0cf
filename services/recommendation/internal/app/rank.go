package app

import (
	"context"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
)

// startRanker ranks neighbour lists in one background goroutine, so that
// requests find them ranked instead of ranking them on first use (inside
// the request, which showed in the p99): right away every list of the
// co-purchase model and of the co-view model in use (cooccur.Model.RankAll;
// after the start's catch-up all are unranked), then, each time a value is
// sent on rank (after a refresh, which makes every list stale), the lists
// ranked before (RerankRanked). Ranking every list up front holds about
// 180 MB more resident memory in BenchmarkServing (lists of products no
// request reads); see docs/recommendation.md. The goroutine ends with ctx;
// ranked is closed then.
func (a *App) startRanker(ctx context.Context) (rank chan<- struct{}, ranked <-chan struct{}) {
	due := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		all := true
		for {
			if !all {
				select {
				case <-ctx.Done():
					return
				case <-due:
				}
			}
			start := time.Now()
			models := []*cooccur.Model{a.bought}
			if v := a.engine.Viewed(); v != nil {
				models = append(models, v)
			}
			for _, m := range models {
				if all {
					m.RankAll(ctx)
				} else {
					m.RerankRanked(ctx)
				}
			}
			a.log.Debug("neighbour lists ranked", "all", all, "took", time.Since(start).String())
			all = false
		}
	}()
	return due, done
}
