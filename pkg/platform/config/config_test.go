package config

import (
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		want  string
		wantD time.Duration
		wantL []string
	}{
		{"defaults", nil, nil, "127.0.0.1:6379", time.Second, []string{"a:1"}},
		{"environment over default", map[string]string{"TAKEDOWN_REDIS_ADDR": "r:1", "TAKEDOWN_WAIT": "2s", "TAKEDOWN_KAFKA_BROKERS": "b:1, c:2"},
			nil, "r:1", 2 * time.Second, []string{"b:1", "c:2"}},
		{"flag over environment", map[string]string{"TAKEDOWN_REDIS_ADDR": "r:1"},
			[]string{"-redis-addr", "f:1", "-wait", "3s", "-kafka-brokers", "x:1"}, "f:1", 3 * time.Second, []string{"x:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var (
				addr    string
				wait    time.Duration
				brokers []string
			)
			s := New("t").WithEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			s.String(&addr, "redis-addr", "127.0.0.1:6379", "")
			s.Duration(&wait, "wait", time.Second, "")
			s.List(&brokers, "kafka-brokers", "a:1", "")
			if err := s.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if addr != c.want || wait != c.wantD || strings.Join(brokers, ",") != strings.Join(c.wantL, ",") {
				t.Fatalf("got %q %s %v, want %q %s %v", addr, wait, brokers, c.want, c.wantD, c.wantL)
			}
		})
	}
}

// A malformed environment value is an error that names the variable, never
// silently the default.
func TestMalformedEnvironmentIsReported(t *testing.T) {
	env := map[string]string{"TAKEDOWN_WAIT": "soon", "TAKEDOWN_PARTITIONS": "three", "TAKEDOWN_CACHE": "maybe"}
	var (
		wait  time.Duration
		parts int
		cache bool
	)
	s := New("t").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	s.Duration(&wait, "wait", time.Second, "")
	s.Int(&parts, "partitions", 3, "")
	s.Bool(&cache, "cache", true, "")
	err := s.Parse(nil)
	if err == nil {
		t.Fatal("no error")
	}
	for k := range env {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("topic-bank-updates"); got != "TAKEDOWN_TOPIC_BANK_UPDATES" {
		t.Fatal(got)
	}
}

// The liveness and memory settings are read from the environment, and
// Validate refuses values outside their range, naming the setting.
func TestCommonValidate(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string // "" valid, else part of the error
	}{
		{nil, ""},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "0.5", "TAKEDOWN_MEMORY_LIMIT": "1073741824"}, ""},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "1"}, ""},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "0"}, "TAKEDOWN_GO_MEMORY_RATIO=0"},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "1.1"}, "TAKEDOWN_GO_MEMORY_RATIO=1.1"},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "-0.5"}, "TAKEDOWN_GO_MEMORY_RATIO"},
		{map[string]string{"TAKEDOWN_GO_MEMORY_RATIO": "NaN"}, "TAKEDOWN_GO_MEMORY_RATIO"},
		{map[string]string{"TAKEDOWN_MEMORY_LIMIT": "-1"}, "TAKEDOWN_MEMORY_LIMIT=-1"},
		{map[string]string{"TAKEDOWN_LIVENESS_TIMEOUT": "0"}, ""},
		{map[string]string{"TAKEDOWN_LIVENESS_TIMEOUT": "30s"}, ""},
		{map[string]string{"TAKEDOWN_LIVENESS_TIMEOUT": "2s"}, "TAKEDOWN_LIVENESS_TIMEOUT=2s"},
		{map[string]string{"TAKEDOWN_LIVENESS_TIMEOUT": "-1m"}, "TAKEDOWN_LIVENESS_TIMEOUT"},
		{map[string]string{"TAKEDOWN_TOPIC_RETENTION_DLQ": "-1h"}, "TAKEDOWN_TOPIC_RETENTION_DLQ"},
	}
	for _, tc := range cases {
		var c Common
		s := New("test").WithEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		c.Bind(s, "svc", "127.0.0.1:0")
		if err := s.Parse(nil); err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v; want an error naming %q", tc.env, err, tc.want)
		}
	}
}

// TAKEDOWN_CREATE_TOPICS defaults to true and reads false.
func TestCreateTopicsSetting(t *testing.T) {
	for env, want := range map[string]bool{"": true, "false": false, "true": true} {
		var c Common
		s := New("test").WithEnv(func(k string) (string, bool) {
			if k == "TAKEDOWN_CREATE_TOPICS" && env != "" {
				return env, true
			}
			return "", false
		})
		c.Bind(s, "svc", "127.0.0.1:0")
		if err := s.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if c.CreateTopics != want {
			t.Errorf("TAKEDOWN_CREATE_TOPICS=%q: %v, want %v", env, c.CreateTopics, want)
		}
	}
}

// -h lists every flag, those bound on the flag set alone too (takedownctl
// match --against): docs/cli.md's synopsis is checked against it.
func TestPrintUsageListsEveryFlag(t *testing.T) {
	var addr string
	s := New("t").WithEnv(func(string) (string, bool) { return "", false })
	s.String(&addr, "redis-addr", "127.0.0.1:6379", "where Redis is")
	s.FlagSet().Func("against", "reference files", func(string) error { return nil })
	var b strings.Builder
	s.PrintUsage(&b)
	for _, want := range []string{
		"  -against (flag only; default \"\")\n      reference files\n",
		"  -redis-addr / TAKEDOWN_REDIS_ADDR (default \"127.0.0.1:6379\")\n      where Redis is\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Index(b.String(), "-against") > strings.Index(b.String(), "-redis-addr") {
		t.Errorf("usage not sorted by flag:\n%s", b.String())
	}
}
