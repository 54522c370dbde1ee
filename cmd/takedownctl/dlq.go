package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// dlqSuffix ends the name of every dead-letter topic: each service's
// TAKEDOWN_DLQ_TOPIC defaults to SERVICE.dlq.
const dlqSuffix = ".dlq"

// HeaderDLQReplayedFrom names, on a replayed message, the dead-letter record
// it was replayed from (TOPIC/PARTITION/OFFSET), so the logs of a second
// failure lead back to it.
const HeaderDLQReplayedFrom = "dlq-replayed-from"

// dlqPartition is where one partition of a dead-letter topic stands.
type dlqPartition struct {
	Partition int   `json:"partition"`
	First     int64 `json:"first_offset"`
	End       int64 `json:"end_offset"`
	Messages  int64 `json:"messages"`
}

type dlqTopic struct {
	Topic      string         `json:"topic"`
	Messages   int64          `json:"messages"`
	Partitions []dlqPartition `json:"partitions"`
}

func cmdDLQList(ctx context.Context, args []string, out io.Writer) error {
	var (
		k      config.Kafka
		suffix string
		asJSON bool
	)
	s := newSet(ctx, "takedownctl dlq list")
	k.Bind(s)
	s.String(&suffix, "dlq-suffix", dlqSuffix, "the topics listed are those whose names end with this")
	s.Bool(&asJSON, "json", false, "print JSON instead of a table")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) != 0 {
		return usageError{"dlq list takes no arguments"}
	}
	if err := messaging.Check(ctx, k); err != nil {
		return err
	}
	names, err := messaging.ListTopics(ctx, k)
	if err != nil {
		return err
	}
	topics := []dlqTopic{}
	for _, name := range names {
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		parts, err := messaging.TopicPartitions(ctx, k, name)
		if err != nil {
			return err
		}
		t := dlqTopic{Topic: name, Partitions: []dlqPartition{}}
		for _, p := range parts {
			t.Partitions = append(t.Partitions, dlqPartition{Partition: p.Partition, First: p.First, End: p.End, Messages: p.End - p.First})
			t.Messages += p.End - p.First
		}
		topics = append(topics, t)
	}
	if asJSON {
		return json.NewEncoder(out).Encode(topics)
	}
	if len(topics) == 0 {
		fmt.Fprintf(out, "no dead-letter topics (no topic ends with %q)\n", suffix)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tFIRST\tEND\tMESSAGES")
	for _, t := range topics {
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Topic, p.Partition, p.First, p.End, p.Messages)
		}
		fmt.Fprintf(tw, "%s\tall\t\t\t%d\n", t.Topic, t.Messages)
	}
	return tw.Flush()
}

// dlqRecord is one dead-lettered message as show prints it.
type dlqRecord struct {
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	// The dead-letter headers, parsed.
	Reason            string `json:"reason"`
	OriginalTopic     string `json:"original_topic"`
	OriginalPartition string `json:"original_partition"`
	OriginalOffset    string `json:"original_offset"`
	Service           string `json:"service"`
	Attempts          string `json:"attempts,omitempty"`
	DeadLetteredAt    string `json:"dead_lettered_at,omitempty"`
	Key               string `json:"key"`
	// Value is the record's value as text; ValueBase64 replaces it when
	// the value is not UTF-8.
	Value       *string           `json:"value,omitempty"`
	ValueBase64 []byte            `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers"`

	msg *messaging.Message
}

func newDLQRecord(m *messaging.Message) dlqRecord {
	r := dlqRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(),
		Reason: m.Header(messaging.HeaderDLQError), OriginalTopic: m.Header(messaging.HeaderDLQTopic),
		OriginalPartition: m.Header(messaging.HeaderDLQPartition), OriginalOffset: m.Header(messaging.HeaderDLQOffset),
		Service: m.Header(messaging.HeaderDLQService), Attempts: m.Header(messaging.HeaderDLQAttempts),
		DeadLetteredAt: m.Header(messaging.HeaderDLQTime), Key: string(m.Key), Headers: map[string]string{}, msg: m}
	if utf8.Valid(m.Value) {
		v := string(m.Value)
		r.Value = &v
	} else {
		r.ValueBase64 = m.Value
	}
	for _, h := range m.Headers {
		r.Headers[h.Key] = string(h.Value)
	}
	return r
}

// position is a partition and offset of a dead-letter topic.
type position struct {
	partition int
	offset    int64
}

func (p position) String() string { return fmt.Sprintf("%d:%d", p.partition, p.offset) }

// parseOffsets reads --offset: "P:N" items, or bare offsets of --partition
// (which a topic of one partition does not need).
func parseOffsets(list []string, partition, partitions int) ([]position, error) {
	var out []position
	for _, it := range list {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		p := partition
		offS := it
		if ps, offPart, ok := strings.Cut(it, ":"); ok {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--offset %q: want OFFSET or PARTITION:OFFSET", it)
			}
			p, offS = n, offPart
		} else if p < 0 {
			if partitions != 1 {
				return nil, fmt.Errorf("--offset %q: the topic has %d partitions; give PARTITION:OFFSET or --partition", it, partitions)
			}
			p = 0
		}
		off, err := strconv.ParseInt(offS, 10, 64)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("--offset %q: want OFFSET or PARTITION:OFFSET", it)
		}
		out = append(out, position{p, off})
	}
	return out, nil
}

// dlqSelection is the settings show and replay share.
type dlqSelection struct {
	k         config.Kafka
	topic     string
	offsets   []string
	partition int
}

func (d *dlqSelection) bind(s *config.Set) {
	d.k.Bind(s)
	s.List(&d.offsets, "offset", "", "messages to pick, comma-separated: OFFSET (of --partition) or PARTITION:OFFSET")
	s.Int(&d.partition, "partition", -1, "partition of bare --offset values (not needed when the topic has one)")
}

// parseWithTopic parses args, taking the topic from the first argument
// before the flags or the only one after them.
func parseWithTopic(s *config.Set, args []string, cmd string) (string, error) {
	var topic string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		topic, args = args[0], args[1:]
	}
	if err := s.Parse(args); err != nil {
		return "", err
	}
	rest := s.Args()
	if topic == "" && len(rest) > 0 {
		topic, rest = rest[0], rest[1:]
	}
	if topic == "" || len(rest) != 0 {
		return "", usageError{fmt.Sprintf("dlq %s takes one dead-letter topic (see takedownctl dlq list)", cmd)}
	}
	return topic, nil
}

// read returns the messages of the topic, in partition and offset order:
// those at the chosen offsets, or all when none were chosen. An offset that
// is not in the topic (never written, or expired) is an error naming it.
func (d *dlqSelection) read(ctx context.Context) ([]dlqRecord, []position, error) {
	if err := messaging.Check(ctx, d.k); err != nil {
		return nil, nil, err
	}
	parts, err := messaging.TopicPartitions(ctx, d.k, d.topic)
	if err != nil {
		return nil, nil, err
	}
	want, err := parseOffsets(d.offsets, d.partition, len(parts))
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	var unknown []string
	from := map[int]int64{}
	for _, w := range want {
		i := slices.IndexFunc(parts, func(p messaging.PartitionOffsets) bool { return p.Partition == w.partition })
		if i < 0 || w.offset < parts[i].First || w.offset >= parts[i].End {
			unknown = append(unknown, w.String())
			continue
		}
		if f, ok := from[w.partition]; !ok || w.offset < f {
			from[w.partition] = w.offset
		}
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("%s has no message at %s (see takedownctl dlq list for each partition's first and end offsets)",
			d.topic, strings.Join(unknown, ", "))
	}
	read := parts
	if len(want) > 0 {
		// Read only the partitions picked, from the first offset picked.
		read = nil
		for _, p := range parts {
			if f, ok := from[p.Partition]; ok {
				read = append(read, messaging.PartitionOffsets{Partition: p.Partition, First: f, End: p.End})
			}
		}
	}
	var (
		mu  sync.Mutex
		all []dlqRecord
	)
	_, err = messaging.Replay(ctx, messaging.ReplayConfig{Kafka: d.k, Topic: d.topic, Partitions: read, From: from},
		func(_ context.Context, m *messaging.Message) error {
			mu.Lock()
			defer mu.Unlock()
			all = append(all, newDLQRecord(m))
			return nil
		})
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(all, func(a, b dlqRecord) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	if len(want) == 0 {
		return all, nil, nil
	}
	var picked []dlqRecord
	for _, w := range want {
		i := slices.IndexFunc(all, func(r dlqRecord) bool { return r.Partition == w.partition && r.Offset == w.offset })
		if i < 0 {
			// Inside the partition's range but not a record (a transaction
			// marker): nothing to show or replay there.
			unknown = append(unknown, w.String())
			continue
		}
		if !slices.ContainsFunc(picked, func(r dlqRecord) bool { return r.Partition == w.partition && r.Offset == w.offset }) {
			picked = append(picked, all[i])
		}
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("%s has no message at %s", d.topic, strings.Join(unknown, ", "))
	}
	return picked, want, nil
}

func cmdDLQShow(ctx context.Context, args []string, out io.Writer) error {
	var (
		d      dlqSelection
		limit  int
		asJSON bool
	)
	s := newSet(ctx, "takedownctl dlq show")
	d.bind(s)
	s.Int(&limit, "limit", 0, "show at most this many messages, oldest first (0: all)")
	s.Bool(&asJSON, "json", false, "print JSON (an array of messages) instead of text")
	topic, err := parseWithTopic(s, args, "show")
	if err != nil {
		return err
	}
	if limit < 0 {
		return usageError{"--limit must not be negative"}
	}
	d.topic = topic
	recs, _, err := d.read(ctx)
	if err != nil {
		return err
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	if asJSON {
		if recs == nil {
			recs = []dlqRecord{}
		}
		return json.NewEncoder(out).Encode(recs)
	}
	if len(recs) == 0 {
		fmt.Fprintf(out, "%s holds no messages\n", topic)
		return nil
	}
	for i, r := range recs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s %d:%d  %s\n", r.Topic, r.Partition, r.Offset, r.Time.Format(time.RFC3339))
		fmt.Fprintf(out, "  reason:   %s\n", r.Reason)
		fmt.Fprintf(out, "  from:     %s partition %s offset %s\n", r.OriginalTopic, r.OriginalPartition, r.OriginalOffset)
		fmt.Fprintf(out, "  service:  %s  attempts: %s  dead-lettered: %s\n", r.Service, r.Attempts, r.DeadLetteredAt)
		fmt.Fprintf(out, "  key:      %s\n", r.Key)
		keys := make([]string, 0, len(r.Headers))
		for k := range r.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "  header:   %s=%s\n", k, r.Headers[k])
		}
		if r.Value != nil {
			fmt.Fprintf(out, "  value:    %s\n", *r.Value)
		} else {
			fmt.Fprintf(out, "  value:    (%d bytes, not UTF-8; see --json)\n", len(r.ValueBase64))
		}
	}
	return nil
}

func cmdDLQReplay(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		d   dlqSelection
		all bool
	)
	s := newSet(ctx, "takedownctl dlq replay")
	d.bind(s)
	s.Bool(&all, "all", false, "replay every message of the topic")
	topic, err := parseWithTopic(s, args, "replay")
	if err != nil {
		return err
	}
	if all == (len(d.offsets) > 0) {
		return usageError{"dlq replay needs either --offset or --all"}
	}
	d.topic = topic
	recs, _, err := d.read(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(out, "%s holds no messages: nothing replayed\n", topic)
		return nil
	}
	// Check every message before publishing any, so a bad pick replays
	// nothing rather than half.
	msgs := make([]messaging.Message, len(recs))
	targets := map[string]bool{}
	for i, r := range recs {
		if r.OriginalTopic == "" {
			return fmt.Errorf("%s %d:%d has no %s header: it was not dead-lettered by a takedown service, nothing replayed",
				topic, r.Partition, r.Offset, messaging.HeaderDLQTopic)
		}
		msgs[i] = replayMessage(r)
		targets[r.OriginalTopic] = true
	}
	for t := range targets {
		if _, err := messaging.TopicPartitions(ctx, d.k, t); err != nil {
			return fmt.Errorf("original topic of the messages: %w; nothing replayed", err)
		}
	}
	pub := messaging.NewKafkaPublisher(d.k)
	defer pub.Close()
	for i, r := range recs {
		// One at a time, so that what is printed is exactly what the
		// broker acknowledged.
		if err := pub.Publish(ctx, msgs[i]); err != nil {
			return fmt.Errorf("replayed %d of %d; %s %d:%d: %w", i, len(recs), topic, r.Partition, r.Offset, err)
		}
		fmt.Fprintf(out, "replayed %s %d:%d to %s (key %s, was partition %s offset %s): %s\n",
			topic, r.Partition, r.Offset, r.OriginalTopic, r.Key, r.OriginalPartition, r.OriginalOffset, r.Reason)
	}
	fmt.Fprintf(errOut, "takedownctl dlq replay: %d message(s) replayed; they stay in %s (replaying again only repeats work the services do idempotently)\n",
		len(recs), topic)
	return nil
}

// replayMessage is the message as it was before it was dead-lettered: same
// topic, key, value and headers (tracing and correlation included), without
// the dead-letter headers, and with one naming the record it was replayed
// from.
func replayMessage(r dlqRecord) messaging.Message {
	m := messaging.Message{Topic: r.OriginalTopic, Key: r.msg.Key, Value: r.msg.Value}
	for _, h := range r.msg.Headers {
		if strings.HasPrefix(h.Key, "dlq-") {
			continue
		}
		m.Headers = append(m.Headers, h)
	}
	m.SetHeader(HeaderDLQReplayedFrom, fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))
	return m
}
