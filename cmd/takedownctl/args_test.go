package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Flags may follow the positional arguments, as kubectl and helm users
// expect: `bank disable --bank B ID --kafka-brokers prod:9092` talks to
// prod:9092 and disables ID only; after `--` everything is an entry id.
func TestFlagsAfterArguments(t *testing.T) {
	e := newBankEnv(t)
	brokers, topic := e.flags[1], e.flags[3]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	args := []string{"disable", "--bank", "b", "entry-1", "--kafka-brokers", brokers, "entry-2", "--topic-bank-updates", topic, "--", "--entry-3"}
	if err := cmdBank(ctx, args, &out, &out); err != nil {
		t.Fatalf("bank %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	// Three: --entry-3, after --, is an entry id, not an unknown flag.
	if info := listBank(t, e, "b"); info.Disabled != 3 || info.Entries != 0 {
		t.Errorf("after disabling three entries with flags among them: %+v\n%s", info, out.String())
	}
}
