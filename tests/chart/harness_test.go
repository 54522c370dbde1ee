package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// envRequire makes a missing tool fail the tests instead of skipping them
// (`make chart-check` sets it).
const envRequire = "TAKEDOWN_TEST_REQUIRE_K8S"

// repoRoot is the repository's root, from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// chartDir is the chart under test.
func chartDir() string { return filepath.Join(repoRoot(), "deployments", "helm", "takedown") }

// tools are the paths scripts/k8s-tools.sh env prints.
type tools struct {
	Helm, HelmDocs, Kubeconform, Kubectl string
	K8sSchemas, CRDSchemas, CRDs         string
	Kubeconfig                           string
	HelmHome                             string
}

var (
	toolsOnce sync.Once
	toolsVal  tools
	toolsErr  error

	clusterOnce sync.Once
	clusterErr  error
)

// script runs scripts/k8s-tools.sh with args and returns its standard
// output; its standard error (what it builds, the servers' last log lines on
// a failure) is in the error.
func script(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "scripts", "k8s-tools.sh"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("scripts/k8s-tools.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(envRequire) != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set "+envRequire+"=1 to fail instead)", args...)
}

// offlineTools builds (once per machine) and returns the tools that need no
// server: helm, helm-docs, kubeconform and the schemas.
func offlineTools(t testing.TB) tools {
	t.Helper()
	toolsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		// Only `make chart-check` builds the tools (cold, that takes longer
		// than a test run may); elsewhere the tests use them when cached.
		if os.Getenv(envRequire) != "" {
			if _, err := script(ctx, "build", "helm", "helm-docs", "kubeconform", "schemas", "crds"); err != nil {
				toolsErr = err
				return
			}
		}
		out, err := script(ctx, "env")
		if err != nil {
			toolsErr = err
			return
		}
		e := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
				e[k] = v
			}
		}
		toolsVal = tools{
			Helm: e["TAKEDOWN_TEST_HELM"], HelmDocs: e["TAKEDOWN_TEST_HELM_DOCS"],
			Kubeconform: e["TAKEDOWN_TEST_KUBECONFORM"], Kubectl: e["TAKEDOWN_TEST_KUBECTL"],
			K8sSchemas: e["TAKEDOWN_TEST_K8S_SCHEMAS"], CRDSchemas: e["TAKEDOWN_TEST_CRD_SCHEMAS"],
			CRDs: e["TAKEDOWN_TEST_CRDS"], Kubeconfig: e["TAKEDOWN_TEST_KUBECONFIG"], HelmHome: e["TAKEDOWN_TEST_HELM_HOME"],
		}
		for _, p := range []string{toolsVal.Helm, toolsVal.HelmDocs, toolsVal.Kubeconform, toolsVal.K8sSchemas, toolsVal.CRDSchemas, toolsVal.CRDs} {
			if _, err := os.Stat(p); err != nil {
				toolsErr = fmt.Errorf("scripts/k8s-tools.sh env names %q, which is missing: %w", p, err)
				return
			}
		}
	})
	if toolsErr != nil {
		skipOrFail(t, "no Kubernetes tools: %v", toolsErr)
	}
	return toolsVal
}

// cluster starts (once per test binary; scripts/k8s-tools.sh keeps it
// running for the next) the test etcd and kube-apiserver, and returns the
// tools with a kubeconfig for it.
func cluster(t testing.TB) tools {
	t.Helper()
	tl := offlineTools(t)
	clusterOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
		defer cancel()
		_, clusterErr = script(ctx, "start")
	})
	if clusterErr != nil {
		skipOrFail(t, "no kube-apiserver: %v", clusterErr)
	}
	return tl
}

// result is what a command printed, and how it ended.
type result struct {
	Stdout, Stderr string
	Err            error
}

// run runs a tool with helm's state kept out of $HOME.
func (tl tools) run(ctx context.Context, stdin io.Reader, bin string, args ...string) result {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(tl.HelmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(tl.HelmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(tl.HelmHome, "data"),
		"KUBECONFIG="+tl.Kubeconfig,
	)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// must fails the test when r failed, and returns its output.
func must(t testing.TB, r result) string {
	t.Helper()
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Stdout
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// valueSet is a set of values the chart is rendered, validated and
// installed with.
type valueSet struct {
	name string
	// files are under the chart's ci/ directory.
	files []string
	// apiVersions turn on the capability-gated templates.
	apiVersions []string
}

func (v valueSet) helmArgs() []string {
	var a []string
	for _, f := range v.files {
		a = append(a, "-f", filepath.Join(chartDir(), "ci", f))
	}
	for _, api := range v.apiVersions {
		a = append(a, "--api-versions", api)
	}
	return a
}

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }

func (o object) name() string {
	m, _ := o["metadata"].(map[string]any)
	s, _ := m["name"].(string)
	return s
}

// get walks o by keys (map keys, or list indexes as ints).
func (o object) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

// parseObjects splits helm template's output into its objects.
func parseObjects(t testing.TB, manifest string) []object {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	var objs []object
	for {
		// A plain map: decoding into an object would make the nested maps
		// objects too, and get() walks map[string]any.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered manifest is not YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, object(o))
		}
	}
}

func find(objs []object, kind, name string) (object, bool) {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return nil, false
}

func countKind(objs []object, kind string) int {
	n := 0
	for _, o := range objs {
		if o.kind() == kind {
			n++
		}
	}
	return n
}

// containerEnv returns a Deployment's first container's plain env values.
func containerEnv(o object) map[string]string {
	env := map[string]string{}
	list, _ := o.get("spec", "template", "spec", "containers", 0, "env").([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		if v, ok := m["value"].(string); ok {
			env[name] = v
		} else if m["valueFrom"] != nil {
			env[name] = "<valueFrom>"
		}
	}
	return env
}
