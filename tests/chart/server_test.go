package chart

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var crdsOnce sync.Once

// installCRDs applies the CRDs of ServiceMonitor, PrometheusRule and
// ScaledObject (from the prometheus-operator and KEDA module zips; the chart
// ships none) with server-side apply, as their size requires, and waits until
// the API server serves them.
func installCRDs(t *testing.T, tl tools) {
	t.Helper()
	var err error
	crdsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var files []string
		for _, f := range []string{
			"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml",
			"keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml",
		} {
			files = append(files, "-f", filepath.Join(tl.CRDs, f))
		}
		if r := tl.run(ctx, nil, tl.Kubectl, append([]string{"apply", "--server-side", "--force-conflicts"}, files...)...); r.Err != nil {
			err = r.Err
			return
		}
		if r := tl.run(ctx, nil, tl.Kubectl, "wait", "--for=condition=Established", "--timeout=60s",
			"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
			"crd/scaledobjects.keda.sh", "crd/triggerauthentications.keda.sh"); r.Err != nil {
			err = r.Err
		}
	})
	if err != nil {
		t.Fatalf("installing the CRDs: %v", err)
	}
}

// namespace creates a fresh namespace that enforces the restricted Pod
// Security Standard (and warns about it, so that a Deployment whose pods
// would be refused is reported at apply time), deleted after the test.
func namespace(t *testing.T, tl tools, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	ctx := ctxFor(t, time.Minute)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
`, ns)
	must(t, tl.run(ctx, strings.NewReader(manifest), tl.Kubectl, "apply", "-f", "-"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Without a namespace controller the namespace stays Terminating;
		// its objects are gone with the release, and the next start of the
		// test API server begins from an empty etcd.
		tl.run(ctx, nil, tl.Kubectl, "delete", "namespace", ns, "--wait=false")
	})
	return ns
}

// The API server accepts every rendered set (server-side dry run: defaults,
// admission, the restricted Pod Security Standard, CRD schemas), which
// checks what schemas cannot, and refuses what it must.
func TestServerDryRun(t *testing.T) {
	tl := cluster(t)
	installCRDs(t, tl)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			ns := namespace(t, tl, "dry-"+vs.name)
			manifest := must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Helm,
				append([]string{"template", "takedown", chartDir(), "--namespace", ns, "--kube-version", kubeVersions[len(kubeVersions)-1]}, vs.helmArgs()...)...))
			r := tl.run(ctxFor(t, 2*time.Minute), strings.NewReader(manifest), tl.Kubectl, "apply", "--dry-run=server", "-n", ns, "-f", "-")
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if strings.Contains(r.Stderr, "PodSecurity") || strings.Contains(r.Stderr, "Warning") {
				t.Errorf("the API server warned:\n%s", r.Stderr)
			}
			if n := strings.Count(r.Stdout, "(server dry run)"); n != len(parseObjects(t, manifest)) {
				t.Errorf("%d objects accepted of %d:\n%s", n, len(parseObjects(t, manifest)), r.Stdout)
			}
		})
	}
	// What the schemas pass and the API server refuses: a Deployment whose
	// memory request is above its limit (the chart refuses those values
	// itself, TestBadValues; here the rendered object is altered).
	t.Run("memory request above limit", func(t *testing.T) {
		ns := namespace(t, tl, "dry-bad")
		objs := parseObjects(t, must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Helm, "template", "takedown", chartDir(), "--namespace", ns, "--kube-version", kubeVersions[len(kubeVersions)-1])))
		d, _ := find(objs, "Deployment", "takedown-hasher")
		d.get("spec", "template", "spec", "containers", 0, "resources", "requests").(map[string]any)["memory"] = "64Gi" // far above any limit of the defaults
		b, err := yaml.Marshal(map[string]any(d))
		if err != nil {
			t.Fatal(err)
		}
		r := tl.run(ctxFor(t, time.Minute), strings.NewReader(string(b)), tl.Kubectl, "apply", "--dry-run=server", "-n", ns, "-f", "-")
		if r.Err == nil || !strings.Contains(r.Err.Error(), "must be less than or equal to memory limit") {
			t.Fatalf("the API server took a memory request above the limit: %v", r.Err)
		}
	})
}

// completeHookJobs plays the Job controller, which the test cluster does not
// run: each Job named name that appears in ns is marked as succeeded, so that
// helm, which waits for its pre-install and pre-upgrade hooks, goes on. It
// returns how many Jobs it completed when stop is closed.
func completeHookJobs(t *testing.T, tl tools, ns, name string, stop <-chan struct{}) <-chan int {
	done := make(chan int, 1)
	go func() {
		seen := map[string]bool{}
		defer func() { done <- len(seen) }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			uid := strings.TrimSpace(tl.run(ctx, nil, tl.Kubectl, "get", "job", name, "-n", ns, "-o", "jsonpath={.metadata.uid}").Stdout)
			if uid == "" || seen[uid] {
				cancel()
				continue
			}
			now := time.Now().UTC().Format(time.RFC3339)
			status := fmt.Sprintf(`{"status":{"startTime":%q,"completionTime":%q,"succeeded":1,"active":0,"ready":0,"terminating":0,`+
				`"uncountedTerminatedPods":{},"conditions":[`+
				`{"type":"SuccessCriteriaMet","status":"True","lastProbeTime":%q,"lastTransitionTime":%q,"reason":"CompletionsReached"},`+
				`{"type":"Complete","status":"True","lastProbeTime":%q,"lastTransitionTime":%q,"reason":"CompletionsReached"}]}}`,
				now, now, now, now, now, now)
			r := tl.run(ctx, nil, tl.Kubectl, "patch", "job", name, "-n", ns, "--subresource=status", "--type=merge", "-p", status)
			cancel()
			if r.Err != nil {
				t.Logf("completing hook Job %s: %v", name, r.Err)
				continue
			}
			seen[uid] = true
		}
	}()
	return done
}

// A real helm install, upgrade (with changed values that must land) and
// uninstall of the production-like set, with the CRDs installed so that
// helm sees KEDA and the Prometheus operator as a cluster would show them.
func TestInstallUpgradeUninstall(t *testing.T) {
	tl := cluster(t)
	installCRDs(t, tl)
	ns := namespace(t, tl, "install")
	prod := valueSets[2]
	kubectl := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Kubectl, append([]string{"-n", ns}, args...)...)))
	}
	stop := make(chan struct{})
	jobs := completeHookJobs(t, tl, ns, "takedown-topics", stop)

	// No --api-versions: helm asks the API server, which serves the CRDs.
	notes := must(t, tl.run(ctxFor(t, 5*time.Minute), nil, tl.Helm, append([]string{"install", "takedown", chartDir(),
		"--namespace", ns, "--timeout", "3m"}, prod.helmArgs()[:2*len(prod.files)]...)...))
	for _, want := range []string{"service scales beyond topics.partitions (12)", "hasher: KEDA on consumer lag, 4 to 12 replicas"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, notes)
		}
	}
	for kind, want := range map[string]int{"deployments": 5, "services": 5, "poddisruptionbudgets": 5, "networkpolicies": 7,
		"scaledobjects.keda.sh": 5, "servicemonitors.monitoring.coreos.com": 1, "prometheusrules.monitoring.coreos.com": 1,
		"ingresses": 2, "configmaps": 4, "horizontalpodautoscalers": 0} {
		out := kubectl("get", kind, "-l", "app.kubernetes.io/instance=takedown", "-o", "name")
		if got := len(strings.Fields(out)); got != want {
			t.Errorf("%d %s after install, want %d:\n%s", got, kind, want, out)
		}
	}
	if got := kubectl("get", "deployment", "takedown-ingest", "-o", `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="TAKEDOWN_CLIENT_RATE")].value}`); got != "100" {
		t.Errorf("ingest TAKEDOWN_CLIENT_RATE %q after install, want 100", got)
	}

	// An upgrade with two changed values.
	must(t, tl.run(ctxFor(t, 5*time.Minute), nil, tl.Helm, append([]string{"upgrade", "takedown", chartDir(),
		"--namespace", ns, "--timeout", "3m"}, append(prod.helmArgs()[:2*len(prod.files)],
		"--set", "ingest.env.TAKEDOWN_CLIENT_RATE=250", "--set", "hasher.autoscaling.maxReplicas=10")...)...))
	if got := kubectl("get", "deployment", "takedown-ingest", "-o", `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="TAKEDOWN_CLIENT_RATE")].value}`); got != "250" {
		t.Errorf("ingest TAKEDOWN_CLIENT_RATE %q after the upgrade, want 250", got)
	}
	if got := kubectl("get", "scaledobject", "takedown-hasher", "-o", "jsonpath={.spec.maxReplicaCount}"); got != "10" {
		t.Errorf("hasher maxReplicaCount %q after the upgrade, want 10", got)
	}
	if got := kubectl("get", "deployment", "takedown-ingest", "-o", "jsonpath={.metadata.generation}"); got != "2" {
		t.Errorf("ingest Deployment generation %q after the upgrade, want 2 (its pods roll)", got)
	}
	hist := must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Helm, "history", "takedown", "--namespace", ns))
	if !strings.Contains(hist, "superseded") || !strings.Contains(hist, "deployed") {
		t.Errorf("helm history:\n%s", hist)
	}
	close(stop)
	if n := <-jobs; n != 2 {
		t.Errorf("the topics hook Job ran %d times, want 2 (pre-install and pre-upgrade)", n)
	}

	must(t, tl.run(ctxFor(t, 3*time.Minute), nil, tl.Helm, "uninstall", "takedown", "--namespace", ns, "--wait", "--timeout", "2m"))
	if out := kubectl("get", "deployments,services,scaledobjects.keda.sh,networkpolicies,configmaps,prometheusrules.monitoring.coreos.com",
		"-l", "app.kubernetes.io/instance=takedown", "-o", "name"); out != "" {
		t.Errorf("left after helm uninstall:\n%s", out)
	}
}

// The optional-off set, installed: fixed replicas that an upgrade changes.
func TestInstallFixedReplicas(t *testing.T) {
	tl := cluster(t)
	ns := namespace(t, tl, "fixed")
	off := valueSets[3]
	args := func(extra ...string) []string {
		return append([]string{"--namespace", ns, "-f", filepath.Join(chartDir(), "ci", off.files[0])}, extra...)
	}
	must(t, tl.run(ctxFor(t, 3*time.Minute), nil, tl.Helm, append([]string{"install", "takedown", chartDir()}, args()...)...))
	must(t, tl.run(ctxFor(t, 3*time.Minute), nil, tl.Helm, append([]string{"upgrade", "takedown", chartDir()}, args("--set", "hasher.replicas=3")...)...))
	got := strings.TrimSpace(must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Kubectl, "-n", ns, "get", "deployment", "takedown-hasher", "-o", "jsonpath={.spec.replicas}")))
	if got != "3" {
		t.Errorf("hasher replicas %q after the upgrade, want 3", got)
	}
	must(t, tl.run(ctxFor(t, 3*time.Minute), nil, tl.Helm, "uninstall", "takedown", "--namespace", ns, "--wait"))
	if out := strings.TrimSpace(must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Kubectl, "-n", ns, "get", "deployments", "-o", "name"))); out != "" {
		t.Errorf("left after helm uninstall:\n%s", out)
	}
}
