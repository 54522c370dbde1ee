package video

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The reference data lives beside the project, never in it: ../shared/testdata
// from the repository root.
const testdataRel = "../../../../shared/testdata/vpdq"

// requireServices is CI's switch: what a test needs must be there.
func requireServices() bool { return os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" }

// testdata returns the reference vPDQ test data folder. Without it the test
// is skipped, unless TAKEDOWN_TEST_REQUIRE_SERVICES=1 (CI) makes that a
// failure.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(testdataRel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hashes")); err != nil {
		if requireServices() {
			t.Fatalf("reference vPDQ test data missing (%v); it must be at %s (../shared/testdata from the repository root)", err, dir)
		}
		t.Skipf("reference vPDQ test data not found at %s (../shared/testdata from the repository root); skipping", dir)
	}
	return dir
}

// needFFmpeg skips a test when ffmpeg or ffprobe is not installed, unless
// TAKEDOWN_TEST_REQUIRE_SERVICES=1 (CI, which installs them) makes that a
// failure.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if requireServices() {
				t.Fatalf("%s not installed (Debian package ffmpeg): %v", bin, err)
			}
			t.Skipf("%s not installed (Debian package ffmpeg); skipping", bin)
		}
	}
}

// generate makes a test video with ffmpeg (lavfi sources, no input file):
// args are everything between "ffmpeg -v error" and the output path.
func generate(t testing.TB, path string, args ...string) string {
	t.Helper()
	needFFmpeg(t)
	full := append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	full = append(full, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("generating %s: ffmpeg %v: %v\n%s", filepath.Base(path), full, err, out)
	}
	return path
}
