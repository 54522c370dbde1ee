// Package index holds the Hamming-distance search structures that the matcher
// keeps in memory for perceptual hashes: MIH256 for 256-bit PDQ hashes and
// MIH64 for 64-bit pHash/dHash hashes.
//
// Both are multi-index hashing tables (Norouzi, Punjani and Fleet, "Fast
// Search in Hamming Space with Multi-Index Hashing", CVPR 2012): a hash is cut
// into disjoint sub-strings, each keying one table of 65536 buckets of ids.
// By the (generalised) pigeonhole principle a hash within distance r of the
// query has some sub-string i within t_i of the query's whenever the t_i+1 add
// up to more than r, so probing every bucket within t_i in each table finds
// every match; each candidate is then verified against its full hash, and
// reported by the first table that reaches it only, so no visited set is kept.
//
// MIH64 uses 4 sub-strings of 16 bits (radius 10: 137 buckets in each table).
// MIH256 uses 11 sub-strings of 23 bits: 16 bits pick the bucket and 7 ride
// along as a tag, buckets sorted by tag, so that at radius 31 (radius 2 in ten
// tables, 1 in the last) a query reads ~1.5k buckets but verifies only ~3.3k
// hashes at 10M entries, against 41k for the classic 16 x 16-bit layout. See
// mih256.go for the reasoning and `make bench-match` for the measurements.
// Both fall back to a linear scan when that is cheaper (small indexes, large
// radii). Each has its own search, written for its width; the rest (ids,
// tables, snapshots) is one generic core in mih.go.
//
// Ids are dense uint32 slot numbers chosen by the caller (pkg/matching/bank reuses
// freed slots): hashes live in a slice indexed by id, so memory grows with
// the largest id, not with the number of live entries. Each table keeps its
// buckets in one pointer-free backing array, which the garbage collector does
// not scan. On Linux the large arrays are advised onto transparent huge pages
// (+12-25% queries/s at 10M hashes); TAKEDOWN_INDEX_HUGEPAGES=0 turns that
// off. Inserts and deletes update the tables in place, nothing is rebuilt
// behind the caller's back; Compact drops growth slack, and InsertBatch
// builds a large batch at once. Snapshots (WriteTo/ReadFrom) are a
// checksummed binary form that loads by a radix sort, far faster than
// inserting one hash at a time.
//
// All methods are safe for concurrent use: searches share a read lock, writes
// take the write lock.
package index
