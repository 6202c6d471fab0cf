package latent

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTrainAtServingScale trains on the serving benchmark's shape:
// 100,000 customers over 50,000 products, 5 orders of 1–6 Zipf-popular
// products per customer on average (about 1.7 million interaction cells),
// with the service's default settings. It reports the training time, the
// vectors' memory and the heap growth during training.
func BenchmarkTrainAtServingScale(b *testing.B) {
	const customers, products = 100_000, 50_000
	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.1, 1, products-1)
	var data []Interaction
	for c := range customers {
		id := "c" + strconv.Itoa(c)
		for range 1 + rng.IntN(9) {
			for range 1 + rng.IntN(6) {
				data = append(data, Interaction{Customer: id, Product: "p" + strconv.FormatUint(zipf.Uint64(), 10), Strength: 1})
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		m, err := Train(context.Background(), DefaultConfig(), data)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		b.ReportMetric(took.Seconds(), "train-s")
		b.ReportMetric(float64(m.Bytes())/1e6, "vectors-MB")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/1e6, "allocated-MB")
		b.ReportMetric(float64(len(data)), "interactions")
		v := m.Customer("c1")
		start = time.Now()
		const tops = 200
		for range tops {
			m.Top(v, 100, nil)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000/tops, "top100-ms")
	}
}
