package images

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nonRoot is the user every image runs as (docs/images.md; the chart's
// runAsUser).
const nonRoot = 65532

// pureGoBudget is the goal for an image without C: what a node
// pulls (its compressed layers) may not pass it.
const pureGoBudget = 30_000_000

// image is one image of make images and what its binary must do.
type image struct {
	name   string // takedown-NAME
	binary string // at /usr/local/bin/BINARY, the ENTRYPOINT
	pureGo bool
	// usage is text that `BINARY -h` prints (services: the flag package's
	// "Usage of NAME"; takedownctl: its own usage).
	usage string
	// tools are the other programs the binary runs, each with a command
	// that must succeed and print want.
	tools []tool
}

type tool struct {
	args []string
	want string
}

var images = []image{
	{name: "ingest", binary: "ingest", pureGo: true, usage: "Usage of ingest"},
	{name: "matcher", binary: "matcher", pureGo: true, usage: "Usage of matcher"},
	{name: "review", binary: "review", pureGo: true, usage: "Usage of review"},
	{name: "enforcer", binary: "enforcer", pureGo: true, usage: "Usage of enforcer"},
	{name: "takedownctl", binary: "takedownctl", pureGo: true, usage: "Usage:"},
	{name: "hasher", binary: "hasher", usage: "Usage of hasher", tools: []tool{
		// pkg/hashing/video runs ffmpeg and ffprobe under prlimit (the CPU and
		// memory limits) and nice.
		{[]string{"ffmpeg", "-version"}, "ffmpeg version"},
		{[]string{"ffprobe", "-version"}, "ffprobe version"},
		{[]string{"prlimit", "--version"}, "prlimit from util-linux"},
		{[]string{"nice", "--version"}, "nice (GNU coreutils)"},
	}},
}

// Names a shell or a package manager goes by; none may be anywhere in an
// image.
var forbidden = []string{
	"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "toybox",
	"apt", "apt-get", "apt-cache", "apt-key", "aptitude", "dpkg", "dpkg-deb", "dpkg-query",
	"dpkg-divert", "apk", "yum", "dnf", "microdnf", "rpm",
}

// Package databases: their presence means a package manager could run.
// (base-hasher keeps /var/lib/dpkg/status.d, one record per package, for
// image scanners, as distroless does: no dpkg reads it.)
var forbiddenPaths = []string{"/etc/apt", "/var/lib/apt", "/var/lib/dpkg/status", "/var/lib/dpkg/info"}

func TestImages(t *testing.T) {
	if os.Getenv("TAKEDOWN_TEST_IMAGES") == "" {
		t.Skip("TAKEDOWN_TEST_IMAGES is not set: make images-check runs this test on the images make images built")
	}
	b := newBuildah(t)
	repo := envOr("TAKEDOWN_IMAGE_REPO", "localhost/takedown")
	tag := envOr("TAKEDOWN_IMAGE_TAG", "latest")
	var report strings.Builder
	report.WriteString("| image | compressed (pushed) | unpacked |\n|---|---:|---:|\n")
	for _, im := range images {
		ref := fmt.Sprintf("%s/takedown-%s:%s", repo, im.name, tag)
		t.Run(im.name, func(t *testing.T) {
			compressed, unpacked := checkImage(t, b, ref, im)
			t.Logf("%s: %s compressed, %s unpacked", ref, mb(compressed), mb(unpacked))
			fmt.Fprintf(&report, "| takedown-%s | %s | %s |\n", im.name, mb(compressed), mb(unpacked))
			if im.pureGo && compressed > pureGoBudget {
				t.Errorf("%s is %s compressed: over the %s budget of a pure-Go image", ref, mb(compressed), mb(pureGoBudget))
			}
		})
	}
	out := filepath.Join(b.root, "bin", "images", "sizes.md")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Errorf("writing the size report: %v", err)
		}
	}
	t.Logf("sizes (also in %s):\n%s", out, report.String())
}

// checkImage runs every check of one image and returns its compressed and
// unpacked sizes in bytes.
func checkImage(t *testing.T, b *buildah, ref string, im image) (compressed, unpacked int64) {
	cfg := b.config(t, ref)
	if want := fmt.Sprintf("%d:%d", nonRoot, nonRoot); cfg.User != want {
		// Numeric, so that the kubelet can check runAsNonRoot without
		// reading the image's /etc/passwd.
		t.Errorf("User is %q, want %q", cfg.User, want)
	}
	entry := "/usr/local/bin/" + im.binary
	if !slices.Equal(cfg.Entrypoint, []string{entry}) {
		t.Errorf("Entrypoint is %q, want [%q]", cfg.Entrypoint, entry)
	}

	ctr := b.run(t, "from", "--pull=never", ref)
	t.Cleanup(func() { b.exec("rm", ctr) })
	root := b.run(t, "mount", ctr)
	unpacked = checkTree(t, root, entry)

	// The binary starts, as the image's user, and prints its usage. Every
	// one of them exits 0 on -h (flag.ErrHelp).
	if out, err := b.exec("run", ctr, "--", entry, "-h"); err != nil {
		t.Errorf("%s -h: %v\n%s", entry, err, out)
	} else if !strings.Contains(out, im.usage) {
		t.Errorf("%s -h printed no %q:\n%s", entry, im.usage, out)
	}
	for _, tl := range im.tools {
		out, err := b.exec(append([]string{"run", ctr, "--"}, tl.args...)...)
		if err != nil || !strings.Contains(out, tl.want) {
			t.Errorf("%s: %v, want %q in:\n%s", strings.Join(tl.args, " "), err, tl.want, out)
		}
	}
	if len(im.tools) > 0 {
		checkVideo(t, b, ctr, root)
	}
	compressed = b.pushedSize(t, ref)
	return compressed, unpacked
}

// checkVideo makes, probes and decodes a clip in the image the way the
// hasher runs ffmpeg (under prlimit's limits), which loads the codec
// libraries a -version does not, and shows that the image's user can write
// /tmp and nothing else.
func checkVideo(t *testing.T, b *buildah, ctr, root string) {
	limits := []string{"prlimit", "--cpu=60:65", "--as=2000000000:2000000000", "--"}
	encode := func(dst string) (string, error) {
		args := append([]string{"run", ctr, "--"}, limits...)
		args = append(args, "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
			"-i", "testsrc2=duration=1:size=160x120:rate=10", "-c:v", "libx264", "-pix_fmt", "yuv420p", dst)
		return b.exec(args...)
	}
	const clip = "/tmp/images-check.mp4"
	if out, err := encode(clip); err != nil {
		t.Fatalf("ffmpeg could not make a clip in %s: %v\n%s", clip, err, out)
	}
	out, err := b.exec("run", ctr, "--", "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", clip)
	if err != nil || strings.TrimSpace(out) != "h264" {
		t.Errorf("ffprobe of the clip: %v, got %q, want h264", err, out)
	}
	if out, err := b.exec(append(append([]string{"run", ctr, "--"}, limits...),
		"ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-f", "null", "-")...); err != nil {
		t.Errorf("ffmpeg could not decode the clip: %v\n%s", err, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, clip), &st); err != nil {
		t.Errorf("the clip is not in the container's /tmp: %v", err)
	} else if st.Uid != nonRoot {
		t.Errorf("the clip belongs to uid %d: ffmpeg did not run as the image's user %d", st.Uid, nonRoot)
	}
	// Outside /tmp the user can write nothing, even where root could.
	const denied = "/usr/local/bin/images-check.mp4"
	if out, err := encode(denied); err == nil {
		t.Errorf("ffmpeg wrote %s as the image's user:\n%s", denied, out)
	}
	if _, err := os.Lstat(filepath.Join(root, denied)); err == nil {
		t.Errorf("%s exists after a write by the image's user", denied)
	}
}

// checkTree walks the image's file system at root: no shell or package
// manager, nothing writable by the image's user but /tmp, and the
// entrypoint a root-owned executable. It returns the bytes of its regular
// files.
func checkTree(t *testing.T, root, entry string) int64 {
	var size int64
	var found, writable []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		// Programs by name (a directory such as /var/lib/dpkg holding
		// base-hasher's package records is not one).
		if slices.Contains(forbidden, d.Name()) && !d.IsDir() {
			found = append(found, rel)
		}
		if slices.Contains(forbiddenPaths, rel) {
			found = append(found, rel)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			size += info.Size()
		}
		if rel != "/tmp" && writableBy(info, nonRoot) {
			writable = append(writable, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the image's files: %v", err)
	}
	if len(found) > 0 {
		t.Errorf("a shell or package manager in the image: %q", found)
	}
	if len(writable) > 0 {
		t.Errorf("writable by uid %d outside /tmp (the root file system must hold nothing it may change): %q",
			nonRoot, writable[:min(len(writable), 20)])
	}
	if info, err := os.Stat(filepath.Join(root, "tmp")); err != nil || info.Mode()&fs.ModeSticky == 0 || info.Mode().Perm() != 0o777 {
		t.Errorf("/tmp is not a sticky world-writable directory (%v, %v)", info, err)
	}
	p, err := resolveIn(root, entry)
	if err != nil {
		t.Fatalf("entrypoint %s: %v", entry, err)
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatalf("entrypoint %s: %v", entry, err)
	}
	st, _ := info.Sys().(*syscall.Stat_t)
	switch {
	case !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0:
		t.Errorf("entrypoint %s is not an executable file: %v", entry, info.Mode())
	case st == nil || st.Uid != 0 || info.Mode().Perm()&0o022 != 0:
		t.Errorf("entrypoint %s is not a root-owned file that only root may change: %v", entry, info.Mode())
	}
	return size
}

// writableBy reports whether uid (whose group has the same number) may
// write the file or directory.
func writableBy(info fs.FileInfo, uid uint32) bool {
	m := info.Mode().Perm()
	if m&0o002 != 0 {
		return true
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return st.Uid == uid && m&0o200 != 0 || st.Gid == uid && m&0o020 != 0
}

// resolveIn follows the symbolic links of p (absolute, in the image) the
// way the image's processes see them: an absolute target starts again at
// root, not at the host's /.
func resolveIn(root, p string) (string, error) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		next := path.Join(cur, parts[0])
		parts = parts[1:]
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && errors.Is(pe.Err, syscall.EINVAL) {
				cur = next // not a link
				continue
			}
			return "", err
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("too many links in %s", p)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(next), target)
		}
		parts = append(strings.Split(strings.Trim(target, "/"), "/"), parts...)
		cur = "/"
	}
	return filepath.Join(root, cur), nil
}

// buildah runs buildah on make images' storage, through scripts/images.sh.
type buildah struct {
	root   string // the repository
	script string
}

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b := &buildah{root: root, script: filepath.Join(root, "scripts", "images.sh")}
	if _, err := os.Stat(b.script); err != nil {
		t.Fatalf("no %s: %v", b.script, err)
	}
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Fatalf("buildah is not installed (apt-get install buildah; .ci/run installs it): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("buildah's vfs storage of make images belongs to root: run as root")
	}
	return b
}

// exec runs buildah with args and returns what it printed, stdout then
// stderr.
func (b *buildah) exec(args ...string) (string, error) {
	cmd := exec.Command(b.script, append([]string{"buildah"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

// run is exec for a command that must succeed; it returns its trimmed stdout.
func (b *buildah) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(b.script, append([]string{"buildah"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// imageConfig is the part of an OCI image configuration the checks read.
type imageConfig struct {
	User       string   `json:"User"`
	Entrypoint []string `json:"Entrypoint"`
	Env        []string `json:"Env"`
}

func (b *buildah) config(t *testing.T, ref string) imageConfig {
	t.Helper()
	out := b.run(t, "inspect", "--type", "image", ref)
	var in struct {
		OCIv1 struct {
			Config imageConfig `json:"config"`
		} `json:"OCIv1"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("buildah inspect %s: %v", ref, err)
	}
	return in.OCIv1.Config
}

// pushedSize is the size of the image as pushed to a registry (gzip
// layers, the manifest and the configuration): an OCI archive of it.
// Compressing the hasher's layers takes most of the test's time, so the
// size is kept per image ID (the digest of the image's configuration,
// which names its layers: one ID, one content) under the cache of make
// images, and measured again only for a new image.
func (b *buildah) pushedSize(t *testing.T, ref string) int64 {
	t.Helper()
	id := b.run(t, "inspect", "--type", "image", "--format", "{{.FromImageID}}", ref)
	cache := ""
	if root := cacheRoot(); root != "" && len(id) == 64 && strings.Trim(id, "0123456789abcdef") == "" {
		cache = filepath.Join(root, "images", "pushed-size", id)
		if data, err := os.ReadFile(cache); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	b.run(t, "push", "--quiet", ref, "oci-archive:"+archive)
	info, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	if cache != "" {
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
			_ = os.WriteFile(cache, []byte(strconv.FormatInt(info.Size(), 10)), 0o644)
		}
	}
	return info.Size()
}

// cacheRoot is where scripts/images.sh keeps its cache.
func cacheRoot() string {
	if d := os.Getenv("TAKEDOWN_CACHE"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "takedown")
	}
	return ""
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// mb formats bytes in megabytes (10^6), as registries and buildah do.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
