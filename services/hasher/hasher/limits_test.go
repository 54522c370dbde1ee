package hasher

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// The decoders' resource limits come from TAKEDOWN_VIDEO_CPU_LIMIT and
// TAKEDOWN_VIDEO_MEMORY_LIMIT (defaults: package video's), reach the video
// options, and limits the kernel cannot apply are refused at start.
func TestVideoResourceLimitSettings(t *testing.T) {
	bind := func(env map[string]string) Config {
		var cfg Config
		set := config.New("hasher-test").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		cfg.Bind(set)
		if err := set.Parse(nil); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if cfg := bind(nil); cfg.VideoCPULimit != video.DefaultCPULimit || cfg.VideoMemoryLimit != video.DefaultMemoryLimit {
		t.Errorf("defaults %v, %d", cfg.VideoCPULimit, cfg.VideoMemoryLimit)
	}
	cfg := bind(map[string]string{"TAKEDOWN_VIDEO_CPU_LIMIT": "2m", "TAKEDOWN_VIDEO_MEMORY_LIMIT": "1073741824"})
	o := (&Service{cfg: cfg}).videoOptions()
	if o.CPULimit != 2*time.Minute || o.MemoryLimit != 1<<30 {
		t.Errorf("video options %v, %d", o.CPULimit, o.MemoryLimit)
	}
	cfg = bind(map[string]string{"TAKEDOWN_VIDEO_CPU_LIMIT": "500ms", "TAKEDOWN_VIDEO_MEMORY_LIMIT": "1000"})
	err := cfg.withDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "TAKEDOWN_VIDEO_CPU_LIMIT=500ms") || !strings.Contains(err.Error(), "TAKEDOWN_VIDEO_MEMORY_LIMIT=1000") {
		t.Errorf("Validate: %v", err)
	}
	cfg = bind(map[string]string{"TAKEDOWN_VIDEO_CPU_LIMIT": "-1s", "TAKEDOWN_VIDEO_MEMORY_LIMIT": "-1"})
	if o := (&Service{cfg: cfg.withDefaults()}).videoOptions(); o.CPULimit >= 0 || o.MemoryLimit >= 0 {
		t.Errorf("negative limits (none) became %v, %d", o.CPULimit, o.MemoryLimit)
	}
}
