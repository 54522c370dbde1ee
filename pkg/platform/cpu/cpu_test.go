package cpu

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// No more than Slots steps run at once, however many goroutines ask.
func TestDoBoundsConcurrentSteps(t *testing.T) {
	var now, peak atomic.Int32
	var wg sync.WaitGroup
	for range 8 * Slots() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Do(context.Background(), func() {
				n := now.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				now.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := int(peak.Load()); p > Slots() || p < 1 {
		t.Fatalf("%d steps ran at once, want 1..%d", p, Slots())
	}
}

// A caller whose context ends while every slot is taken gives up without
// running its step.
func TestDoGivesUpWhenContextEnds(t *testing.T) {
	for range Slots() {
		if err := Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for range Slots() {
			Release()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	if err := Do(ctx, func() { ran = true }); !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("Do with every slot taken: err %v, ran %v; want the deadline, not run", err, ran)
	}
}
