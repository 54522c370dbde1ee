// Package docs checks that the README documents what the code offers.
package docs

import (
	"os"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/services/enforcer/enforcer"
	"github.com/takedown-pipeline/takedown/services/hasher/hasher"
	"github.com/takedown-pipeline/takedown/services/ingest/ingest"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
	"github.com/takedown-pipeline/takedown/services/review/review"
)

// Every setting of every service must be in the README's tables, with the
// default the code uses, so operators never have to read code to configure.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	binders := map[string]interface{ Bind(*config.Set) }{
		"ingest": &ingest.Config{}, "hasher": &hasher.Config{}, "matcher": &matcher.Config{},
		"review": &review.Config{}, "enforcer": &enforcer.Config{},
	}
	for name, b := range binders {
		s := config.New(name).WithEnv(func(string) (string, bool) { return "", false })
		b.Bind(s)
		for _, st := range s.Settings() {
			row := "| `" + st.Env + "` | `-" + st.Flag + "` |"
			i := strings.Index(doc, row)
			if i < 0 {
				t.Errorf("%s: README lacks a row for %s (-%s)", name, st.Env, st.Flag)
				continue
			}
			line := doc[i : i+strings.Index(doc[i:], "\n")]
			if st.Default != "" && !strings.Contains(line, st.Default) && !strings.Contains(line, "<service>") && st.Flag != "http-addr" {
				t.Errorf("%s: README row for %s does not show the default %q: %s", name, st.Env, st.Default, line)
			}
		}
	}
}
