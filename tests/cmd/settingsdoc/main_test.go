package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// docsPath is docs/settings.md from this package's directory.
const docsPath = "../../../docs/settings.md"

// TestSettingsDocIsCurrent fails when a setting was added, removed or
// changed (name, default, help) without regenerating docs/settings.md.
func TestSettingsDocIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds takedownctl")
	}
	want, err := Generate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := line(gl, i), line(wl, i)
			if g != w {
				t.Fatalf("docs/settings.md is stale: run `make docs`. First difference, line %d:\n  file: %s\n  code: %s", i+1, g, w)
			}
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}

func TestRender(t *testing.T) {
	kafka := config.Setting{Flag: "kafka-brokers", Env: "TAKEDOWN_KAFKA_BROKERS", Default: "127.0.0.1:9092", Usage: "Kafka bootstrap brokers"}
	addr := func(def string) config.Setting {
		return config.Setting{Flag: "http-addr", Env: "TAKEDOWN_HTTP_ADDR", Default: def, Usage: "listen address"}
	}
	services := []Program{
		{Name: "ingest", Settings: []config.Setting{addr("127.0.0.1:8080"), kafka,
			{Flag: "max-body-bytes", Env: "TAKEDOWN_MAX_BODY_BYTES", Default: "65536", Usage: "largest body | in bytes"}}},
		{Name: "hasher", Settings: []config.Setting{addr("127.0.0.1:8081"), kafka}},
	}
	commands := []Program{{Name: "takedownctl match", Settings: []config.Setting{
		{Flag: "against", Usage: "reference files"}, kafka}}}
	var b bytes.Buffer
	Render(&b, services, commands)
	doc := b.String()
	for _, want := range []string{
		// Shared by both services, with each one's default.
		"| `--http-addr` | `TAKEDOWN_HTTP_ADDR` | ingest `127.0.0.1:8080`, hasher `127.0.0.1:8081` | listen address |\n",
		"| `--kafka-brokers` | `TAKEDOWN_KAFKA_BROKERS` | `127.0.0.1:9092` | Kafka bootstrap brokers |\n",
		// ingest's own, with the table's separator escaped.
		"### ingest\n\n| flag | environment variable | default | help |\n|---|---|---|---|\n| `--max-body-bytes` | `TAKEDOWN_MAX_BODY_BYTES` | `65536` | largest body \\| in bytes |\n",
		// A flag-only setting, and one the services share named, not repeated.
		"| `--against` | — | — | reference files |\n",
		"And these, as the services have them ([All services](#all-services)): `--kafka-brokers`.\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("rendered reference lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, "`--kafka-brokers` |") != 1 {
		t.Errorf("kafka-brokers has a row outside All services:\n%s", doc)
	}
}
