package service

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

func TestMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		name       string
		limit      int64
		ratio      float64
		gomemlimit string
		want       int64
		set        bool
	}{
		{"a 1 GiB limit at 0.9", gib, 0.9, "", 966367641, true}, // 0.9 GiB, rounded down
		{"the hasher's lower ratio", 4 * gib, 0.5, "", 2 * gib, true},
		{"the whole limit", gib, 1, "", gib, true},
		{"GOMEMLIMIT wins", gib, 0.9, "700MiB", 0, false},
		{"no limit known", 0, 0.9, "", 0, false},
		{"a ratio Validate refuses", gib, 1.5, "", 0, false},
		{"no ratio", gib, 0, "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, set := memoryLimit(tc.limit, tc.ratio, tc.gomemlimit)
			if got != tc.want || set != tc.set {
				t.Errorf("memoryLimit(%d, %v, %q) = %d, %v; want %d, %v", tc.limit, tc.ratio, tc.gomemlimit, got, set, tc.want, tc.set)
			}
		})
	}
}

// SetMemoryLimit sets the runtime's limit and logs it; with GOMEMLIMIT set
// it leaves the runtime's limit alone.
func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	c := config.Common{MemoryLimit: 512 << 20, GoMemoryRatio: 0.75}

	t.Setenv("GOMEMLIMIT", "")
	var logs bytes.Buffer
	n := SetMemoryLimit(slog.New(slog.NewTextHandler(&logs, nil)), c)
	if want := int64(384 << 20); n != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("limit %d, runtime's %d; want %d", n, debug.SetMemoryLimit(-1), want)
	}
	if !strings.Contains(logs.String(), "go memory limit set") || !strings.Contains(logs.String(), "limit_bytes=402653184") {
		t.Errorf("logged %q", logs.String())
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	logs.Reset()
	if n := SetMemoryLimit(slog.New(slog.NewTextHandler(&logs, nil)), c); n != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: limit %d, runtime's %d", n, debug.SetMemoryLimit(-1))
	}
	if !strings.Contains(logs.String(), "GOMEMLIMIT is set") {
		t.Errorf("logged %q", logs.String())
	}
}
