package importer

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/events"
)

// batchSize is how many events go to Kafka in one write.
const batchSize = 1000

// Publish writes evs to Kafka in order, in batches, and reports progress
// (done, total, rate, ETA) to progress about five times a second.
func Publish(ctx context.Context, w *kafka.Writer, evs []events.Event, progress io.Writer) (time.Duration, error) {
	start := time.Now()
	bar := newBar(progress, len(evs), start)
	msgs := make([]kafka.Message, 0, batchSize)
	for i := 0; i < len(evs); i += batchSize {
		msgs = msgs[:0]
		for _, ev := range evs[i:min(i+batchSize, len(evs))] {
			m, err := events.Encode(ctx, ev)
			if err != nil {
				return time.Since(start), fmt.Errorf("encode event %s: %w", ev.ID, err)
			}
			msgs = append(msgs, m)
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return time.Since(start), fmt.Errorf("publish events %d..%d: %w", i, i+len(msgs), err)
		}
		bar.update(i + len(msgs))
	}
	bar.finish()
	return time.Since(start), nil
}

// bar draws a progress line: a bar, the count, the rate and the ETA.
type bar struct {
	w          io.Writer
	total      int
	shown      int
	start, out time.Time
}

func newBar(w io.Writer, total int, start time.Time) *bar {
	return &bar{w: w, total: total, start: start}
}

func (b *bar) update(done int) {
	now := time.Now()
	if b.w == nil || done == b.shown || (now.Sub(b.out) < 200*time.Millisecond && done < b.total) {
		return
	}
	b.out, b.shown = now, done
	elapsed := now.Sub(b.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := time.Duration(float64(b.total-done)/max(rate, 1e-9)) * time.Second
	const width = 30
	filled := width * done / max(b.total, 1)
	line := make([]byte, width)
	for i := range line {
		switch {
		case i < filled:
			line[i] = '='
		case i == filled:
			line[i] = '>'
		default:
			line[i] = ' '
		}
	}
	fmt.Fprintf(b.w, "\r[%s] %3d%% %d/%d events  %.0f/s  ETA %s   ", line, 100*done/max(b.total, 1), done, b.total, rate, eta.Round(time.Second))
}

func (b *bar) finish() {
	if b.w != nil {
		b.update(b.total)
		fmt.Fprintln(b.w)
	}
}
