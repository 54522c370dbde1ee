package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Binaries built by Binary, once per test process each, in one folder that
// Main removes.
var binaries struct {
	sync.Mutex
	dir   string // "" until Main runs
	built map[string]*builtBinary
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// Main runs a package's tests with Binary available, then removes the
// binaries built. A package whose tests build binaries calls it from
// TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "takedown-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv.Main:", err)
		os.Exit(1)
	}
	binaries.Lock()
	binaries.dir, binaries.built = dir, map[string]*builtBinary{}
	binaries.Unlock()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Binary builds the main package pkg (an import path, or "." for the test's
// own) with the build tags given, once per test process, and returns the
// binary's path. Every binary lands in the same folder, named after its
// package's folder (and tags), so a program that runs its siblings from its
// own folder finds them.
func Binary(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	binaries.Lock()
	if binaries.dir == "" {
		binaries.Unlock()
		t.Fatal("testenv.Binary needs the package's TestMain to call testenv.Main")
	}
	key := pkg + " " + strings.Join(tags, ",")
	b := binaries.built[key]
	if b == nil {
		b = &builtBinary{}
		binaries.built[key] = b
	}
	dir := binaries.dir
	binaries.Unlock()
	b.once.Do(func() {
		name := filepath.Base(pkg)
		if pkg == "." {
			wd, err := os.Getwd()
			if err != nil {
				b.err = err
				return
			}
			name = filepath.Base(wd)
		}
		if len(tags) > 0 {
			name += "-" + strings.Join(tags, "-")
		}
		b.path = filepath.Join(dir, name)
		args := []string{"build", "-o", b.path}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Environ is this process's environment without the variables whose names
// start with one of prefixes: a binary under test gets only the settings
// its test gives it, never the developer's own TAKEDOWN_* ones.
func Environ(prefixes ...string) []string {
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
