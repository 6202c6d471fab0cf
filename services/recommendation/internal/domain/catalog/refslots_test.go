package catalog

import "testing"

func TestRefSlotsGrowWithoutMovingASlot(t *testing.T) {
	t.Parallel()
	var s RefSlots[int]
	if s.At(0) != nil || s.At(-1) != nil {
		t.Fatal("empty slots: expected no slot for refs 0 and -1")
	}
	first := s.Grow(3)
	*first = 7
	if s.At(refChunk) != nil {
		t.Errorf("ref %d before growing that far: expected no slot", refChunk)
	}
	far := s.Grow(3*refChunk + 5)
	*far = 9
	if s.At(3) != first || *s.At(3) != 7 || *s.At(3*refChunk + 5) != 9 {
		t.Error("after growing: expected ref 3's slot unmoved with its value, and the new slot readable")
	}
	if s.At(-1) != nil || s.At(4*refChunk) != nil {
		t.Error("expected no slot for a negative ref or one beyond the grown chunks")
	}
}
