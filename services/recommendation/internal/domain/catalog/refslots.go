package catalog

import "sync/atomic"

// refChunk is how many slots one chunk of a RefSlots holds.
const refChunk = 1 << 12

// RefSlots is an array indexed by ref (Intern) that grows with the refs
// and is read without a lock: slots live in fixed-size chunks that never
// move, and the directory of chunks is replaced, never modified, when it
// grows. Callers serialize Grow; a slot's own reads and writes are
// synchronized by its type (an atomic) or by publishing the ref only after
// the slot is written.
type RefSlots[T any] struct {
	dir atomic.Pointer[[]*[refChunk]T]
}

// At returns ref's slot, or nil when no slot that far has grown.
func (s *RefSlots[T]) At(ref int32) *T {
	d := s.dir.Load()
	if d == nil || ref < 0 || int(ref/refChunk) >= len(*d) {
		return nil
	}
	return &(*d)[ref/refChunk][ref%refChunk]
}

// Grow returns ref's slot, growing the array to hold it. Calls must not
// overlap.
func (s *RefSlots[T]) Grow(ref int32) *T {
	var dir []*[refChunk]T
	if d := s.dir.Load(); d != nil {
		dir = *d
	}
	for int(ref/refChunk) >= len(dir) {
		grown := append(dir[:len(dir):len(dir)], new([refChunk]T))
		s.dir.Store(&grown)
		dir = grown
	}
	return &dir[ref/refChunk][ref%refChunk]
}
