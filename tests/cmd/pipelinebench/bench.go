package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

type benchOpts struct {
	uploads     int
	warmup      int
	concurrency int
	latency     time.Duration
	hashFor     time.Duration
}

func (b *benchOpts) bind(fs *flag.FlagSet) {
	n := 400
	if os.Getenv("BENCH_SIZE") == "small" {
		n = 150
	}
	fs.IntVar(&b.uploads, "uploads", envInt("BENCH_UPLOADS", n), "uploads per workload (BENCH_UPLOADS; BENCH_SIZE=small: 150)")
	fs.IntVar(&b.warmup, "warmup", envInt("BENCH_WARMUP", 300), "uploads sent before the measured workloads (BENCH_WARMUP)")
	fs.IntVar(&b.concurrency, "clients", 32, "uploads in flight at once in the burst workloads")
	fs.DurationVar(&b.latency, "media-latency", 100*time.Millisecond, "added to every media fetch in workload (b)")
	fs.DurationVar(&b.hashFor, "hash-for", 10*time.Second, "how long the standalone hashing rate is measured, before each burst")
}

// workload is one measured run.
type workload struct {
	name     string
	n        int
	rate     float64 // uploads/s achieved
	lat      []time.Duration
	cpu      map[string]time.Duration
	missing  int        // uploads with no outcome within the time limit
	hash     standalone // measured just before it
	falseHit int
}

func runBench(ctx context.Context, h *harness, b benchOpts) error {
	// A warm-up: the first uploads pay for connections, and a fresh
	// broker's JIT compiler works for a minute or more (its CPU is shown
	// apart, as broker-jit, and left out of the total).
	if _, err := h.workload(ctx, "warmup", b.warmup, b.concurrency, 0, 0); err != nil {
		return err
	}
	if err := h.st.waitJITQuiet(ctx); err != nil {
		return err
	}
	// The pipeline's cost of standing by: the CPU every process spends per
	// second with no upload in flight (fetch polling, heartbeats, timers).
	idleFor := 10 * time.Second
	logf("idle: %s without uploads", idleFor)
	idle0, err := h.st.cpuSnapshot()
	if err != nil {
		return err
	}
	select {
	case <-time.After(idleFor):
	case <-ctx.Done():
		return ctx.Err()
	}
	idle1, err := h.st.cpuSnapshot()
	if err != nil {
		return err
	}
	// Each burst is compared with the standalone hashing rate measured
	// just before it: on a shared machine the cores' speed drifts by a
	// third within minutes, and a ratio of two rates measured apart
	// drifts with it.
	var ws []workload
	hashA, err := h.standalone(ctx, b.hashFor)
	if err != nil {
		return err
	}
	a, err := h.workload(ctx, "a-burst", b.uploads, b.concurrency, 0, 0)
	if err != nil {
		return err
	}
	a.hash = hashA
	ws = append(ws, a)
	hashB, err := h.standalone(ctx, b.hashFor)
	if err != nil {
		return err
	}
	bw, err := h.workload(ctx, "b-burst-media-"+b.latency.String(), b.uploads, b.concurrency, 0, b.latency)
	if err != nil {
		return err
	}
	bw.hash = hashB
	ws = append(ws, bw)
	c, err := h.workload(ctx, fmt.Sprintf("c-paced-%.1fps", a.rate/2), b.uploads, b.concurrency, a.rate/2, 0)
	if err != nil {
		return err
	}
	c.hash = hashA
	ws = append(ws, c)

	host, _ := os.Hostname()
	fmt.Printf("\nmake bench-e2e: %d uploads per workload (half altered copies of %d banked originals, half unrelated; %dx%d JPEG), %d cores, consumer concurrency %s, on %s at %s. Noisy if anything else runs.\n",
		b.uploads, h.o.originals, picW, picH, runtime.NumCPU(), orDefault(h.o.concurrency), host, time.Now().Format(time.RFC3339))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"workload", "uploads/s", "p50", "p99", "max"}
	for _, p := range processes {
		head = append(head, p+" ms/up")
	}
	head = append(head, "pipeline ms/up", "vs hashing", "")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, w := range ws {
		row := []string{w.name, fmt.Sprintf("%.1f", w.rate), fmtDur(percentile(w.lat, .5)), fmtDur(percentile(w.lat, .99)), fmtDur(percentile(w.lat, 1))}
		var total time.Duration
		for _, p := range processes {
			if !outsideTotal[p] {
				total += w.cpu[p]
			}
			row = append(row, fmt.Sprintf("%.1f", ms(w.cpu[p])/float64(w.n)))
		}
		row = append(row, fmt.Sprintf("%.1f", ms(total)/float64(w.n)), fmt.Sprintf("%.0f%%", 100*w.rate/w.hash.rate), "")
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	idleRow := []string{"idle, ms CPU/s", "", "", "", ""}
	var idleTotal time.Duration
	for _, p := range processes {
		d := idle1[p] - idle0[p]
		if !outsideTotal[p] {
			idleTotal += d
		}
		idleRow = append(idleRow, fmt.Sprintf("%.1f", ms(d)/idleFor.Seconds()))
	}
	idleRow = append(idleRow, fmt.Sprintf("%.1f", ms(idleTotal)/idleFor.Seconds()), "", "")
	fmt.Fprintln(tw, strings.Join(idleRow, "\t"))
	tw.Flush()
	fmt.Printf("standalone hashing on the same machine (mediahash.Hash: decode and every signal the hasher emits, %d goroutines, in-process), measured just before each burst: %.1f pictures/s at %.1f ms CPU each (a), %.1f at %.1f (b); \"vs hashing\" is uploads/s as a share of it (c: of a's); the pipeline's total leaves out broker-jit (the broker JVM's JIT compiler threads, a cost of its start) and harness (this process: clients, media host, platform)\n",
		runtime.GOMAXPROCS(0), hashA.rate, hashA.cpuMs, hashB.rate, hashB.cpuMs)
	for _, w := range ws {
		if w.missing > 0 || w.falseHit > 0 {
			fmt.Printf("WARNING: %s: %d uploads without an outcome, %d unrelated pictures taken down\n", w.name, w.missing, w.falseHit)
		}
	}
	return nil
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// workload sends n uploads (at most conc at once; at rate per second if
// rate > 0, else as fast as ingest takes them) with media latency lat, waits
// until every one has its outcome, and measures.
func (h *harness) workload(ctx context.Context, name string, n, conc int, rate float64, lat time.Duration) (workload, error) {
	w := workload{name: name, n: n}
	h.plat.latency.Store(int64(lat))
	defer h.plat.latency.Store(0)
	cpu0, err := h.st.cpuSnapshot()
	if err != nil {
		return w, err
	}
	logf("workload %s: %d uploads", name, n)
	start := time.Now()
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var sendErr error
	var mu sync.Mutex
	ids := make([]string, n)
	for i := range n {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		sem <- struct{}{}
		ids[i] = fmt.Sprintf("%s-%s-%05d", name, start.Format("150405"), i)
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := h.cl.send(ctx, ids[i], h.pool.pick(i)); err != nil {
				mu.Lock()
				sendErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if sendErr != nil {
		return w, sendErr
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(5 * time.Minute)
	var mine []result
	for {
		mine = mine[:0]
		done := 0
		for _, r := range h.cl.results() {
			if want[r.id] {
				mine = append(mine, r)
				if !r.done.IsZero() {
					done++
				}
			}
		}
		if done == n || time.Now().After(deadline) || ctx.Err() != nil {
			w.missing = n - done
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpu1, err := h.st.cpuSnapshot()
	if err != nil {
		return w, err
	}
	var last time.Time
	for _, r := range mine {
		if r.done.After(last) {
			last = r.done
		}
		if r.banked && r.removed {
			w.lat = append(w.lat, r.latency)
		}
		if r.falseHit {
			w.falseHit++
		}
	}
	w.rate = float64(n-w.missing) / last.Sub(start).Seconds()
	w.cpu = map[string]time.Duration{}
	for _, p := range processes {
		w.cpu[p] = cpu1[p] - cpu0[p]
	}
	logf("workload %s: %.1f uploads/s, p50 %s p99 %s", name, w.rate, fmtDur(percentile(w.lat, .5)), fmtDur(percentile(w.lat, .99)))
	// Let the pipeline settle (commits, caches) before the next workload.
	time.Sleep(2 * time.Second)
	return w, ctx.Err()
}

// standalone is the hashing rate of the machine without the pipeline.
type standalone struct {
	rate  float64 // pictures/s
	cpuMs float64 // CPU per picture
}

// standalone measures the standalone hashing rate for d: mediahash.Hash
// over the pool on every core, in this process.
func (h *harness) standalone(ctx context.Context, d time.Duration) (standalone, error) {
	logf("standalone hashing rate: mediahash.Hash over the pool, %d goroutines, %s", runtime.GOMAXPROCS(0), d)
	self0, err := cpuTime(os.Getpid())
	if err != nil {
		return standalone{}, err
	}
	rate, hashed, err := h.pool.hashRate(ctx, d)
	if err != nil {
		return standalone{}, err
	}
	self1, err := cpuTime(os.Getpid())
	if err != nil {
		return standalone{}, err
	}
	st := standalone{rate: rate, cpuMs: ms(self1-self0) / float64(hashed)}
	logf("standalone: %.1f pictures/s, %.1f ms CPU each", st.rate, st.cpuMs)
	return st, nil
}
