package app

import (
	"fmt"
	"testing"
)

func TestTheProfileCacheKeepsTheLatestVersionOfEachProfileThroughCollisionsAndCompaction(t *testing.T) {
	// Compact as soon as half the arena is stale. Not parallel: the
	// package's parallel tests start only after this one returned.
	minCompact = 0
	defer func() { minCompact = chunkSize }()
	c := &profileCache{index: map[uint64]int32{}, collisions: map[string]int32{}, groupIdx: map[string]uint8{}}
	want := map[string]string{}
	for i := range 100 {
		id := fmt.Sprintf("c%03d", i)
		c.set(id, []byte("v0-"+id), 1, 2, 3, "Champions")
		want[id] = "v0-" + id
	}
	// An id whose hash slot another id already holds (forced here; with
	// 64-bit hashes it is rare, but it must not mix the two up).
	c.index[hashID("zz-collider")] = c.index[hashID("c007")]
	c.set("zz-collider", []byte("v0-zz"), 0, 0, 0, "")
	want["zz-collider"] = "v0-zz"
	for round := 1; round <= 5; round++ {
		for i := 0; i < 100; i += 2 {
			id := fmt.Sprintf("c%03d", i)
			v := fmt.Sprintf("v%d-%s", round, id)
			c.set(id, []byte(v), 5, 5, 5, "Lost")
			want[id] = v
		}
		c.set("zz-collider", []byte(fmt.Sprintf("v%d-zz", round)), 0, 0, 0, "")
		want["zz-collider"] = fmt.Sprintf("v%d-zz", round)
		c.compact()
	}
	if len(c.entries) != len(want) {
		t.Fatalf("expected %d entries, got %d", len(want), len(c.entries))
	}
	for id, v := range want {
		i := c.lookup(id)
		if i < 0 {
			t.Fatalf("%s: not found", id)
		}
		e := &c.entries[i]
		if got := string(c.id(e)); got != id {
			t.Errorf("%s: entry holds id %s", id, got)
		}
		if got := string(c.snap(e)); got != v {
			t.Errorf("%s: expected snapshot %q, got %q", id, v, got)
		}
	}
	var total int64
	for _, ch := range c.chunks {
		total += int64(len(ch))
	}
	if total >= 2*c.live {
		t.Errorf("expected compaction to keep the arena under twice the live bytes (%d), got %d", c.live, total)
	}
	if c.lookup("missing") != -1 {
		t.Error("expected an unknown id not to be found")
	}
}
