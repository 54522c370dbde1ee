package docs

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// kafkaGo is the Kafka client library. Only pkg/platform/messaging may use it, so
// that every connection gets the TLS and SASL settings of config.Kafka and
// topics are read and written one way (issue 11).
const kafkaGo = "github.com/segmentio/kafka-go"

// Every .go file of every module, tests included, outside pkg/platform/messaging must
// reach Kafka through pkg/platform/messaging.
func TestOnlyMessagingImportsKafkaGo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(root, "pkg", "platform", "messaging")
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// testdata and hidden directories hold no package of ours.
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || filepath.Dir(path) == allowed {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == kafkaGo || strings.HasPrefix(p, kafkaGo+"/") {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s imports %s: use pkg/platform/messaging (and pkg/testenv in tests) instead", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d .go files under %s: wrong root?", files, root)
	}
}
