package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

type chaosOpts struct {
	rate      float64
	gap       time.Duration
	redisDown time.Duration
	hookDown  time.Duration
	drainMax  time.Duration
	size      string
}

func (c *chaosOpts) bind(fs *flag.FlagSet) {
	c.size = envStr("CHAOS_SIZE", "full")
	gap := 45 * time.Second
	if c.size == "small" {
		gap = 12 * time.Second
	}
	fs.StringVar(&c.size, "size", c.size, "full (about 10 min on 2 cores) or small (about 3 min): the pause between faults (CHAOS_SIZE)")
	fs.Float64Var(&c.rate, "rate", 8, "uploads per second while the faults happen")
	fs.DurationVar(&c.gap, "gap", gap, "pause before each fault and after the last (default by -size)")
	fs.DurationVar(&c.redisDown, "redis-outage", 10*time.Second, "length of each Redis outage")
	fs.DurationVar(&c.hookDown, "webhook-outage", 20*time.Second, "how long the platform answers 503")
	fs.DurationVar(&c.drainMax, "drain-max", 3*time.Minute, "longest wait after the last upload for the pipeline to drain")
}

// fault is one injected failure and when it began and ended (the service,
// broker or Redis ready again, the endpoint answering again).
type fault struct {
	name string
	do   func(ctx context.Context) error
	// outage: a dependency of every takedown is down while the fault
	// lasts (the broker, Redis, the platform), so no pipeline could take
	// down what is uploaded meanwhile before it ends.
	outage     bool
	start, end time.Time
}

// beyondOutage is the part of a takedown's latency after the outage it was
// uploaded in (if any) ended: what the pipeline added to the outage.
func beyondOutage(r result, faults []*fault) time.Duration {
	for _, f := range faults {
		if f.outage && !r.accepted.Before(f.start) && r.accepted.Before(f.end) {
			return max(0, r.done.Sub(f.end))
		}
	}
	return r.latency
}

func (h *harness) redisCLI(args ...string) error {
	cmd := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(h.o.ports.redis)}, args...)...)
	out, err := cmd.CombinedOutput()
	// SHUTDOWN closes the connection: redis-cli's error then is the point.
	if err != nil && args[0] != "shutdown" {
		return fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (h *harness) faults(c chaosOpts) []*fault {
	var fs []*fault
	for _, name := range services {
		fs = append(fs, &fault{name: "kill-9 " + name, do: func(ctx context.Context) error {
			if err := h.st.kill9(name); err != nil {
				return err
			}
			return h.st.start(ctx, name)
		}})
	}
	fs = append(fs,
		&fault{name: "broker restart", outage: true, do: func(ctx context.Context) error {
			if err := h.st.script("kafka", "stop"); err != nil {
				return err
			}
			return h.st.script("kafka", "start")
		}},
		&fault{name: "redis outage (data kept)", outage: true, do: func(ctx context.Context) error {
			// SHUTDOWN SAVE writes dump.rdb although the test config saves
			// nothing on its own; the restart loads it.
			if err := h.redisCLI("shutdown", "save"); err != nil {
				return err
			}
			if err := sleepCtx(ctx, c.redisDown); err != nil {
				return err
			}
			return h.st.script("redis", "start")
		}},
		&fault{name: "redis outage (data lost)", outage: true, do: func(ctx context.Context) error {
			if err := h.redisCLI("shutdown", "nosave"); err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(h.o.data, "redis", "dump.rdb"))
			if err := sleepCtx(ctx, c.redisDown); err != nil {
				return err
			}
			return h.st.script("redis", "start")
		}},
		&fault{name: "webhook 503", outage: true, do: func(ctx context.Context) error {
			h.plat.outage.Store(true)
			defer h.plat.outage.Store(false)
			return sleepCtx(ctx, c.hookDown)
		}},
	)
	return fs
}

// runChaos uploads at a steady rate while the faults happen one after the
// other, waits for the pipeline to drain, counts and prints one summary line.
// It reports false on any lost, duplicate or false takedown.
func runChaos(ctx context.Context, h *harness, c chaosOpts) (bool, error) {
	faults := h.faults(c)
	logf("chaos (%s): %.0f uploads/s; %d faults, %s apart", c.size, c.rate, len(faults), c.gap)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sendErrs []error
	var mu sync.Mutex
	sent := 0
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		start := time.Now()
		for i := 0; ; i++ {
			if d := time.Until(start.Add(time.Duration(float64(i) / c.rate * float64(time.Second)))); d > 0 {
				select {
				case <-lctx.Done():
					return
				case <-time.After(d):
				}
			}
			if lctx.Err() != nil {
				return
			}
			id := fmt.Sprintf("chaos-%s-%06d", start.Format("150405"), i)
			mu.Lock()
			sent++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each upload is retried until accepted, through any outage.
				if err := h.cl.send(ctx, id, h.pool.pick(i)); err != nil {
					mu.Lock()
					sendErrs = append(sendErrs, err)
					mu.Unlock()
				}
			}()
		}
	}()
	for _, f := range faults {
		if err := sleepCtx(ctx, c.gap); err != nil {
			stopLoad()
			return false, err
		}
		logf("fault: %s", f.name)
		f.start = time.Now()
		if err := f.do(ctx); err != nil {
			stopLoad()
			return false, fmt.Errorf("%s: %w", f.name, err)
		}
		f.end = time.Now()
		logf("fault: %s over after %s", f.name, fmtDur(f.end.Sub(f.start)))
	}
	lastFault := faults[len(faults)-1].end
	_ = sleepCtx(ctx, c.gap)
	stopLoad()
	<-loadDone
	wg.Wait()
	logf("load stopped after %d uploads; waiting for the pipeline to drain", sent)
	// Drained: every banked copy removed. Given up: drainMax, or a minute
	// without one more removal (what is left is lost, not late).
	deadline := time.Now().Add(c.drainMax)
	last, progress := -1, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil && time.Since(progress) < time.Minute {
		pending := 0
		for _, r := range h.cl.results() {
			if r.banked && !r.removed {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if pending != last {
			last, progress = pending, time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Late duplicates or false takedowns would come now.
	_ = sleepCtx(ctx, 5*time.Second)
	return h.chaosReport(ctx, c, faults, lastFault, len(sendErrs))
}

func (h *harness) chaosReport(ctx context.Context, c chaosOpts, faults []*fault, lastFault time.Time, sendFailed int) (bool, error) {
	res := h.cl.results()
	calls := h.plat.snapshot()
	byID := map[string]result{}
	var banked, unrelated, notAccepted int
	var lost, falses []string
	var lat, beyond []time.Duration
	var drained time.Time
	for _, r := range res {
		byID[r.id] = r
		if r.accepted.IsZero() {
			notAccepted++
			continue
		}
		if !r.banked {
			unrelated++
			if r.falseHit {
				falses = append(falses, r.id)
			}
			continue
		}
		banked++
		if !r.removed {
			lost = append(lost, r.id)
			continue
		}
		lat = append(lat, r.latency)
		beyond = append(beyond, beyondOutage(r, faults))
		if r.done.After(drained) {
			drained = r.done
		}
	}
	keys := map[[2]string]map[string]bool{}
	okByKey := map[string]int{}
	hook503 := 0
	for _, cl := range calls {
		if cl.ClientID != "bench" {
			continue
		}
		k := [2]string{cl.ContentID, cl.Action}
		if keys[k] == nil {
			keys[k] = map[string]bool{}
		}
		keys[k][cl.Key] = true
		if cl.Status == http.StatusOK {
			okByKey[cl.Key]++
		} else {
			hook503++
		}
	}
	var dups []string
	for k, ks := range keys {
		if len(ks) > 1 {
			dups = append(dups, k[0]+"/"+k[1])
		}
	}
	redeliveries := 0
	for _, n := range okByKey {
		redeliveries += max(0, n-1)
	}
	slices.Sort(lost)
	slices.Sort(falses)
	slices.Sort(dups)

	// Dead letters, through pkg/platform/messaging.
	k := config.Kafka{Brokers: []string{h.st.brokers}}
	var dlq []string
	dlqTotal := int64(0)
	for _, s := range services {
		topic := s + ".dlq"
		n, ids := deadLetters(ctx, k, topic)
		dlqTotal += n
		d := fmt.Sprintf("%s=%d", s, n)
		if len(ids) > 0 {
			d += fmt.Sprintf("%v", ids[:min(len(ids), 5)])
		}
		dlq = append(dlq, d)
	}

	// Recovery: after each fault, the first run of 5 banked uploads in a
	// row (by acceptance) taken down within 1 s; stall: the worst latency
	// of the uploads accepted from the fault's start until then.
	var banks []result
	for _, r := range res {
		if r.banked && !r.accepted.IsZero() {
			banks = append(banks, r)
		}
	}
	sort.Slice(banks, func(i, j int) bool { return banks[i].accepted.Before(banks[j].accepted) })
	fmt.Printf("\nmake chaos (%s): faults, in order (recovery: from the fault's start, and from its end, until upload-to-takedown is back under 1 s, 5 uploads in a row; worst: the worst latency meanwhile). Noisy if anything else runs.\n", c.size)
	var rec []string
	for n, f := range faults {
		i := sort.Search(len(banks), func(i int) bool { return !banks[i].accepted.Before(f.start) })
		// Looked for until the next fault starts: later latencies are its.
		until := time.Now()
		if n+1 < len(faults) {
			until = faults[n+1].start
		}
		var worst time.Duration
		back := time.Time{}
		run := 0
		for j := i; j < len(banks) && banks[j].accepted.Before(until); j++ {
			r := banks[j]
			if !r.removed || r.latency >= time.Second {
				run = 0
				if r.removed && r.latency > worst {
					worst = r.latency
				}
				continue
			}
			run++
			if run == 5 {
				back = banks[j-4].accepted
				break
			}
		}
		recovery, afterEnd := "not before the next fault", "-"
		short := "none"
		if !back.IsZero() {
			recovery = fmtDur(back.Sub(f.start))
			afterEnd = fmtDur(max(0, back.Sub(f.end)))
			short = afterEnd
		}
		fmt.Printf("  %-26s lasted %-8s recovered after %-8s (%-8s after it ended)  worst latency meanwhile %s\n", f.name, fmtDur(f.end.Sub(f.start)), recovery, afterEnd, fmtDur(worst))
		rec = append(rec, strings.ReplaceAll(f.name, " ", "_")+"="+short)
	}
	// The latency timeline, by 10 s of acceptance: where a stall began and ended.
	if len(banks) > 0 {
		t0 := banks[0].accepted
		fmt.Printf("  latency by 10 s of acceptance (from %s; +s: p50/max of the banked copies, * lost):", t0.Format("15:04:05"))
		for i := 0; i < len(banks); {
			b := int(banks[i].accepted.Sub(t0) / (10 * time.Second))
			var ls []time.Duration
			lostN := 0
			for ; i < len(banks) && int(banks[i].accepted.Sub(t0)/(10*time.Second)) == b; i++ {
				if banks[i].removed {
					ls = append(ls, banks[i].latency)
				} else {
					lostN++
				}
			}
			fmt.Printf(" +%d:%s/%s", b*10, fmtDur(percentile(ls, .5)), fmtDur(percentile(ls, 1)))
			if lostN > 0 {
				fmt.Printf("*%d", lostN)
			}
		}
		fmt.Println()
	}
	drain := "n/a"
	if !drained.IsZero() {
		drain = fmtDur(max(0, drained.Sub(lastFault)))
	}
	if len(lost) > 0 {
		fmt.Printf("LOST takedowns (%d): %s\n", len(lost), strings.Join(first(lost, 20), " "))
		for _, id := range first(lost, 20) {
			r := byID[id]
			var seen []string
			for _, cl := range calls {
				if cl.ContentID == id {
					seen = append(seen, fmt.Sprintf("%s %d at %s", cl.Action, cl.Status, cl.At.Format("15:04:05.000")))
				}
			}
			h.cl.mu.Lock()
			_, verdict := h.cl.verdicts[id]
			h.cl.mu.Unlock()
			fmt.Printf("  %s accepted %s after %d attempts; verdict on media.matched: %v; webhook calls: %v\n", id, r.accepted.Format("15:04:05.000"), r.attempts, verdict, seen)
		}
	}
	if len(dups) > 0 {
		fmt.Printf("DUPLICATE actions (different Idempotency-Keys) (%d): %s\n", len(dups), strings.Join(first(dups, 20), " "))
	}
	if len(falses) > 0 {
		fmt.Printf("FALSE takedowns (%d): %s\n", len(falses), strings.Join(first(falses, 20), " "))
	}
	ok := len(lost) == 0 && len(dups) == 0 && len(falses) == 0 && notAccepted == 0
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	extra := ""
	if len(h.o.serviceEnv) > 0 {
		extra = " service_env=" + strings.Join(h.o.serviceEnv, ",")
	}
	fmt.Printf("chaos %s: size=%s concurrency=%s%s uploads=%d (banked %d, unrelated %d, never accepted %d) lost=%d duplicates=%d false=%d redeliveries=%d webhook_503s=%d dlq=%d{%s} drain_after_last_fault=%s p99=%s max=%s p99_beyond_outages=%s recovery_after_end{%s}\n",
		verdict, c.size, orDefault(h.o.concurrency), extra, len(res), banked, unrelated, notAccepted, len(lost), len(dups), len(falses), redeliveries, hook503,
		dlqTotal, strings.Join(dlq, " "), drain, fmtDur(percentile(lat, .99)), fmtDur(percentile(lat, 1)), fmtDur(percentile(beyond, .99)), strings.Join(rec, " "))
	_ = sendFailed
	return ok, nil
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }

// deadLetters counts the records of a dead-letter topic and returns the
// content ids (keys) of the first few.
func deadLetters(ctx context.Context, k config.Kafka, topic string) (int64, []string) {
	parts, err := messaging.TopicPartitions(ctx, k, topic)
	if errors.Is(err, messaging.ErrTopicNotFound) {
		return 0, nil
	}
	if err != nil {
		logf("dead letters of %s: %v", topic, err)
		return -1, nil
	}
	var n int64
	for _, p := range parts {
		n += p.End - p.First
	}
	if n == 0 {
		return 0, nil
	}
	var mu sync.Mutex
	var ids []string
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, _ = messaging.Replay(rctx, messaging.ReplayConfig{Kafka: k, Topic: topic}, func(_ context.Context, m *messaging.Message) error {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, string(m.Key))
		return nil
	})
	slices.Sort(ids)
	return n, ids
}
