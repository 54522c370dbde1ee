// Command benchmatch measures the PDQ match structures on generated banks of
// 1M and 10M hashes, random and clustered (families of near duplicates),
// against a linear scan and against FAISS (through
// scripts/bench_match_faiss.py, on the same data files), and prints one
// table: build time, queries per second on one core, recall against brute
// force at radius 31, and memory. `make bench-match` runs it;
// TAKEDOWN_BENCH_QUICK=1 (or -quick) stops after 1M.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/matching/index"
)

const radius = index.DefaultRadius256

type config struct {
	dir        string
	sizes      []int
	queries    int
	scanQ1M    int
	scanQ10M   int
	python     string
	script     string
	skipFAISS  bool
	onlyKinds  []string
	only       map[string]bool
	cpuProfile string
}

// row is one line of the result table; the FAISS script prints the same
// fields as JSON.
type row struct {
	Structure string  `json:"structure"`
	Dataset   string  `json:"dataset"`
	N         int     `json:"n"`
	BuildS    float64 `json:"build_s"`
	Queries   int     `json:"queries"`
	QPSWall   float64 `json:"qps_wall"`
	QPSCPU    float64 `json:"qps_cpu"`
	Recall    float64 `json:"recall"`
	Exact     bool    `json:"exact"`
	HeapMB    float64 `json:"heap_mb"`
	RSSMB     float64 `json:"rss_mb"`
	Note      string  `json:"note"`
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchmatch:", err)
		os.Exit(2)
	}
	rows, err := run(context.Background(), log, cfg)
	printTable(os.Stdout, rows)
	if err != nil {
		log.Error("bench-match failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	home, _ := os.UserHomeDir()
	var cfg config
	quick := flag.Bool("quick", os.Getenv("TAKEDOWN_BENCH_QUICK") == "1", "only the 1M datasets (also TAKEDOWN_BENCH_QUICK=1)")
	sizes := flag.String("sizes", "", "comma-separated bank sizes (default 1000000,10000000)")
	kinds := flag.String("kinds", "random,clustered", "datasets to run")
	flag.StringVar(&cfg.dir, "dir", filepath.Join(home, ".cache", "takedown", "bench-match"), "where datasets, queries and truth are written")
	flag.IntVar(&cfg.queries, "queries", 2000, "queries for the multi-index structures")
	flag.IntVar(&cfg.scanQ1M, "scan-queries-1m", 200, "queries for linear scans at <= 1M")
	flag.IntVar(&cfg.scanQ10M, "scan-queries-10m", 40, "queries for linear scans above 1M")
	flag.StringVar(&cfg.python, "python", filepath.Join(home, ".cache", "takedown", "venv-bench", "bin", "python"), "Python with faiss-cpu and numpy")
	flag.StringVar(&cfg.script, "faiss-script", "scripts/bench_match_faiss.py", "the FAISS half of the benchmark")
	flag.BoolVar(&cfg.skipFAISS, "no-faiss", false, "skip the FAISS rows")
	flag.IntVar(&repeat, "repeat", repeat, "runs of each query loop; the fastest counts")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the query loops to this file")
	only := flag.String("only", "linear,insert,batch,snapshot", "Go structures to measure: linear, insert, batch, snapshot")
	flag.Parse()
	cfg.sizes = []int{1_000_000, 10_000_000}
	if *quick {
		cfg.sizes = cfg.sizes[:1]
	}
	if *sizes != "" {
		cfg.sizes = nil
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				return cfg, fmt.Errorf("bad -sizes entry %q", s)
			}
			cfg.sizes = append(cfg.sizes, n)
		}
	}
	cfg.only = map[string]bool{}
	for _, o := range strings.Split(*only, ",") {
		if o != "linear" && o != "insert" && o != "batch" && o != "snapshot" {
			return cfg, fmt.Errorf("unknown -only entry %q (linear, insert, batch, snapshot)", o)
		}
		cfg.only[o] = true
	}
	cfg.onlyKinds = strings.Split(*kinds, ",")
	for _, k := range cfg.onlyKinds {
		if k != "random" && k != "clustered" {
			return cfg, fmt.Errorf("unknown dataset %q (random, clustered)", k)
		}
	}
	return cfg, nil
}

func run(ctx context.Context, log *slog.Logger, cfg config) ([]row, error) {
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return nil, err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		profile = f
	}
	var rows []row
	var failed []string
	for _, n := range cfg.sizes {
		for _, kind := range cfg.onlyKinds {
			ds, err := loadOrMake(log, cfg, kind, n)
			if err != nil {
				return rows, err
			}
			scanQ := cfg.scanQ1M
			if n > 1_000_000 {
				scanQ = cfg.scanQ10M
			}
			got, err := benchGo(log, cfg, ds, scanQ)
			rows = append(rows, got...)
			if err != nil {
				return rows, err
			}
			for _, r := range got {
				if strings.HasPrefix(r.Structure, "MIH256") && !r.Exact {
					failed = append(failed, fmt.Sprintf("%s on %s/%d: recall %.4f", r.Structure, r.Dataset, r.N, r.Recall))
				}
			}
			ds.hashes = nil // the FAISS process reads the files
			runtime.GC()
			if !cfg.skipFAISS {
				fr, err := benchFAISS(ctx, log, cfg, ds, scanQ)
				if err != nil {
					log.Error("FAISS half failed; its rows are missing", "err", err)
				}
				rows = append(rows, fr...)
			}
		}
	}
	if len(failed) > 0 {
		return rows, fmt.Errorf("inexact multi-index results: %s", strings.Join(failed, "; "))
	}
	return rows, nil
}

type dataset struct {
	kind    string
	n       int
	base    string // file prefix
	hashes  [][32]byte
	queries [][32]byte
	truth   [][]uint32 // ids within radius of each query, sorted
}

// genVersion names the generator; files written by another version are made
// anew.
const genVersion = "v1"

func loadOrMake(log *slog.Logger, cfg config, kind string, n int) (*dataset, error) {
	ds := &dataset{kind: kind, n: n, base: filepath.Join(cfg.dir, fmt.Sprintf("%s-%d", kind, n))}
	meta := fmt.Sprintf("%s %s %d %d %d\n", genVersion, kind, n, cfg.queries, radius)
	if old, err := os.ReadFile(ds.base + ".meta"); err == nil && string(old) == meta {
		start := time.Now()
		if err := ds.read(); err == nil {
			log.Info("dataset reused", "file", ds.base, "took", time.Since(start).Round(time.Millisecond))
			return ds, nil
		}
	}
	os.Remove(ds.base + ".snapshot") // of an older dataset
	start := time.Now()
	r := rand.New(rand.NewPCG(uint64(n), uint64(len(kind))))
	switch kind {
	case "random":
		ds.hashes = make([][32]byte, n)
		for i := range ds.hashes {
			ds.hashes[i] = randHash(r)
		}
	case "clustered":
		ds.hashes = clustered(r, n)
	}
	ds.queries = make([][32]byte, cfg.queries)
	for i := range ds.queries {
		if i%2 == 0 {
			ds.queries[i] = flip(r, ds.hashes[r.IntN(n)], 1+r.IntN(25)) // planted
		} else {
			ds.queries[i] = randHash(r)
		}
	}
	log.Info("dataset generated", "kind", kind, "n", n, "took", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	ds.truth = bruteForce(ds.hashes, ds.queries)
	log.Info("brute-force truth computed", "queries", len(ds.queries), "took", time.Since(start).Round(time.Millisecond))
	if err := ds.write(); err != nil {
		return nil, err
	}
	return ds, os.WriteFile(ds.base+".meta", []byte(meta), 0o644)
}

func randHash(r *rand.Rand) [32]byte {
	var h [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(h[i:], r.Uint64())
	}
	return h
}

// flip returns h with k distinct random bits flipped: exactly k bits away.
func flip(r *rand.Rand, h [32]byte, k int) [32]byte {
	var done [32]byte
	for k > 0 {
		b := r.IntN(256)
		if m := byte(1) << (b % 8); done[b/8]&m == 0 {
			done[b/8] |= m
			h[b/8] ^= m
			k--
		}
	}
	return h
}

// clustered makes a bank of near-duplicate families, as real banks hold
// re-encodes, crops and re-uploads of the same media: a third of the hashes
// are singletons, the rest come in families (mostly 2-30 members, 1% of
// families of 100-1000) whose members lie 0-16 bits from the family centre,
// so members are up to 32 bits apart. Ids are shuffled: families are not
// contiguous in the id space (nor, then, in memory).
func clustered(r *rand.Rand, n int) [][32]byte {
	out := make([][32]byte, 0, n)
	for len(out) < n {
		centre := randHash(r)
		size := 1
		switch p := r.Float64(); {
		case p < 0.33:
		case p < 0.99:
			size = 2 + r.IntN(29)
		default:
			size = 100 + r.IntN(901)
		}
		for range min(size, n-len(out)) {
			out = append(out, flip(r, centre, r.IntN(17)))
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// linearScan is the baseline and the truth: every hash, 4 popcounts each.
func linearScan(hs [][4]uint64, q [32]byte, fn func(id uint32)) {
	var qw [4]uint64
	for i := range qw {
		qw[i] = binary.LittleEndian.Uint64(q[i*8:])
	}
	for id := range hs {
		h := &hs[id]
		d := bits.OnesCount64(h[0]^qw[0]) + bits.OnesCount64(h[1]^qw[1]) +
			bits.OnesCount64(h[2]^qw[2]) + bits.OnesCount64(h[3]^qw[3])
		if d <= radius {
			fn(uint32(id))
		}
	}
}

func words(hashes [][32]byte) [][4]uint64 {
	out := make([][4]uint64, len(hashes))
	for i, h := range hashes {
		for j := range 4 {
			out[i][j] = binary.LittleEndian.Uint64(h[j*8:])
		}
	}
	return out
}

// bruteForce computes the truth on every core (it is not what is measured).
func bruteForce(hashes, queries [][32]byte) [][]uint32 {
	hs := words(hashes)
	truth := make([][]uint32, len(queries))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for qi := range next {
				var ids []uint32
				linearScan(hs, queries[qi], func(id uint32) { ids = append(ids, id) })
				truth[qi] = ids
			}
		})
	}
	for qi := range queries {
		next <- qi
	}
	close(next)
	wg.Wait()
	return truth
}

func (ds *dataset) write() error {
	if err := writeHashes(ds.base+".hashes", ds.hashes); err != nil {
		return err
	}
	if err := writeHashes(ds.base+".queries", ds.queries); err != nil {
		return err
	}
	// Truth: per query a uint32 count, then that many uint32 ids.
	f, err := os.Create(ds.base + ".truth")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var b []byte
	for _, ids := range ds.truth {
		b = binary.LittleEndian.AppendUint32(b[:0], uint32(len(ids)))
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint32(b, id)
		}
		w.Write(b) // a failed write shows in Flush
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeHashes(path string, hs [][32]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, h := range hs {
		w.Write(h[:]) // a failed write shows in Flush
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readHashes(path string) ([][32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of hashes", path, len(b))
	}
	hs := make([][32]byte, len(b)/32)
	for i := range hs {
		hs[i] = [32]byte(b[i*32:])
	}
	return hs, nil
}

func (ds *dataset) read() error {
	var err error
	if ds.hashes, err = readHashes(ds.base + ".hashes"); err != nil {
		return err
	}
	if len(ds.hashes) != ds.n {
		return fmt.Errorf("%s: %d hashes, want %d", ds.base, len(ds.hashes), ds.n)
	}
	if ds.queries, err = readHashes(ds.base + ".queries"); err != nil {
		return err
	}
	f, err := os.Open(ds.base + ".truth")
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	ds.truth = make([][]uint32, len(ds.queries))
	for qi := range ds.truth {
		var c uint32
		if err := binary.Read(r, binary.LittleEndian, &c); err != nil {
			return err
		}
		ds.truth[qi] = make([]uint32, c)
		if err := binary.Read(r, binary.LittleEndian, ds.truth[qi]); err != nil {
			return err
		}
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s.truth: trailing data", ds.base)
	}
	return nil
}

// memStats returns the heap in use after a full collection, and the
// process's resident set from /proc/self/status.
func memStats() (heapMB, rssMB float64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMB = float64(ms.HeapInuse) / (1 << 20)
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				rssMB = kb / 1024
			}
		}
	}
	return heapMB, rssMB
}

// threadCPU is the CPU time of the calling OS thread: the query loops run
// locked to one thread, so other work on the machine does not count.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profile, when set, receives a CPU profile of every query loop.
var profile io.Writer

// repeat is how often each query loop runs; the fastest run counts, so
// that other load on a shared machine distorts the figures less.
var repeat = 3

// measure runs search over queries on one core and scores the results
// against the truth. recall is the share of true (query, id) pairs found;
// exact means every result set was identical to the truth.
func measure(queries [][32]byte, truth [][]uint32, search func(q [32]byte, add func(uint32))) (qpsWall, qpsCPU, recall float64, exact bool) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err == nil {
			defer pprof.StopCPUProfile()
		}
	}
	results := make([][]uint32, len(queries))
	buf := make([]uint32, 0, 1<<16)
	for range repeat {
		buf = buf[:0]
		cpu0, wall0 := threadCPU(), time.Now()
		for qi, q := range queries {
			start := len(buf)
			search(q, func(id uint32) { buf = append(buf, id) })
			results[qi] = buf[start:len(buf):len(buf)]
		}
		wall, cpu := time.Since(wall0), threadCPU()-cpu0
		qpsWall = max(qpsWall, float64(len(queries))/wall.Seconds())
		qpsCPU = max(qpsCPU, float64(len(queries))/cpu.Seconds())
	}
	found, total := 0, 0
	exact = true
	for qi, got := range results {
		got = slices.Clone(got)
		slices.Sort(got)
		want := truth[qi]
		total += len(want)
		for _, id := range got {
			if _, ok := slices.BinarySearch(want, id); ok {
				found++
			}
		}
		if !slices.Equal(got, want) {
			exact = false
		}
	}
	recall = 1
	if total > 0 {
		recall = float64(found) / float64(total)
	}
	return qpsWall, qpsCPU, recall, exact
}

func (ds *dataset) row(structure string) row {
	return row{Structure: structure, Dataset: ds.kind, N: ds.n}
}

func benchGo(log *slog.Logger, cfg config, ds *dataset, scanQ int) ([]row, error) {
	var rows []row
	results := 0
	for _, t := range ds.truth {
		results += len(t)
	}
	log.Info("dataset", "kind", ds.kind, "n", ds.n, "queries", len(ds.queries), "true matches", results)

	if cfg.only["linear"] {
		rows = append(rows, benchLinear(log, ds, scanQ))
	}
	snap := ds.base + ".snapshot"
	if cfg.only["insert"] {
		r, err := benchInsert(log, ds, snap)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	if cfg.only["batch"] {
		r, err := benchBatch(log, ds)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	if cfg.only["snapshot"] {
		r, err := benchSnapshot(log, ds, snap)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// benchLinear measures a linear scan over a dense [][4]uint64, on a prefix
// of the queries.
func benchLinear(log *slog.Logger, ds *dataset, scanQ int) row {
	heap0, _ := memStats()
	start := time.Now()
	hs := words(ds.hashes)
	lin := ds.row("Go linear scan")
	lin.BuildS = time.Since(start).Seconds()
	lin.HeapMB, lin.RSSMB = memStats()
	lin.HeapMB -= heap0
	lin.Queries = min(scanQ, len(ds.queries))
	lin.QPSWall, lin.QPSCPU, lin.Recall, lin.Exact = measure(ds.queries[:lin.Queries], ds.truth, func(q [32]byte, add func(uint32)) {
		linearScan(hs, q, add)
	})
	log.Info("done", "row", lin)
	return lin
}

// benchInsert measures MIH256 built by Insert, one hash at a time as a bank
// fills from its update stream, then packed by Compact (what a bank does
// after its initial load); it leaves a snapshot for benchSnapshot.
func benchInsert(log *slog.Logger, ds *dataset, snap string) (row, error) {
	heap0, _ := memStats()
	start := time.Now()
	x := index.NewMIH256()
	for i, h := range ds.hashes {
		x.Insert(uint32(i), h)
	}
	inserted := time.Since(start)
	x.Compact()
	ins := ds.row("MIH256 (Insert+Compact)")
	ins.BuildS = time.Since(start).Seconds()
	ins.Note = fmt.Sprintf("inserts %.1fs", inserted.Seconds())
	ins.HeapMB, ins.RSSMB = memStats()
	ins.HeapMB -= heap0
	ins.Queries = len(ds.queries)
	ins.QPSWall, ins.QPSCPU, ins.Recall, ins.Exact = measure(ds.queries, ds.truth, searchFn(x))
	log.Info("done", "row", ins)
	return ins, writeSnapshot(x, snap)
}

// benchBatch measures MIH256 built by one InsertBatch.
func benchBatch(log *slog.Logger, ds *dataset) (row, error) {
	heap0, _ := memStats()
	start := time.Now()
	ids := make([]uint32, len(ds.hashes))
	for i := range ids {
		ids[i] = uint32(i)
	}
	x := index.NewMIH256()
	if err := x.InsertBatch(ids, ds.hashes); err != nil {
		return row{}, err
	}
	r := ds.row("MIH256 (InsertBatch)")
	r.BuildS = time.Since(start).Seconds()
	ids = nil
	r.HeapMB, r.RSSMB = memStats()
	r.HeapMB -= heap0
	r.Queries = len(ds.queries)
	r.QPSWall, r.QPSCPU, r.Recall, r.Exact = measure(ds.queries, ds.truth, searchFn(x))
	log.Info("done", "row", r)
	return r, nil
}

func writeSnapshot(x *index.MIH256, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := x.WriteTo(w); err != nil {
		f.Close()
		return err
	}
	return errors.Join(w.Flush(), f.Close())
}

// benchSnapshot measures MIH256 loaded from a snapshot, as a matcher starts.
func benchSnapshot(log *slog.Logger, ds *dataset, snap string) (row, error) {
	if _, err := os.Stat(snap); err != nil {
		x := index.NewMIH256()
		for i, h := range ds.hashes {
			x.Insert(uint32(i), h)
		}
		if err := writeSnapshot(x, snap); err != nil {
			return row{}, err
		}
	}
	heap0, _ := memStats()
	start := time.Now()
	f, err := os.Open(snap)
	if err != nil {
		return row{}, err
	}
	y := index.NewMIH256()
	_, err = y.ReadFrom(bufio.NewReaderSize(f, 1<<20))
	f.Close()
	if err != nil {
		return row{}, err
	}
	ld := ds.row("MIH256 (snapshot load)")
	ld.BuildS = time.Since(start).Seconds()
	ld.HeapMB, ld.RSSMB = memStats()
	ld.HeapMB -= heap0
	ld.Queries = len(ds.queries)
	ld.QPSWall, ld.QPSCPU, ld.Recall, ld.Exact = measure(ds.queries, ds.truth, searchFn(y))
	log.Info("done", "row", ld)
	return ld, nil
}

func searchFn(x *index.MIH256) func(q [32]byte, add func(uint32)) {
	return func(q [32]byte, add func(uint32)) {
		x.Search(q, radius, func(id uint32, _ int) bool { add(id); return true })
	}
}

func benchFAISS(ctx context.Context, log *slog.Logger, cfg config, ds *dataset, scanQ int) ([]row, error) {
	if _, err := os.Stat(cfg.python); err != nil {
		return nil, fmt.Errorf("no Python for FAISS at %s (make bench-match sets up the venv): %w", cfg.python, err)
	}
	cmd := exec.CommandContext(ctx, cfg.python, cfg.script,
		"--base", ds.base, "--dataset", ds.kind, "--radius", strconv.Itoa(radius),
		"--scan-queries", strconv.Itoa(scanQ), "--repeat", strconv.Itoa(repeat))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var rows []row
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r row
		if jerr := json.Unmarshal([]byte(line), &r); jerr != nil {
			return rows, fmt.Errorf("FAISS script printed %q: %w", line, jerr)
		}
		rows = append(rows, r)
		log.Info("done", "row", r)
	}
	if err != nil {
		return rows, fmt.Errorf("%s: %w", cfg.script, err)
	}
	return rows, nil
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "structure\tdataset\tN\tbuild s\tqueries\tq/s/core (cpu)\tq/s (wall)\trecall\texact\tindex heap MB\tRSS MB\tnote\t\n")
	for _, r := range rows {
		heap := "-"
		if r.HeapMB != 0 {
			heap = fmt.Sprintf("%.0f", r.HeapMB)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%d\t%.0f\t%.0f\t%.2f%%\t%v\t%s\t%.0f\t%s\t\n",
			r.Structure, r.Dataset, humanN(r.N), r.BuildS, r.Queries, r.QPSCPU, r.QPSWall, 100*r.Recall, r.Exact, heap, r.RSSMB, r.Note)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nradius %d (FAISS: range_search radius %d, strict <); q/s on one core (GOMAXPROCS=1, omp 1 thread), best of %d runs;\n", radius, radius+1, repeat)
	fmt.Fprintln(w, "cpu = queries per CPU-second of the query thread, wall = per elapsed second (other load on the machine lowers it).")
	fmt.Fprintln(w, "Go heap MB = heap in use after GC, minus before building; FAISS heap MB = RSS growth while building (its memory is not Go heap).")
}

func humanN(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}
