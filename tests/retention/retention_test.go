// Package retention runs a service binary as an operator would and checks
// the retention it sets on the topics it creates: the audit trail and the
// review topics forever, the upload-flow topics for days, by setting.
package retention

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// enforcer builds the enforcer binary, which creates topics of every kind:
// media.matched (media), review.requested and review.decided (review),
// enforcement.actions (audit) and its dead-letter topic.
func enforcer(t *testing.T) string {
	t.Helper()
	return testenv.Binary(t, "github.com/takedown-pipeline/takedown/services/enforcer")
}

func TestMain(m *testing.M) { testenv.Main(m) }

// env is the enforcer's environment: the test broker and Redis, topics of
// the test's own, and no TAKEDOWN_* setting from the caller.
func env(t *testing.T, topics map[string]string, extra ...string) []string {
	t.Helper()
	rdb := testenv.Redis(t)
	out := append(testenv.Environ("TAKEDOWN_"),
		"TAKEDOWN_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(t), ","),
		"TAKEDOWN_REDIS_ADDR="+rdb.Addr,
		"TAKEDOWN_REDIS_PREFIX="+testenv.Name("retention"),
		"TAKEDOWN_HTTP_ADDR=127.0.0.1:"+fmt.Sprint(testenv.FreePort(t)),
		"TAKEDOWN_GROUP="+testenv.Name("enforcer"),
		"TAKEDOWN_TOPIC_PARTITIONS=1",
		"TAKEDOWN_WEBHOOK_URL=http://127.0.0.1:1/hook", "TAKEDOWN_WEBHOOK_SECRET=s",
	)
	for setting, topic := range topics {
		out = append(out, setting+"="+topic)
	}
	return append(out, extra...)
}

func TestTopicsAreCreatedWithTheirRetention(t *testing.T) {
	bin := enforcer(t)
	day := 24 * time.Hour
	cases := []struct {
		name  string
		extra []string
		// want is retention.ms by topic setting.
		want map[string]string
	}{
		{"defaults", nil, map[string]string{
			"TAKEDOWN_TOPIC_MATCHED":          fmt.Sprint((3 * day).Milliseconds()),
			"TAKEDOWN_TOPIC_REVIEW_REQUESTED": "-1",
			"TAKEDOWN_TOPIC_REVIEW_DECIDED":   "-1",
			"TAKEDOWN_TOPIC_ACTIONS":          "-1",
			"TAKEDOWN_DLQ_TOPIC":              fmt.Sprint((30 * day).Milliseconds()),
		}},
		{"configured", []string{"TAKEDOWN_TOPIC_RETENTION_MEDIA=36h", "TAKEDOWN_TOPIC_RETENTION_REVIEW=8760h",
			"TAKEDOWN_TOPIC_RETENTION_AUDIT=87600h", "TAKEDOWN_TOPIC_RETENTION_DLQ=0"}, map[string]string{
			"TAKEDOWN_TOPIC_MATCHED":          fmt.Sprint((36 * time.Hour).Milliseconds()),
			"TAKEDOWN_TOPIC_REVIEW_REQUESTED": fmt.Sprint((365 * day).Milliseconds()),
			"TAKEDOWN_TOPIC_REVIEW_DECIDED":   fmt.Sprint((365 * day).Milliseconds()),
			"TAKEDOWN_TOPIC_ACTIONS":          fmt.Sprint((3650 * day).Milliseconds()),
			"TAKEDOWN_DLQ_TOPIC":              "-1",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topics := map[string]string{}
			for setting := range c.want {
				topics[setting] = testenv.Name(strings.ToLower(strings.TrimPrefix(setting, "TAKEDOWN_")))
			}
			e := env(t, topics, c.extra...)
			p := testenv.Start(t, bin, e)
			waitReady(t, p, e)
			k := testenv.Kafka(t)
			for setting, want := range c.want {
				cfg, err := messaging.TopicConfig(context.Background(), k, topics[setting])
				if err != nil {
					t.Fatalf("%s: %v", topics[setting], err)
				}
				if got := cfg["retention.ms"]; got != want {
					t.Errorf("%s (%s): retention.ms %s, want %s", topics[setting], setting, got, want)
				}
			}
		})
	}
}

func TestNegativeOrTinyRetentionIsRefused(t *testing.T) {
	bin := enforcer(t)
	for _, v := range []string{"TAKEDOWN_TOPIC_RETENTION_AUDIT=-1h", "TAKEDOWN_TOPIC_RETENTION_MEDIA=5m"} {
		t.Run(v, func(t *testing.T) {
			p := testenv.Start(t, bin, env(t, nil, v))
			if code := p.Exit(t, 15*time.Second); code != 2 {
				t.Errorf("exit code %d, want 2:\n%s", code, p.Output())
			}
			if name, _, _ := strings.Cut(v, "="); !strings.Contains(p.Output(), name) {
				t.Errorf("the error does not name %s:\n%s", name, p.Output())
			}
		})
	}
}

func waitReady(t *testing.T, p *testenv.Process, env []string) {
	t.Helper()
	var addr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TAKEDOWN_HTTP_ADDR="); ok {
			addr = v
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done():
			t.Fatalf("exited (%v):\n%s", p.Err(), p.Output())
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("not ready after 60 s:\n%s", p.Output())
}
