package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Worker is the life of a pipeline service that consumes a topic: check that
// Kafka takes its settings, create its topics, check its dependencies, serve
// HTTP, get ready, consume until ctx ends, then shut down in the order that
// loses nothing:
//
//  1. readiness fails the moment shutdown starts, so no new traffic comes;
//  2. the consumer stops fetching, finishes the messages in hand, commits
//     its watermark and leaves the group;
//  3. the HTTP server stops (requests in flight finish, and may still
//     publish: a review decision does);
//  4. Close runs in order (flush the publisher, then close Redis).
type Worker struct {
	Name   string
	Log    *slog.Logger
	Health *Health
	// HTTPAddr and HTTP are the service's API, health endpoints included.
	// GET /metrics is the worker's: it serves Metrics, the service's own
	// registry (may be nil), and the process's (see MetricsHandler).
	HTTPAddr string
	HTTP     http.Handler
	Metrics  prometheus.Gatherer
	// Server holds the HTTP timeouts and the admin address: when it is
	// set, /healthz, /readyz and /metrics move there (see SplitAdmin).
	Server config.HTTPServer
	// Topics are created, when missing, before anything else (package
	// topics lists them). With TopicsMustExist (TAKEDOWN_CREATE_TOPICS=false)
	// they are not created: the worker refuses to start when one is missing.
	Kafka           config.Kafka
	Topics          []messaging.TopicSpec
	TopicsMustExist bool
	// Liveness is how long the consumer may make no progress before
	// /healthz fails (TAKEDOWN_LIVENESS_TIMEOUT; 0: never). See
	// messaging.Consumer.Stalled for what counts as progress.
	Liveness time.Duration
	// Preflight checks must pass before the service starts: better to refuse
	// to start than to consume and fail every message.
	Preflight []func(context.Context) error
	// Prepare runs once HTTP is up and before consuming; the service is not
	// ready until it returns (the matcher loads its banks here).
	Prepare func(context.Context) error
	// Consumer is the group to join and Handle what to do with each message
	// (its middleware already applied).
	Consumer messaging.ConsumerConfig
	Handle   messaging.Handler
	// Close releases what the service holds, in order, after the consumer
	// and the HTTP server have stopped. It runs on every path out of Run.
	Close []func() error
	// ReadyLog is logged, with the address, when the service is ready.
	ReadyLog []any
}

// Run runs the worker until ctx is cancelled; a clean shutdown returns nil.
func (w *Worker) Run(ctx context.Context) (err error) {
	defer func() {
		for _, c := range w.Close {
			if cerr := c(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()
	if err := w.Server.Validate(); err != nil {
		return err
	}
	if w.Consumer.Concurrency < 0 {
		return fmt.Errorf("%s=%d: must not be negative", config.EnvName("consumer-concurrency"), w.Consumer.Concurrency)
	}
	if w.Consumer.SessionTimeout < 0 {
		return fmt.Errorf("%s=%v: must not be negative", config.EnvName("consumer-session-timeout"), w.Consumer.SessionTimeout)
	}
	// First, and within seconds: a wrong password or an untrusted
	// certificate must stop the service with the setting to fix, not leave
	// kafka-go's clients retrying the handshake for ever.
	if err := messaging.Check(ctx, w.Kafka); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if len(w.Topics) > 0 {
		ensure := messaging.EnsureTopics
		if w.TopicsMustExist {
			ensure = requireTopics
		}
		if err := ensure(ctx, w.Kafka, w.Topics...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	// The group is joined only once the consumed topics have leaders: a
	// member that joins while a just-created topic shows no partitions is
	// assigned none, and stayed idle though ready (seen with make chaos).
	for _, t := range w.Consumer.Topics {
		if err := messaging.WaitForTopic(ctx, w.Kafka, t, time.Minute); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	for _, check := range w.Preflight {
		if err := check(ctx); err != nil {
			return err
		}
	}
	registerProcessMetrics(w.Name)
	public := withMetrics(w.HTTP, w.Metrics)
	if w.Server.AdminAddr != "" {
		var admin http.Handler
		public, admin = SplitAdmin(public)
		stopAdmin, adminAddr, err := ServeWith(ctx, w.Log, w.Server.AdminAddr, admin, w.Server)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvName("admin-addr"), err)
		}
		w.Health.SetAdminAddr(adminAddr)
		// Deferred first, so it stops last: probes see the service until
		// the very end.
		defer func() {
			if herr := stopAdmin(); herr != nil {
				w.Log.Warn("stopping admin http server", "err", herr)
			}
		}()
	}
	stopHTTP, addr, err := ServeWith(ctx, w.Log, w.HTTPAddr, public, w.Server)
	if err != nil {
		return err
	}
	w.Health.SetAddr(addr)
	defer func() {
		if herr := stopHTTP(); herr != nil {
			w.Log.Warn("stopping http server", "err", herr)
		}
	}()
	stopReady := context.AfterFunc(ctx, func() { w.Health.SetReady(false) })
	defer stopReady()

	if w.Prepare != nil {
		if err := w.Prepare(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	cc := w.Consumer
	if w.Liveness > 0 {
		// The idle fetch loop goes round several times within the timeout.
		cc.FetchPoll = min(messaging.DefaultFetchPoll, w.Liveness/4)
	}
	consumer := messaging.NewConsumer(cc)
	if w.Liveness > 0 {
		w.Health.AddLiveness("consumer", func() error { return consumer.Stalled(w.Liveness) })
	}
	w.Health.SetReady(true)
	w.Log.Info(w.Name+" ready", append([]any{"addr", addr, "group", w.Consumer.Group, "consumes", w.Consumer.Topics,
		"concurrency", max(w.Consumer.Concurrency, 1)}, w.ReadyLog...)...)
	err = consumer.Run(ctx, w.Handle)
	w.Health.SetReady(false)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s consumer: %w", w.Name, err)
	}
	return nil
}

// ErrTopicsMissing is the start refused for topics that do not exist while
// the service may not create them.
var ErrTopicsMissing = errors.New("topics missing")

// requireTopics checks that every topic of specs exists, for a service that
// may not create them (TAKEDOWN_CREATE_TOPICS=false), and names the missing
// ones and the command that makes them: consuming or publishing to a
// missing topic would fail or have the broker auto-create it with its
// defaults (one partition, no compaction, a week's retention).
func requireTopics(ctx context.Context, k config.Kafka, specs ...messaging.TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	have, err := messaging.PartitionCounts(ctx, k, names...)
	if err != nil {
		return fmt.Errorf("checking that the topics exist (%s=false): %w", config.EnvName("create-topics"), err)
	}
	var missing []string
	for _, n := range names {
		if _, ok := have[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s; %s=false, so the service does not create topics: run `takedownctl topics create` "+
			"with the same TAKEDOWN_* settings (the Helm chart's topic Job does), or set %s=true",
			ErrTopicsMissing, strings.Join(missing, ", "), config.EnvName("create-topics"), config.EnvName("create-topics"))
	}
	return nil
}

// Closing names what close closes, for its error.
func Closing(what string, close func() error) func() error {
	return func() error {
		if err := close(); err != nil {
			return fmt.Errorf("close %s: %w", what, err)
		}
		return nil
	}
}

// Reachable is a preflight check that ping succeeds, naming what is
// unreachable when it does not.
func Reachable(what string, ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return fmt.Errorf("%s is unreachable: %w", what, err)
		}
		return nil
	}
}
