package images

import (
	"os"
	"path/filepath"
	"testing"
)

// resolveIn follows links inside the image's tree, including absolute ones,
// which must not lead to the host's files.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"ko-app", "usr/local", "usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ko-app/ingest", "ko-app/tool", "usr/bin/ffmpeg", "etc/passwd"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"usr/local/bin": "../../ko-app", // base-static
		"bin":           "usr/bin",      // merged /usr
		"usr/bin/abs":   "/ko-app/tool", // absolute: from the image's root
		"usr/bin/loop":  "loop",
		"etc/host":      "/etc",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path, want string
		fails      bool
	}{
		{path: "/usr/local/bin/ingest", want: "/ko-app/ingest"},
		{path: "/bin/ffmpeg", want: "/usr/bin/ffmpeg"},
		{path: "/bin/abs", want: "/ko-app/tool"},
		{path: "/etc/host/passwd", want: "/etc/passwd"},
		{path: "/usr/bin/loop", fails: true},
		{path: "/ko-app/missing", fails: true},
	}
	for _, tt := range tests {
		got, err := resolveIn(root, tt.path)
		switch {
		case tt.fails && err == nil:
			t.Errorf("resolveIn(%s) = %s, want an error", tt.path, got)
		case !tt.fails && err != nil:
			t.Errorf("resolveIn(%s): %v", tt.path, err)
		case !tt.fails && got != filepath.Join(root, tt.want):
			t.Errorf("resolveIn(%s) = %s, want %s", tt.path, got, filepath.Join(root, tt.want))
		}
	}
}

// writableBy sees every way the image's user could change a file.
func TestWritableBy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		mode     os.FileMode
		uid, gid int
		writable bool
	}{
		{"root-owned 0755", 0o755, 0, 0, false},
		{"root-owned 0644", 0o644, 0, 0, false},
		{"world-writable", 0o666, 0, 0, true},
		{"owned by the user", 0o644, nonRoot, 0, true},
		{"owned by the user, read-only", 0o444, nonRoot, 0, false},
		{"group-writable, the user's group", 0o664, 0, nonRoot, true},
		{"group-writable, root's group", 0o664, 0, 0, false},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, tt.uid, tt.gid); err != nil {
			t.Skipf("chown needs root: %v", err)
		}
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := writableBy(info, nonRoot); got != tt.writable {
			t.Errorf("%s: writableBy = %v, want %v", tt.name, got, tt.writable)
		}
	}
}
