package app

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// profileCache holds every profile's encoded snapshot, RFM score and
// version in memory, so a preview or a full recompute evaluates rules over
// the population without reading a million rows from PostgreSQL first. It holds the compact binary
// snapshots (a few hundred bytes each), not decoded ones (several KB):
// decoding with a profile.Decoder per core is cheap enough to do on every
// pass.
//
// The bytes live in large chunks (an arena) and entries refer to them by
// offset, and the index is keyed by a hash of the id, so the cache holds
// almost no pointers: the garbage collector does not have to trace a
// million small objects on every cycle, and there is no per-object
// allocation overhead. A changed profile's bytes are appended anew; the
// arena is compacted when more than half of it is stale.
//
// It is kept current by catching up: each sync reads the rows written by
// transactions at or after the oldest transaction that was still running
// at the previous sync (profiles.changed_xid against pg_snapshot_xmin),
// which sees this replica's writes and every other replica's alike and
// cannot miss a transaction that commits late. Rows read twice are simply
// stored again. Profiles are never deleted, so the cache never has to
// forget one.
type profileCache struct {
	mu      sync.RWMutex
	loaded  bool
	xmin    uint64 // oldest transaction running at the last sync
	entries []cacheEntry
	index   map[uint64]int32 // hash of the customer id -> entry
	// collisions holds the ids whose hash another id took first (rare).
	collisions map[string]int32
	chunks     [][]byte
	live       int64 // bytes of chunks the entries refer to
	groups     []string
	groupIdx   map[string]uint8
	syncMu     sync.Mutex
}

// cacheEntry is one profile: its id and snapshot, adjacent in a chunk, its
// stored RFM score, and the profile version the snapshot belongs to (a full
// recompute writes a change only while the profile still has it).
type cacheEntry struct {
	version    int64
	chunk, off uint32
	snapLen    uint32
	idLen      uint16
	r, f, m    int8
	group      uint8
}

// chunkSize is the size of one arena chunk.
const chunkSize = 32 << 20

// minCompact is the arena size below which stale bytes are not worth a
// compaction (a variable for tests).
var minCompact int64 = chunkSize

func (c *profileCache) id(e *cacheEntry) []byte {
	return c.chunks[e.chunk][e.off : e.off+uint32(e.idLen)]
}

func (c *profileCache) snap(e *cacheEntry) []byte {
	start := e.off + uint32(e.idLen)
	return c.chunks[e.chunk][start : start+e.snapLen]
}

// put stores id and snap in the arena and returns where.
func (c *profileCache) put(id string, snap []byte) (chunk, off uint32) {
	n := len(id) + len(snap)
	last := len(c.chunks) - 1
	if last < 0 || len(c.chunks[last])+n > cap(c.chunks[last]) {
		c.chunks = append(c.chunks, make([]byte, 0, max(chunkSize, n)))
		last++
	}
	b := c.chunks[last]
	off = uint32(len(b))
	b = append(b, id...)
	c.chunks[last] = append(b, snap...)
	return uint32(last), off
}

// hashID is 64-bit FNV-1a, inline so that a lookup allocates nothing.
func hashID(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// lookup returns the entry of id, or -1.
func (c *profileCache) lookup(id string) int32 {
	if i, ok := c.index[hashID(id)]; ok {
		if string(c.id(&c.entries[i])) == id {
			return i
		}
		if j, ok := c.collisions[id]; ok {
			return j
		}
	}
	return -1
}

// lookupBytes is lookup for an id in a reused row buffer; it allocates
// nothing.
func (c *profileCache) lookupBytes(id []byte) int32 {
	h := uint64(14695981039346656037)
	for _, b := range id {
		h ^= uint64(b)
		h *= 1099511628211
	}
	if i, ok := c.index[h]; ok {
		if string(c.id(&c.entries[i])) == string(id) {
			return i
		}
		if j, ok := c.collisions[string(id)]; ok {
			return j
		}
	}
	return -1
}

// set stores a profile, replacing its earlier version, and returns its
// entry.
func (c *profileCache) set(id string, snap []byte, r, f, m int32, group string) int32 {
	g, ok := c.groupIdx[group]
	if !ok {
		g = uint8(len(c.groups))
		c.groups = append(c.groups, group)
		c.groupIdx[group] = g
	}
	chunk, off := c.put(id, snap)
	e := cacheEntry{chunk: chunk, off: off, snapLen: uint32(len(snap)), idLen: uint16(len(id)), r: int8(r), f: int8(f), m: int8(m), group: g}
	i := c.lookup(id)
	if i >= 0 {
		c.live -= int64(c.entries[i].idLen) + int64(c.entries[i].snapLen)
		c.entries[i] = e
	} else {
		i = int32(len(c.entries))
		c.entries = append(c.entries, e)
		if _, taken := c.index[hashID(id)]; taken {
			c.collisions[id] = i
		} else {
			c.index[hashID(id)] = i
		}
	}
	c.live += int64(len(id) + len(snap))
	return i
}

// compact copies the live bytes into fresh chunks when more than half of
// the arena is stale.
func (c *profileCache) compact() {
	var total int64
	for _, ch := range c.chunks {
		total += int64(len(ch))
	}
	if total < 2*c.live || total < minCompact {
		return
	}
	old := c.chunks
	c.chunks = nil
	for i := range c.entries {
		e := &c.entries[i]
		b := old[e.chunk][e.off : e.off+uint32(e.idLen)+e.snapLen]
		e.chunk, e.off = c.put(string(b[:e.idLen]), b[e.idLen:])
	}
}

// CacheStats describes the in-memory profile cache.
type CacheStats struct {
	Profiles int
	// Bytes is the memory the cache holds: arena chunks, entries and index.
	Bytes int64
}

// PreviewCacheStats reports the size of the profile cache previews read.
func (a *App) PreviewCacheStats() CacheStats {
	c := &a.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := CacheStats{Profiles: len(c.entries)}
	for _, ch := range c.chunks {
		st.Bytes += int64(cap(ch))
	}
	// Entries, plus about 2× the 12-byte key and value per index slot.
	st.Bytes += int64(cap(c.entries))*int64(unsafe.Sizeof(cacheEntry{})) + int64(len(c.index))*24
	return st
}

// SyncProfileCache brings the profile cache up to date with the database:
// a full load the first time, then only the rows changed since.
func (a *App) SyncProfileCache(ctx context.Context) error {
	c := &a.cache
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	tx, err := a.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("profile cache: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// The first statement fixes the transaction's snapshot, so the rows
	// read next are exactly those this xmin leaves behind it.
	var xminText string
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xminText); err != nil {
		return fmt.Errorf("profile cache: snapshot: %w", err)
	}
	xmin, err := strconv.ParseUint(xminText, 10, 64)
	if err != nil {
		return fmt.Errorf("profile cache: snapshot xmin %q: %w", xminText, err)
	}
	c.mu.RLock()
	loaded, since := c.loaded, c.xmin
	c.mu.RUnlock()
	var rows pgx.Rows
	if loaded {
		rows, err = tx.Query(ctx, `SELECT customer_id, snapshot, rfm_r, rfm_f, rfm_m, rfm_group, version FROM profiles WHERE changed_xid >= $1::text::xid8`,
			strconv.FormatUint(since, 10))
	} else {
		rows, err = tx.Query(ctx, `SELECT customer_id, snapshot, rfm_r, rfm_f, rfm_m, rfm_group, version FROM profiles`)
	}
	if err != nil {
		return fmt.Errorf("profile cache: read profiles: %w", err)
	}
	defer rows.Close()
	// Rows are applied in batches so previews are not blocked for the
	// whole of a first load.
	type row struct {
		id      string
		snap    []byte
		r, f, m int32
		group   string
		version int64
	}
	batch := make([]row, 0, 4096)
	flush := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.index == nil {
			c.index, c.collisions, c.groupIdx = map[uint64]int32{}, map[string]int32{}, map[string]uint8{}
		}
		for _, r := range batch {
			c.entries[c.set(r.id, r.snap, r.r, r.f, r.m, r.group)].version = r.version
		}
		c.compact()
		batch = batch[:0]
	}
	for rows.Next() {
		raw := rows.RawValues()
		var r row
		if err := rows.Scan(nil, nil, &r.r, &r.f, &r.m, &r.group, &r.version); err != nil {
			return fmt.Errorf("profile cache: scan: %w", err)
		}
		if len(raw[0]) > math.MaxUint16 || len(c.groupIdx) > 250 {
			return fmt.Errorf("profile cache: customer id of %d bytes or too many RFM groups", len(raw[0]))
		}
		// Copies: the row buffer is reused by the next row.
		r.id, r.snap = string(raw[0]), slices.Clone(raw[1])
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("profile cache: read profiles: %w", err)
	}
	flush()
	c.mu.Lock()
	c.loaded, c.xmin = true, xmin
	c.mu.Unlock()
	return nil
}

// cacheSyncEvery is how often a replica catches its profile cache up in
// the background, so the catch-up a preview does first stays small.
const cacheSyncEvery = 30 * time.Second

// warmProfileCache loads the profile cache when the replica starts (so the
// first preview does not pay the full load) and keeps it caught up. Every
// replica does this: each serves previews from its own memory.
func (a *App) warmProfileCache(ctx context.Context) error {
	t := time.NewTicker(cacheSyncEvery)
	defer t.Stop()
	for {
		if err := a.SyncProfileCache(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "profile cache sync failed; the next preview retries", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// evalCached evaluates r over every cached profile at now on every core
// and returns the audience with the sample customers that sort first.
// Profiles are read from the cache as they were at its last sync.
func (a *App) evalCached(r *segment.Rule, memberships map[string]map[string]bool, sample int, now time.Time, model *clv.Model) (Preview, error) {
	c := &a.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	workers := min(runtime.GOMAXPROCS(0), max(1, n/1024))
	type part struct {
		size, errs int64
		sample     []string
		err        error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := &parts[w]
			d := profile.NewDecoder()
			in := &segment.Input{}
			empty := map[string]bool{}
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				e := &c.entries[i]
				s, err := d.Decode(c.snap(e))
				if err != nil {
					p.err = fmt.Errorf("decode snapshot %s: %w", c.id(e), err)
					return
				}
				s.Refresh(now, a.traits, model)
				s.Traits.RFM = profile.RFMScore{R: int(e.r), F: int(e.f), M: int(e.m), Group: c.groups[e.group]}
				id := c.id(e)
				ms := empty
				if memberships != nil {
					if m := memberships[string(id)]; m != nil { // no allocation for the lookup
						ms = m
					}
				}
				// Rules cannot read the customer id; it is not materialised
				// as a string for every profile.
				*in = segment.Input{Traits: s.Traits, Orders: s.Orders, Interactions: s.Interactions, Segments: ms, Now: now}
				ok, err := r.Eval(in)
				if err != nil {
					p.errs++
					continue
				}
				if ok {
					p.size++
					if len(p.sample) < sample || (sample > 0 && string(id) < p.sample[len(p.sample)-1]) {
						p.sample = keepSmallest(p.sample, string(id), sample)
					}
				}
			}
		})
	}
	wg.Wait()
	res := Preview{Population: int64(n)}
	for _, p := range parts {
		if p.err != nil {
			return Preview{}, p.err
		}
		res.Size += p.size
		res.Errors += p.errs
		for _, id := range p.sample {
			res.Sample = keepSmallest(res.Sample, id, sample)
		}
	}
	return res, nil
}

// keepSmallest inserts id into the sorted list s of at most n ids, keeping
// the n smallest.
func keepSmallest(s []string, id string, n int) []string {
	if n <= 0 || (len(s) == n && id >= s[n-1]) {
		return s
	}
	i, _ := slices.BinarySearch(s, id)
	if len(s) < n {
		return slices.Insert(s, i, id)
	}
	copy(s[i+1:], s[i:n-1])
	s[i] = id
	return s
}

// membershipsIn reads the members of the given segments (for rules using
// in_segment), by customer.
func (a *App) membershipsIn(ctx context.Context, segments []string) (map[string]map[string]bool, error) {
	if len(segments) == 0 {
		return nil, nil
	}
	rows, err := a.pool.Query(ctx, `SELECT customer_id, segment_id FROM memberships WHERE segment_id = ANY($1)`, segments)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var c, s string
		if err := rows.Scan(&c, &s); err != nil {
			return nil, fmt.Errorf("read memberships: %w", err)
		}
		m := out[c]
		if m == nil {
			m = map[string]bool{}
			out[c] = m
		}
		m[s] = true
	}
	return out, rows.Err()
}
