package service

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// memoryLimit is the Go soft memory limit for a container limit of limit
// bytes and a Go share of ratio, and whether to set it: not when GOMEMLIMIT
// is set (the operator's own choice, which the runtime already applied),
// nor without a known limit.
func memoryLimit(limit int64, ratio float64, gomemlimit string) (int64, bool) {
	if gomemlimit != "" || limit <= 0 || !(ratio > 0) || ratio > 1 {
		return 0, false
	}
	return int64(ratio * float64(limit)), true
}

// SetMemoryLimit sets the Go runtime's soft memory limit to
// c.GoMemoryRatio of c.MemoryLimit (TAKEDOWN_MEMORY_LIMIT, which the Helm
// chart fills from the container's memory limit), unless GOMEMLIMIT is set,
// and logs what it did. Without it the garbage collector knows nothing of
// the container's limit: the heap grows to twice the live data
// (GOGC=100) and a replica whose bank or burst of uploads brings it near
// the limit is killed by the kernel instead of collecting sooner. The rest
// of the limit is left to what the Go heap does not count (goroutine stacks,
// cgo, the hasher's ffmpeg children are not in it either, but share the
// cgroup). It returns the limit set, 0 for none.
func SetMemoryLimit(log *slog.Logger, c config.Common) int64 {
	env := os.Getenv("GOMEMLIMIT")
	n, ok := memoryLimit(c.MemoryLimit, c.GoMemoryRatio, env)
	switch {
	case ok:
		debug.SetMemoryLimit(n)
		log.Info("go memory limit set", "limit_bytes", n, "limit_mib", n>>20,
			"container_limit_bytes", c.MemoryLimit, "ratio", c.GoMemoryRatio)
	case env != "" && c.MemoryLimit > 0:
		log.Info("GOMEMLIMIT is set: it is the go memory limit, not "+config.EnvName("go-memory-ratio")+" of "+config.EnvName("memory-limit"),
			"gomemlimit", env, "container_limit_bytes", c.MemoryLimit)
	}
	return n
}
