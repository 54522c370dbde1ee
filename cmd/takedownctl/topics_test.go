package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// runCtl runs the built takedownctl with env added to its environment.
func runCtl(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(ctlBinary(t), args...)
	cmd.Env = append(cmd.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// `takedownctl topics create`, run as the Helm chart's Job runs it (the
// binary, settings from TAKEDOWN_* variables), creates every topic of the
// pipeline with the services' specs, and run again keeps them all.
func TestTopicsCreate(t *testing.T) {
	k := testenv.Kafka(t)
	names := map[string]string{}
	var env []string
	for _, setting := range []string{"topic-uploaded", "topic-ingested", "topic-hashed", "topic-matched",
		"topic-review-requested", "topic-review-decided", "topic-actions", "topic-bank-updates", "topic-stream-segments"} {
		names[setting] = testenv.Name("ctl-" + strings.TrimPrefix(setting, "topic-"))
		env = append(env, config.EnvName(setting)+"="+names[setting])
	}
	var dlqs []string
	for _, svc := range []string{"ingest", "hasher", "matcher", "review", "enforcer"} {
		dlqs = append(dlqs, testenv.Name("ctl-"+svc)+".dlq")
	}
	env = append(env, "TAKEDOWN_KAFKA_BROKERS="+strings.Join(k.Brokers, ","), "TAKEDOWN_TOPIC_PARTITIONS=2",
		"TAKEDOWN_TOPIC_RETENTION_AUDIT=8760h", "TAKEDOWN_DLQ_TOPICS="+strings.Join(dlqs, ","))

	out, errOut, code := runCtl(t, env, "topics", "create")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	all := append(dlqs, names["topic-uploaded"])
	for _, n := range names {
		all = append(all, n)
	}
	for _, n := range all {
		if !strings.Contains(out, "created  "+n+" ") {
			t.Errorf("no line says %s was created:\n%s", n, out)
		}
	}
	if !strings.Contains(out, "14 topics: 14 created, 0 existed") {
		t.Errorf("summary:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	have, err := messaging.PartitionCounts(ctx, k, all...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if have[n] != 2 {
			t.Errorf("%s has %d partitions, want 2", n, have[n])
		}
	}
	// What the broker applies: the services' specs for each kind.
	cases := []struct {
		setting, topic, key, want string
	}{
		{"bank", names["topic-bank-updates"], "cleanup.policy", "compact"},
		{"media", names["topic-uploaded"], "retention.ms", strconv.FormatInt(config.DefaultMediaRetention.Milliseconds(), 10)},
		{"stream segments", names["topic-stream-segments"], "retention.ms", strconv.FormatInt(config.DefaultMediaRetention.Milliseconds(), 10)},
		{"review, kept forever", names["topic-review-decided"], "retention.ms", "-1"},
		{"audit, as set", names["topic-actions"], "retention.ms", strconv.FormatInt((8760 * time.Hour).Milliseconds(), 10)},
		{"dead letters", dlqs[2], "retention.ms", strconv.FormatInt(config.DefaultDeadLetterRetention.Milliseconds(), 10)},
		{"media, not compacted", names["topic-hashed"], "cleanup.policy", "delete"},
	}
	for _, tc := range cases {
		cfg, err := messaging.TopicConfig(ctx, k, tc.topic)
		if err != nil {
			t.Fatal(err)
		}
		if cfg[tc.key] != tc.want {
			t.Errorf("%s (%s): %s=%q, want %q", tc.setting, tc.topic, tc.key, cfg[tc.key], tc.want)
		}
	}

	// Again, with more partitions asked for: nothing is created, nothing
	// changed, and the output says so.
	env = append(env, "TAKEDOWN_TOPIC_PARTITIONS=4")
	out, errOut, code = runCtl(t, env, "topics", "create")
	if code != 0 {
		t.Fatalf("second run: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "14 topics: 0 created, 14 existed") || strings.Contains(out, "created  ") {
		t.Errorf("second run:\n%s", out)
	}
	if !strings.Contains(out, "exists  "+names["topic-matched"]+" ") || !strings.Contains(out, "2 partitions, fewer than TAKEDOWN_TOPIC_PARTITIONS=4") {
		t.Errorf("second run does not say what it kept:\n%s", out)
	}
}

// Failures exit non-zero with a message naming what to fix.
func TestTopicsCreateFails(t *testing.T) {
	sasl := testenv.KafkaSASL(t)
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"broker unreachable", []string{"TAKEDOWN_KAFKA_BROKERS=127.0.0.1:1"}, nil, 1, "cannot connect to broker 127.0.0.1:1 (check TAKEDOWN_KAFKA_BROKERS)"},
		{"wrong password", []string{"TAKEDOWN_KAFKA_BROKERS=" + strings.Join(sasl.Brokers, ","), "TAKEDOWN_KAFKA_TLS_CA=" + sasl.TLSCA,
			"TAKEDOWN_KAFKA_SASL_MECHANISM=" + sasl.SASLMechanism, "TAKEDOWN_KAFKA_SASL_USERNAME=" + sasl.SASLUsername,
			"TAKEDOWN_KAFKA_SASL_PASSWORD=wrong"}, nil, 1, "TAKEDOWN_KAFKA_SASL_PASSWORD"},
		{"no partitions", []string{"TAKEDOWN_TOPIC_PARTITIONS=0"}, nil, 1, "TAKEDOWN_TOPIC_PARTITIONS=0: want at least 1"},
		{"a stray argument", nil, []string{"media.uploaded"}, 2, "topics create takes no arguments"},
		{"no subcommand", nil, []string{}, 2, "topics needs a subcommand"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"topics", "create"}
			if tc.args != nil {
				args = append([]string{"topics"}, tc.args...)
				if len(tc.args) > 0 {
					args = append([]string{"topics", "create"}, tc.args...)
				}
			}
			out, errOut, code := runCtl(t, tc.env, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q (stdout %q)", code, errOut, tc.code, tc.want, out)
			}
		})
	}
}
