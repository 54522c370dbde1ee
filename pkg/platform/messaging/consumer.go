package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// ConsumerConfig configures a consumer-group member.
type ConsumerConfig struct {
	Kafka  config.Kafka
	Group  string
	Topics []string
	// HandlerTimeout bounds one message's processing, retries included.
	HandlerTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member
	// (default 6 s, the broker's default floor).
	SessionTimeout time.Duration
	// InstanceID, if set, names this member across restarts and must be
	// unique in the group: it becomes the Kafka client id, and a consumer
	// starting up first removes any member of its group with the same
	// client id, which can only be its own killed predecessor, so that the
	// group rebalances at once instead of after the dead member's session
	// timeout (what static membership, KIP-345, gives clients that have it).
	InstanceID string
	// Concurrency is how many messages are handled at once (0: one).
	// Messages with the same key are still handled one after the other,
	// in partition order.
	Concurrency int
	// CommitInterval and CommitBatch batch the offset commits: the
	// watermark is committed this often, or as soon as this many messages
	// passed it (defaults 500 ms and 100). A crash loses at most that much
	// bookkeeping, which at-least-once delivery turns into redeliveries.
	CommitInterval time.Duration
	CommitBatch    int
	// FetchPoll is how long one fetch waits for a message before the loop
	// goes round again (default DefaultFetchPoll), so that an idle consumer
	// still shows progress to Stalled.
	FetchPoll time.Duration
	// Logger receives the consumer's own log lines.
	Logger *slog.Logger
}

// Consumer runs a handler over the messages of a consumer group with
// at-least-once delivery: an offset is committed only after the handler has
// returned nil for its message and for every message before it on its
// partition (the commit watermark), so handling messages at once never
// commits past one still in hand.
type Consumer struct {
	cfg     ConsumerConfig
	attrs   []attribute.KeyValue // of process spans: broker and client id
	rcfg    kafka.ReaderConfig
	r       *kafka.Reader // set by Run
	lag     atomic.Pointer[kafka.Reader]
	admin   *kafka.Client // set by Run when InstanceID is set
	log     *slog.Logger
	running atomic.Bool
	handled atomic.Int64
	marks   watermarks
	live    progress // see Stalled
}

// NewConsumer joins cfg.Group for cfg.Topics. A group that has no committed
// offset starts from the earliest message, so nothing published before the
// service first started is skipped.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = 2 * time.Minute
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = config.DefaultSessionTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 500 * time.Millisecond
	}
	if cfg.CommitBatch <= 0 {
		cfg.CommitBatch = 100
	}
	if cfg.FetchPoll <= 0 {
		cfg.FetchPoll = DefaultFetchPoll
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("group", cfg.Group)
	initSeries(cfg.Group, cfg.Topics)
	dialer := newDialer(cfg.Kafka)
	// kafka-go's own client id unless the member is named.
	id := kafka.DefaultClientID
	if cfg.InstanceID != "" {
		id = clientID(cfg.Group, cfg.InstanceID)
		dialer.ClientID = id
	}
	rcfg := kafka.ReaderConfig{
		Brokers:     cfg.Kafka.Brokers,
		Dialer:      dialer,
		GroupID:     cfg.Group,
		GroupTopics: cfg.Topics,
		StartOffset: kafka.FirstOffset,
		// Synchronous commits, of the watermark only: a commit means every
		// message up to it is done. Run batches them itself.
		CommitInterval:    0,
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.SessionTimeout / 5,
		RebalanceTimeout:  cfg.SessionTimeout,
		// With MinBytes 1 the broker answers a fetch as soon as a record
		// arrives, so MaxWait adds no latency; it is how often an idle
		// partition is asked again. kafka-go fetches each partition on
		// its own, so polling idle partitions is most of an idle broker's
		// work (docs/throughput.md, make bench-e2e). Longer would delay a rebalance
		// and a shutdown, which wait for the fetches in flight.
		MaxWait:        time.Second,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
		// kafka-go waits 5 s by default before joining again after a
		// failed join: after a broker restart that was most of the time
		// the pipeline took to resume (make chaos).
		JoinGroupBackoff: time.Second,
		// A group formed while a topic's partitions were not yet visible
		// (just created), or a topic grown on a live cluster, is rebalanced
		// when the partitions appear, instead of leaving them unread.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	}
	return &Consumer{cfg: cfg, rcfg: rcfg, log: log, attrs: consumerAttrs(cfg.Kafka.Brokers, id), marks: watermarks{parts: map[partition]*partState{}}}
}

// Running reports whether Run is fetching messages.
func (c *Consumer) Running() bool { return c.running.Load() }

// Handled is the number of messages processed and committed.
func (c *Consumer) Handled() int64 { return c.handled.Load() }

// Lag is the number of messages behind the end of the assigned partitions,
// as last seen by the reader (-1 before it knows).
func (c *Consumer) Lag() int64 {
	if r := c.lag.Load(); r != nil {
		return r.Stats().Lag
	}
	return -1
}

// Run fetches and handles messages until ctx is cancelled, up to
// Concurrency at once. On cancellation it stops fetching, lets the messages
// in hand finish (their contexts are detached from ctx, bounded by
// HandlerTimeout), hands back those not started yet, commits the watermark
// and leaves the group.
//
// A handler error means the message could not be processed nor dead-lettered
// (an outage, not bad input): the message is retried with backoff and never
// committed past, so it is redelivered after a restart if shutdown comes
// first, with every message after it on its partition.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if c.cfg.InstanceID != "" {
		// One admin client for the group lookups of this run, not one
		// (and its connections) per lookup.
		if cl, err := client(c.cfg.Kafka); err == nil {
			c.admin = cl
			defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
		}
		c.evictPredecessor(ctx)
	}
	c.r = kafka.NewReader(c.rcfg)
	c.lag.Store(c.r)
	c.live.tick(time.Now())
	c.running.Store(true)
	defer c.running.Store(false)
	defer func() {
		if err := c.r.Close(); err != nil {
			c.log.Warn("closing reader", "err", err)
		}
	}()
	d := &dispatcher{c: c, ctx: ctx, h: h, slots: make(chan struct{}, c.cfg.Concurrency), keys: map[string][]*inflight{}}
	kick := make(chan struct{}, 1)
	c.marks.kick, c.marks.batch = kick, c.cfg.CommitBatch
	commitDone := make(chan struct{})
	stopCommits := make(chan struct{})
	go func() {
		defer close(commitDone)
		t := time.NewTicker(c.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-stopCommits:
				return
			case <-t.C:
			case <-kick:
			}
			c.commit(ctx)
		}
	}()
	err := c.fetch(ctx, d)
	c.live.waiting.Store(true)
	d.wg.Wait() // work in hand finishes; what was not started is handed back
	close(stopCommits)
	<-commitDone
	c.commit(ctx) // the final watermark
	forgetLag(c.cfg.Group, c.marks.partitions())
	return err
}

// clientID is the Kafka client id of a group's member named instance.
func clientID(group, instance string) string { return "takedown/" + group + "/" + instance }

// evictPredecessor removes from the group any member with this consumer's
// client id: a replica that was killed (kill -9, OOM) did not leave the
// group, which would otherwise wait its whole session timeout before
// rebalancing, and the restarted replica's partitions would sit idle
// meanwhile. Failing only costs that wait, so errors are logged, not
// returned.
func (c *Consumer) evictPredecessor(ctx context.Context) {
	ids, _, err := c.sameInstance(ctx)
	if err != nil {
		c.log.Warn("could not look for a killed predecessor in the group", "err", err)
		return
	}
	if len(ids) > 0 && c.evict(ctx, ids) {
		c.log.Info("removed a killed predecessor from the group", "instance", c.cfg.InstanceID, "members", len(ids))
	}
}

// reclaimAfterOutage watches the group for a minute after a fetch failed.
// A restarted broker reloads each group with the members it last had, and
// kafka-go, which rejoins under a new member id after such an error, cannot
// claim its old one: the group then waits for the old member's session to
// time out before it rebalances. Two members with this consumer's client id
// in a group that is rebalancing are that old member and this consumer's
// new one; removing both sends the new one back to join alone, at once.
func (c *Consumer) reclaimAfterOutage(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if !sleep(ctx, time.Second) {
			return
		}
		ids, state, err := c.sameInstance(ctx)
		if err != nil || len(ids) < 2 || state == "Stable" {
			continue // the broker is still away, or nothing is left over
		}
		if c.evict(ctx, ids) {
			c.log.Info("removed this replica's members left over from before the broker's restart; rejoining",
				"instance", c.cfg.InstanceID, "members", len(ids), "group_state", state)
		}
		return
	}
}

// sameInstance returns the ids of the group's members with this consumer's
// client id, and the group's state.
func (c *Consumer) sameInstance(ctx context.Context) (ids []string, state string, err error) {
	cl := c.admin
	if cl == nil {
		return nil, "", errors.New("no admin client")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{c.cfg.Group}})
	if err != nil {
		return nil, "", err
	}
	id := clientID(c.cfg.Group, c.cfg.InstanceID)
	for _, g := range resp.Groups {
		if g.Error != nil {
			continue // not there yet (a new group), or still loading
		}
		state = g.GroupState
		for _, m := range g.Members {
			if m.ClientID == id {
				ids = append(ids, m.MemberID)
			}
		}
	}
	return ids, state, nil
}

// evict removes members from the group, reporting whether it did.
func (c *Consumer) evict(ctx context.Context, ids []string) bool {
	cl := c.admin
	if cl == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	members := make([]kafka.LeaveGroupRequestMember, len(ids))
	for i, id := range ids {
		members[i] = kafka.LeaveGroupRequestMember{ID: id}
	}
	resp, err := cl.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: c.cfg.Group, Members: members})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		c.log.Warn("could not remove this replica's stale members from the group; waiting for their session to time out",
			"members", len(ids), "session_timeout", c.cfg.SessionTimeout, "err", err)
		return false
	}
	return true
}

// fetch hands messages to d until ctx is cancelled, holding at most
// Concurrency of them at a time so that memory stays bounded however far
// the handlers fall behind.
func (c *Consumer) fetch(ctx context.Context, d *dispatcher) error {
	var reclaimUntil time.Time
	for {
		c.live.tick(time.Now())
		c.live.waiting.Store(true)
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		// A beat before fetching again: the wait for the slot may have
		// been long, and was progress.
		c.live.tick(time.Now())
		c.live.waiting.Store(false)
		// A fetch that times out takes nothing from the reader: the next
		// one gets the message it would have.
		fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchPoll)
		km, err := c.r.FetchMessage(fctx)
		cancel()
		if err != nil {
			<-d.slots
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				continue // idle: round again
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("consumer %s closed: %w", c.cfg.Group, err)
			}
			c.log.Warn("fetch failed", "err", err)
			if c.cfg.InstanceID != "" && time.Now().After(reclaimUntil) {
				reclaimUntil = time.Now().Add(time.Minute)
				go c.reclaimAfterOutage(ctx)
			}
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		observeLag(c.cfg.Group, km.Topic, km.Partition, km.HighWaterMark, km.Offset)
		d.dispatch(&inflight{km: km, mark: c.marks.add(km)})
	}
}

// commit commits the watermark of every partition that moved since the
// last commit.
func (c *Consumer) commit(ctx context.Context) {
	msgs, n := c.marks.take()
	if len(msgs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err := c.r.CommitMessages(cctx, msgs...)
	cancel()
	if err != nil {
		// The messages will come again after a restart or rebalance;
		// handlers are idempotent. The next commit retries the watermark.
		c.marks.untake(n)
		c.log.Warn("commit failed", "partitions", len(msgs), "err", err)
		return
	}
	c.marks.committed(msgs)
	c.handled.Add(int64(n))
}

// inflight is a fetched message on its way through a handler.
type inflight struct {
	km   kafka.Message
	mark *pending
}

// dispatcher runs messages on their own goroutines, at most one per key at
// a time: a message whose key is in hand waits behind it, in order, while
// messages of other keys go ahead.
type dispatcher struct {
	c     *Consumer
	ctx   context.Context
	h     Handler
	slots chan struct{}
	wg    sync.WaitGroup

	mu sync.Mutex
	// keys holds, for each key in hand, the messages waiting behind it.
	keys map[string][]*inflight
}

func (d *dispatcher) dispatch(f *inflight) {
	key := string(f.km.Key)
	if len(f.km.Key) > 0 {
		d.mu.Lock()
		if q, busy := d.keys[key]; busy {
			d.keys[key] = append(q, f)
			d.mu.Unlock()
			return
		}
		d.keys[key] = nil
		d.mu.Unlock()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for f != nil {
			d.run(f)
			if len(f.km.Key) == 0 {
				return
			}
			f = d.next(key)
		}
	}()
}

// next takes the next message waiting for key, or marks key free.
func (d *dispatcher) next(key string) *inflight {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.keys[key]
	if len(q) == 0 {
		delete(d.keys, key)
		return nil
	}
	d.keys[key] = q[1:]
	return q[0]
}

// run handles one message and marks it done. After shutdown began, a
// message not started yet is handed back instead: not handled, not done,
// so neither it nor anything after it on its partition is committed.
func (d *dispatcher) run(f *inflight) {
	defer func() { <-d.slots }()
	if d.ctx.Err() != nil {
		return
	}
	if d.c.handle(d.ctx, d.h, fromKafka(f.km)) {
		d.c.marks.done(f.mark)
	}
}

// handle runs h until it succeeds. It returns false when shutdown came while
// the message was still failing, in which case it must not be committed.
func (c *Consumer) handle(ctx context.Context, h Handler, msg *Message) bool {
	backoff := 500 * time.Millisecond
	for {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.HandlerTimeout)
		hctx = context.WithValue(hctx, stoppingKey{}, ctx.Done())
		hctx = withClientAttrs(hctx, c.attrs)
		id := c.live.begin(msg)
		err := h(hctx, msg)
		c.live.end(id)
		cancel()
		if err == nil {
			return true
		}
		c.log.Error("message not processed; will retry it", "topic", msg.Topic,
			"partition", msg.Partition, "offset", msg.Offset, "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		// A short cap: the backoff is a pause between attempts at an
		// outage, and whatever is left of it when the outage ends is added
		// to every takedown waiting behind it.
		backoff = min(backoff*2, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type stoppingKey struct{}

// Stopping returns a channel that is closed when the consumer running the
// handler begins to shut down. A handler's context is not cancelled then, so
// that work in hand can finish; a handler about to wait (a backoff between
// retries) selects on this instead and gives the message back, uncommitted.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch // nil outside a consumer: never closed
}
