// Package cpu holds the process-wide limit on CPU-heavy work (decoding,
// hashing, matching): at most GOMAXPROCS such steps run at once, however
// many messages a service has in flight. Handlers wait for media hosts,
// Redis and Kafka many at a time; the limit keeps their CPU steps from
// oversubscribing the cores, which would only add context switches and
// stretch every step's latency.
//
// Take a slot per step that stays short (one picture, one video frame),
// not for a whole long job, so that a long video cannot starve pictures.
package cpu

import (
	"context"
	"runtime"
	"sync"
)

var slots = sync.OnceValue(func() chan struct{} {
	return make(chan struct{}, runtime.GOMAXPROCS(0))
})

// Slots is the number of CPU-heavy steps that may run at once: GOMAXPROCS
// when the process first took a slot.
func Slots() int { return cap(slots()) }

// Acquire waits for a slot, or returns ctx's error if it ends first. Every
// successful Acquire must be followed by one Release.
func Acquire(ctx context.Context) error {
	select {
	case slots() <- struct{}{}:
		return nil
	default:
	}
	select {
	case slots() <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives back a slot taken by Acquire.
func Release() { <-slots() }

// Do runs fn holding a slot; it returns ctx's error, without running fn,
// if ctx ends before a slot is free.
func Do(ctx context.Context, fn func()) error {
	if err := Acquire(ctx); err != nil {
		return err
	}
	defer Release()
	fn()
	return nil
}
