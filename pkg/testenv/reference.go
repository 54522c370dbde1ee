package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SharedTestdata returns the folder sub of the reference test data, which
// lives beside the repository, never in it (../shared/testdata from the
// directory holding go.work). Without it the test is skipped, or fails when
// TAKEDOWN_TEST_REQUIRE_SERVICES is set.
func SharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory: cannot find the repository root")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "testdata", sub)
	if _, err := os.Stat(data); err != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("reference test data missing: %v", err)
		}
		t.Skipf("reference test data not available: %v", err)
	}
	return data
}

// PDQReference is a row of the PDQ reference hashes (pdq/expected.csv of the
// shared test data): a file, the hash a reference implementation publishes
// for it, which one ("cpp" or "python") and the distance allowed.
type PDQReference struct {
	Path        string // absolute
	Hex         string
	Source      string
	MaxDistance int
}

// PDQReferences reads the PDQ reference hashes of source ("cpp", "python",
// or "" for all).
func PDQReferences(t testing.TB, source string) []PDQReference {
	t.Helper()
	dir := SharedTestdata(t, "pdq")
	f, err := os.Open(filepath.Join(dir, "expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []PDQReference
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 4 {
			t.Fatalf("expected.csv: %q", line)
		}
		maxDist, err := strconv.Atoi(fields[3])
		if err != nil {
			t.Fatalf("expected.csv: %q: %v", line, err)
		}
		if source == "" || fields[2] == source {
			rows = append(rows, PDQReference{Path: filepath.Join(dir, fields[0]), Hex: fields[1], Source: fields[2], MaxDistance: maxDist})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("expected.csv has no %q rows", source)
	}
	return rows
}
