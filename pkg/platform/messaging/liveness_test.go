package messaging

import (
	"strings"
	"testing"
	"time"
)

// What Stalled calls wedged and what it calls alive, at a given moment:
// waiting on handlers within their deadlines is alive however long;
// silence of the loop while it is fetching, or a handler past its
// deadline, is not.
func TestProgressStalled(t *testing.T) {
	const (
		within  = time.Minute
		timeout = 30 * time.Minute // a video's handler
	)
	t0 := time.Unix(1_000_000, 0)
	msg := &Message{Topic: "media.ingested", Partition: 3, Offset: 42}
	cases := []struct {
		name    string
		beat    time.Duration // before now
		waiting bool
		started []time.Duration // attempts in progress, started this long before now
		want    string          // "" alive, else a part of the error
	}{
		{"loop went round just now", 0, false, nil, ""},
		{"idle, going round every poll", 5 * time.Second, false, nil, ""},
		{"loop silent past the timeout", within + time.Second, false, nil, "fetch loop has not gone round for 1m1s"},
		{"every slot busy with a long video", 20 * time.Minute, true, []time.Duration{20 * time.Minute, 3 * time.Minute}, ""},
		{"a handler past its deadline by less than within", 31 * time.Minute, true, []time.Duration{timeout + within - time.Second}, ""},
		{"a handler ignoring its deadline", 40 * time.Minute, true, []time.Duration{timeout + within + time.Second}, "media.ingested/3 offset 42 has run for 31m1s, past its timeout of 30m0s"},
		{"a handler ignoring its deadline while the loop fetches", 0, false, []time.Duration{timeout + 2*within}, "ignores its context"},
		{"slots held between retries", 4 * time.Second, true, nil, ""},
		{"slots held, no handler, nothing for long", within + time.Second, true, nil, "every slot held and no handler running"},
		{"loop silent though a handler runs", within + time.Second, false, []time.Duration{time.Second}, "fetch loop has not gone round"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			var p progress
			for _, s := range tc.started {
				id := p.begin(msg)
				p.mu.Lock()
				a := p.attempts[id]
				a.start = now.Add(-s)
				p.attempts[id] = a
				p.mu.Unlock()
			}
			p.tick(now.Add(-tc.beat))
			p.waiting.Store(tc.waiting)
			err := p.stalled(now, within, timeout)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("stalled: %v; want alive", err)
			case tc.want != "" && err == nil:
				t.Errorf("alive; want stalled (%s)", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("stalled: %v; want it to say %q", err, tc.want)
			}
		})
	}
}

// Attempts that ended no longer count.
func TestProgressEnd(t *testing.T) {
	var p progress
	msg := &Message{Topic: "t"}
	a, b := p.begin(msg), p.begin(msg)
	p.end(a)
	if _, ok := p.oldest(); !ok {
		t.Fatal("no attempt in progress after one of two ended")
	}
	p.end(b)
	if x, ok := p.oldest(); ok {
		t.Fatalf("attempt %+v in progress after both ended", x)
	}
}

// A consumer that is not running (before Run, after it) is not stalled.
func TestStalledWhenNotRunning(t *testing.T) {
	c := NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
	if err := c.Stalled(time.Nanosecond); err != nil {
		t.Errorf("a consumer never started: %v", err)
	}
}
