package testenv

import (
	"context"
	"sync"
	"testing"
	"time"
)

const (
	// poll is how often WaitFor and Run look again.
	poll = 20 * time.Millisecond
	// readyWithin bounds Run's wait for the service to become ready.
	readyWithin = 60 * time.Second
	// stopWithin bounds the wait for run to return once cancelled.
	stopWithin = 30 * time.Second
)

// Run starts run (a service's Run) in a goroutine and waits until ready
// reports true, failing the test if run returns first or if it is not ready
// within a minute. A cleanup then cancels run's context and waits for it to
// return, reporting an error if it returns one or does not return within
// 30 seconds. name says which service a failure is about.
//
// The returned stop does the same at once, for a test that stops a service
// before its end (a restart); the cleanup then has nothing left to do.
func Run(t testing.TB, name string, run func(context.Context) error, ready func() bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		runErr = run(ctx)
	}()
	early := false // run returned before ready: already reported
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-returned:
				if runErr != nil && !early {
					t.Errorf("%s: Run returned %v on shutdown, want nil", name, runErr)
				}
			case <-time.After(stopWithin):
				t.Errorf("%s: Run did not return within %s of cancellation", name, stopWithin)
			}
		})
	}
	t.Cleanup(stop)
	WaitFor(t, readyWithin, name+" to be ready", func() bool {
		select {
		case <-returned:
			early = true
			t.Fatalf("%s: Run returned before ready: %v", name, runErr)
		default:
		}
		return ready()
	})
	return stop
}

// WaitFor polls cond every 20ms until it is true, failing the test if it is
// not within the given time; what names the awaited state in the failure.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(poll)
	}
}
