package cooccur

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"
)

// ErrCorruptSnapshot is returned by Restore for bytes that are not a
// complete, intact snapshot. The app layer then rebuilds from the stored
// orders instead of serving a half-read model.
var ErrCorruptSnapshot = errors.New("cooccur: corrupt snapshot")

// SnapshotMeta describes a stored snapshot.
type SnapshotMeta struct {
	// Name tells models apart ("bought", "viewed").
	Name    string
	TakenAt time.Time
	// Watermark is the app's sequence number (for example an ingest table's
	// bigserial) of the last basket folded into the snapshot; after a
	// restore the app replays the baskets above it, so nothing is counted
	// twice or lost.
	Watermark int64
}

// Snapshot format, version 1 (all integers unsigned varints unless noted):
//
//	"AFCO" 0x01
//	baskets float64 (little-endian bits)
//	items n, then n × (len, id bytes, count float64)
//	then n rows × (pairs p, then p × (delta of neighbour index, basket float32, history float32))
//	CRC-32 (IEEE) of everything before, 4 bytes little-endian
//
// Neighbour indexes are sorted and delta-encoded, so the common small
// gaps take one byte. Only counts are stored: scores follow from counts and
// the Config given to Restore, so changing Alpha or Shrinkage needs no
// rebuild.
const (
	snapshotMagic   = "AFCO"
	snapshotVersion = 1
	maxSnapshotIDs  = 1 << 26
)

// Snapshot writes the model's counts to w. It holds the read lock for the
// duration, so serving continues while updates wait.
func (m *Model) Snapshot(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	crc := crc32.NewIEEE()
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	var buf [binary.MaxVarintLen64]byte
	putU := func(v uint64) { n := binary.PutUvarint(buf[:], v); bw.Write(buf[:n]) }
	putF64 := func(v float64) { binary.LittleEndian.PutUint64(buf[:8], math.Float64bits(v)); bw.Write(buf[:8]) }
	putF32 := func(v float32) { binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v)); bw.Write(buf[:4]) }

	bw.WriteString(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	putF64(m.baskets)
	putU(uint64(len(m.ids)))
	for i, id := range m.ids {
		putU(uint64(len(id)))
		bw.WriteString(id)
		putF64(m.counts[i])
	}
	keys := make([]int32, 0, 64)
	for _, r := range m.rows {
		keys = keys[:0]
		for k := range r.pairs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		putU(uint64(len(keys)))
		prev := int32(0)
		for _, k := range keys {
			putU(uint64(k - prev))
			prev = k
			c := r.pairs[k]
			putF32(c.basket)
			putF32(c.history)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cooccur: write snapshot: %w", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := w.Write(sum[:]); err != nil {
		return fmt.Errorf("cooccur: write snapshot checksum: %w", err)
	}
	return nil
}

type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
}

func (s *snapReader) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: "+format, append([]any{ErrCorruptSnapshot}, args...)...)
	}
}

// ReadByte lets binary.ReadUvarint read through the checksum.
func (s *snapReader) ReadByte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		s.crc.Write([]byte{b})
	}
	return b, err
}

func (s *snapReader) full(p []byte) {
	if s.err != nil {
		return
	}
	if _, err := io.ReadFull(s.r, p); err != nil {
		s.fail("truncated: %v", err)
		return
	}
	s.crc.Write(p)
}

func (s *snapReader) uvarint() uint64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(s)
	if err != nil {
		// ReadUvarint returns a partial value on overflow; never let a
		// caller size an allocation from it.
		s.fail("bad varint: %v", err)
		return 0
	}
	return v
}

func (s *snapReader) f64() float64 {
	var b [8]byte
	s.full(b[:])
	v := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	if s.err == nil && (math.IsNaN(v) || math.IsInf(v, 0) || v < 0) {
		s.fail("count %v out of range", v)
	}
	return v
}

func (s *snapReader) f32() float32 {
	var b [4]byte
	s.full(b[:])
	v := math.Float32frombits(binary.LittleEndian.Uint32(b[:]))
	if s.err == nil && (v != v || math.IsInf(float64(v), 0) || v < 0) {
		s.fail("pair count %v out of range", v)
	}
	return v
}

// Restore reads a snapshot written by Snapshot into a new model with the
// given configuration. Every length and index is checked before use, so
// corrupt or hostile input returns ErrCorruptSnapshot rather than panicking
// or allocating without bound.
func Restore(r io.Reader, cfg Config) (*Model, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s := &snapReader{r: bufio.NewReaderSize(r, 1<<16), crc: crc32.NewIEEE()}
	head := make([]byte, len(snapshotMagic)+1)
	s.full(head)
	if s.err != nil {
		return nil, s.err
	}
	if string(head[:4]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorruptSnapshot, head[:4])
	}
	if head[4] != snapshotVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorruptSnapshot, head[4])
	}
	m.baskets = s.f64()
	n := s.uvarint()
	if s.err == nil && n > maxSnapshotIDs {
		s.fail("%d items exceeds the limit %d", n, maxSnapshotIDs)
	}
	for i := uint64(0); i < n && s.err == nil; i++ {
		l := s.uvarint()
		if s.err != nil {
			break
		}
		if l == 0 || l > 1024 {
			s.fail("item %d has id length %d", i, l)
			break
		}
		id := make([]byte, l)
		s.full(id)
		count := s.f64()
		if s.err != nil {
			break
		}
		if _, dup := m.index[string(id)]; dup {
			s.fail("duplicate id %q", id)
			break
		}
		m.setCount(m.intern(string(id)), count)
	}
	for i := 0; i < len(m.ids) && s.err == nil; i++ {
		p := s.uvarint()
		if s.err == nil && p > uint64(len(m.ids)) {
			s.fail("row %d has %d pairs for %d items", i, p, len(m.ids))
			break
		}
		r := m.rows[i]
		prev := uint64(0)
		for j := uint64(0); j < p && s.err == nil; j++ {
			d := s.uvarint()
			k := prev + d
			if s.err == nil && ((j > 0 && d == 0) || k >= uint64(len(m.ids)) || k < prev) {
				s.fail("row %d has neighbour index %d out of order or range", i, k)
				break
			}
			prev = k
			c := cell{basket: s.f32(), history: s.f32()}
			if s.err == nil {
				r.pairs[int32(k)] = c
			}
		}
		r.dirty = true
	}
	if s.err != nil {
		return nil, s.err
	}
	want := s.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(s.r, sum[:]); err != nil {
		return nil, fmt.Errorf("%w: missing checksum: %v", ErrCorruptSnapshot, err)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorruptSnapshot, got, want)
	}
	return m, nil
}
