package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// ctlBinary builds takedownctl once per test run.
func ctlBinary(t *testing.T) string { return testenv.Binary(t, ".") }

// dlqEnv is an original topic and its dead-letter topic, both new.
type dlqEnv struct {
	t          *testing.T
	k          config.Kafka
	orig, dlq  string
	bin        string
	brokerFlag []string
}

func newDLQEnv(t *testing.T) *dlqEnv {
	k := testenv.Kafka(t)
	e := &dlqEnv{t: t, k: k, orig: testenv.Name("dlq-orig"), dlq: testenv.Name("ctl-svc") + ".dlq", bin: ctlBinary(t),
		brokerFlag: []string{"--kafka-brokers", strings.Join(k.Brokers, ",")}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, k, messaging.TopicSpec{Name: e.orig, Partitions: 3},
		messaging.TopicSpec{Name: e.dlq, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitTopics(t, k, e.orig, e.dlq)
	return e
}

// run runs the built binary: `takedownctl dlq ARGS... --kafka-brokers B`.
func (e *dlqEnv) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(append([]string{"dlq"}, args...), e.brokerFlag...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func (e *dlqEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("takedownctl dlq %v exited %d: %s", args, code, errOut)
	}
	return out
}

// deadLetter parks messages in the dead-letter topic the way a service
// does: through the DeadLetter middleware, with a handler refusing them.
func (e *dlqEnv) deadLetter(msgs ...messaging.Message) {
	e.t.Helper()
	pub := messaging.NewKafkaPublisher(e.k)
	defer pub.Close()
	h := messaging.Chain(func(_ context.Context, m *messaging.Message) error {
		return messaging.Permanentf("malformed event %s", m.Key)
	}, messaging.DeadLetter(pub, e.dlq, "svc-group", false))
	for i := range msgs {
		if err := h(context.Background(), &msgs[i]); err != nil {
			e.t.Fatal(err)
		}
	}
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func (e *dlqEnv) original(key string, offset int64) messaging.Message {
	return messaging.Message{Topic: e.orig, Partition: 1, Offset: offset, Key: []byte(key), Value: []byte(`{"id":"` + key + `"}`),
		Headers: []messaging.Header{{Key: "traceparent", Value: []byte(traceparent)}, {Key: messaging.HeaderCorrelationID, Value: []byte("corr-" + key)}}}
}

// TestDLQListShowReplay goes through the three commands with the built
// binary on the real broker: list counts the parked messages, show prints
// why and where from, replay puts exactly the chosen ones back on their
// topic as they were, refuses offsets that hold nothing, and may be repeated.
func TestDLQListShowReplay(t *testing.T) {
	e := newDLQEnv(t)
	e.deadLetter(e.original("a", 7), e.original("b", 8), e.original("c", 9))
	testenv.ReadTopic(t, e.k, e.dlq, 3)

	var topics []dlqTopic
	if err := json.Unmarshal([]byte(e.mustRun("list", "--json")), &topics); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tp := range topics {
		if !strings.HasSuffix(tp.Topic, ".dlq") {
			t.Errorf("list shows %s, not a dead-letter topic", tp.Topic)
		}
		if tp.Topic == e.dlq {
			found = true
			if tp.Messages != 3 || len(tp.Partitions) != 2 || tp.Partitions[0].Messages+tp.Partitions[1].Messages != 3 {
				t.Errorf("list: %+v, want 3 messages over 2 partitions", tp)
			}
		}
		if tp.Topic == e.orig {
			t.Errorf("list shows the original topic %s", e.orig)
		}
	}
	if !found {
		t.Fatalf("list --json does not show %s: %+v", e.dlq, topics)
	}
	if table := e.mustRun("list"); !strings.Contains(table, e.dlq) {
		t.Errorf("list:\n%s", table)
	}

	var recs []dlqRecord
	if err := json.Unmarshal([]byte(e.mustRun("show", e.dlq, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("show: %d messages, want 3", len(recs))
	}
	var b dlqRecord
	for _, r := range recs {
		if r.Key == "b" {
			b = r
		}
		if r.OriginalTopic != e.orig || r.OriginalPartition != "1" || r.Service != "svc-group" ||
			!strings.Contains(r.Reason, "malformed event "+r.Key) || r.Headers["traceparent"] != traceparent ||
			r.Value == nil || *r.Value != `{"id":"`+r.Key+`"}` {
			t.Errorf("show: %+v", r)
		}
	}
	if b.OriginalOffset != "8" {
		t.Fatalf("show: message b came from offset %q, want 8", b.OriginalOffset)
	}
	at := fmt.Sprintf("%d:%d", b.Partition, b.Offset)
	text := e.mustRun("show", e.dlq, "--offset", at)
	for _, want := range []string{"reason:   malformed event b", "from:     " + e.orig + " partition 1 offset 8",
		"service:  svc-group", "header:   traceparent=" + traceparent, `value:    {"id":"b"}`} {
		if !strings.Contains(text, want) {
			t.Errorf("show --offset %s lacks %q:\n%s", at, want, text)
		}
	}
	if strings.Contains(text, "malformed event a") || strings.Contains(text, "malformed event c") {
		t.Errorf("show --offset %s shows other messages:\n%s", at, text)
	}
	if limited := e.mustRun("show", e.dlq, "--limit", "2", "--json"); strings.Count(limited, `"reason"`) != 2 {
		t.Errorf("show --limit 2: %s", limited)
	}

	// Refused, and nothing replayed: an offset past the end, a bare offset
	// on a topic of two partitions, no selection at all.
	for _, args := range [][]string{{"--offset", at + ",0:999"}, {"--offset", "0"}, {}} {
		out, errOut, code := e.run(append([]string{"replay", e.dlq}, args...)...)
		if code == 0 || strings.Contains(out, "replayed") {
			t.Errorf("replay %v: exit %d, out %q", args, code, out)
		}
		if len(args) > 0 && args[1] != "0" && !strings.Contains(errOut, "has no message at 0:999") {
			t.Errorf("replay %v: %s", args, errOut)
		}
		if len(args) > 0 && args[1] == "0" && !strings.Contains(errOut, "has 2 partitions") {
			t.Errorf("replay %v: %s", args, errOut)
		}
	}
	if n := testenv.EndOffset(t, e.k.Brokers, e.orig); n != 0 {
		t.Fatalf("a refused replay wrote %d messages to %s", n, e.orig)
	}

	out := e.mustRun("replay", e.dlq, "--offset", at)
	if !strings.Contains(out, "replayed "+e.dlq+" "+at+" to "+e.orig) || strings.Count(out, "replayed ") != 1 {
		t.Errorf("replay said:\n%s", out)
	}
	got := testenv.ReadTopic(t, e.k, e.orig, 1)[0]
	if string(got.Key) != "b" || string(got.Value) != `{"id":"b"}` || got.Header("traceparent") != traceparent ||
		got.Header(messaging.HeaderCorrelationID) != "corr-b" || got.Header(messaging.HeaderDLQError) != "" ||
		got.Header(messaging.HeaderDLQTopic) != "" || got.Header(HeaderDLQReplayedFrom) != e.dlq+"/"+strings.Replace(at, ":", "/", 1) {
		t.Errorf("replayed message: key %s value %s headers %v", got.Key, got.Value, got.Headers)
	}

	// Again, and then everything: each replay republishes what it says.
	e.mustRun("replay", e.dlq, "--offset", at)
	if out := e.mustRun("replay", e.dlq, "--all"); strings.Count(out, "replayed ") != 3 {
		t.Errorf("replay --all said:\n%s", out)
	}
	msgs := testenv.ReadTopic(t, e.k, e.orig, 5)
	keys := map[string]int{}
	for _, m := range msgs {
		keys[string(m.Key)]++
	}
	if keys["a"] != 1 || keys["b"] != 3 || keys["c"] != 1 {
		t.Errorf("original topic after the replays holds %v", keys)
	}
	time.Sleep(300 * time.Millisecond)
	if n := testenv.EndOffset(t, e.k.Brokers, e.orig); n != 5 {
		t.Errorf("original topic holds %d messages, want 5", n)
	}
}

// A message in a dead-letter topic without the dead-letter headers is not
// replayed anywhere.
func TestDLQReplayRefusesMessagesWithoutOrigin(t *testing.T) {
	e := newDLQEnv(t)
	testenv.Publish(t, e.k, messaging.Message{Topic: e.dlq, Key: []byte("x"), Value: []byte("hand-written")})
	_, errOut, code := e.run("replay", e.dlq, "--all")
	if code == 0 || !strings.Contains(errOut, "has no dlq-original-topic header") {
		t.Errorf("replay of a message without origin: exit %d: %s", code, errOut)
	}
}
