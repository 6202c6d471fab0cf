package latent

import (
	"encoding/gob"
	"fmt"
	"io"
)

// snapshot is the persisted form of a model.
type snapshot struct {
	Config    Config
	Customers []string
	Products  []string
	X, Y      []float32
	// IDF and AvgLen are the BM25 weighting's statistics (absent in
	// snapshots of models trained without it).
	IDF    []float32
	AvgLen float64
}

// Snapshot writes the model, so a restart serves the same answers as
// before it until the next training (training again at start would not:
// the data have moved on since the model was trained).
func (m *Model) Snapshot(w io.Writer) error {
	s := snapshot{Config: m.cfg, Customers: make([]string, len(m.customers)), Products: m.products, X: m.x, Y: m.y, IDF: m.idf, AvgLen: m.avgLen}
	for id, u := range m.customers {
		s.Customers[u] = id
	}
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("latent: write snapshot: %w", err)
	}
	return nil
}

// Restore reads a model written by Snapshot.
func Restore(r io.Reader) (*Model, error) {
	var s snapshot
	if err := gob.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("latent: read snapshot: %w", err)
	}
	f := s.Config.Factors
	if err := s.Config.Validate(); err != nil {
		return nil, err
	}
	if len(s.X) != len(s.Customers)*f || len(s.Y) != len(s.Products)*f {
		return nil, fmt.Errorf("latent: snapshot has %d customer and %d product values for %d customers and %d products of %d factors", len(s.X), len(s.Y), len(s.Customers), len(s.Products), f)
	}
	if s.Config.BM25K1 > 0 && len(s.IDF) != len(s.Products) {
		return nil, fmt.Errorf("latent: snapshot has %d BM25 weights for %d products", len(s.IDF), len(s.Products))
	}
	m := &Model{idf: s.IDF, avgLen: s.AvgLen, cfg: s.Config, customers: make(map[string]int32, len(s.Customers)), products: s.Products, index: make(map[string]int32, len(s.Products)), x: s.X, y: s.Y}
	for i, id := range s.Customers {
		m.customers[id] = int32(i)
	}
	for i, id := range s.Products {
		m.index[id] = int32(i)
	}
	m.gram = gramian(m.y, f)
	m.indexRefs()
	m.prepareScan()
	return m, nil
}
