package recommend

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Page tokens carry the items already served, not an offset: the models
// change between two page requests (an order arrives, a trending score
// moves), so "skip the first 20" could repeat or skip items, while "never
// show these again" cannot repeat one. Each served id is stored as a 32-bit
// FNV-1a fingerprint, 4 bytes per item; a collision (odds about n²/2^33)
// only hides one extra product, never repeats one.
//
// Layout, base64url without padding:
//
//	version 0x01 | request fingerprint uint64 | count uvarint | count × uint32 | CRC-32 of the preceding bytes
//
// The request fingerprint ties a token to the request that produced it
// (same customer, context, strategy and filters; the limit may change), so
// a token replayed against another request is rejected. The CRC catches
// truncation and casual edits; tokens are not secret and need no signature,
// because a forged token can only hide items from its own caller.
const (
	tokenVersion   = 1
	maxTokenLength = 4096
)

var tokenEncoding = base64.RawURLEncoding

func fingerprintID(id string) uint32 {
	// FNV-1a written out (the same values as hash/fnv's New32a): the
	// eligibility check calls this for every candidate of a paged request,
	// and the hash.Hash32 interface and the []byte conversion allocated.
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= prime32
	}
	return h
}

// fingerprint hashes the parts of the request that define the list.
func (r Request) fingerprint() uint64 {
	h := fnv.New64a()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	sorted := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return s
	}
	write(r.CustomerID, string(r.Placement), string(r.Strategy), fmt.Sprint(r.MaxPerCategory))
	write(sorted(r.ProductIDs)...)
	write(sorted(r.ExcludeIDs)...)
	write(sorted(r.IncludeCategories)...)
	write(sorted(r.ExcludeCategories)...)
	return h.Sum64()
}

func encodeToken(fp uint64, served []uint32) string {
	buf := make([]byte, 0, 1+8+binary.MaxVarintLen64+4*len(served)+4)
	buf = append(buf, tokenVersion)
	buf = binary.BigEndian.AppendUint64(buf, fp)
	buf = binary.AppendUvarint(buf, uint64(len(served)))
	for _, s := range served {
		buf = binary.BigEndian.AppendUint32(buf, s)
	}
	buf = binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
	return tokenEncoding.EncodeToString(buf)
}

func badToken(reason string) error {
	return domain.InvalidWrap("page_token", fmt.Errorf("%w: %s", ErrInvalidPageToken, reason))
}

// decodeToken returns the served fingerprints of a token made for the
// request with fingerprint fp; the empty token is the first page.
func decodeToken(tok string, fp uint64) ([]uint32, error) {
	if tok == "" {
		return nil, nil
	}
	if len(tok) > maxTokenLength || strings.ContainsAny(tok, "=+/") {
		return nil, badToken("not a token issued by this service")
	}
	b, err := tokenEncoding.DecodeString(tok)
	if err != nil {
		return nil, badToken("not base64url")
	}
	if len(b) < 1+8+1+4 {
		return nil, badToken("too short")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, badToken("checksum mismatch")
	}
	if body[0] != tokenVersion {
		return nil, badToken(fmt.Sprintf("unsupported version %d", body[0]))
	}
	if binary.BigEndian.Uint64(body[1:9]) != fp {
		return nil, badToken("issued for a different request")
	}
	n, k := binary.Uvarint(body[9:])
	if k <= 0 || uint64(len(body)-9-k) != 4*n {
		return nil, badToken("length mismatch")
	}
	rest := body[9+k:]
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(rest[4*i:])
	}
	return out, nil
}
