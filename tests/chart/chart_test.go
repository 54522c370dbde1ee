package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Kubernetes versions the rendered objects are validated against: the
// chart's kubeVersion floor and the test API server's version.
var kubeVersions = []string{"1.30.0", "1.36.0"}

const (
	apiKEDA       = "keda.sh/v1alpha1"
	apiMonitoring = "monitoring.coreos.com/v1"
)

var services = []string{"ingest", "hasher", "matcher", "review", "enforcer"}

// The value sets of ci/, and the chart's defaults.
var valueSets = []valueSet{
	{name: "defaults"},
	{name: "minimal", files: []string{"minimal-values.yaml"}},
	{name: "production", files: []string{"production-values.yaml"}, apiVersions: []string{apiKEDA, apiMonitoring}},
	{name: "optional-off", files: []string{"optional-off-values.yaml"}, apiVersions: []string{apiKEDA, apiMonitoring}},
}

func render(t *testing.T, tl tools, vs valueSet, extra ...string) string {
	t.Helper()
	args := append([]string{"template", "takedown", chartDir(), "--namespace", "takedown", "--kube-version", kubeVersions[len(kubeVersions)-1]}, vs.helmArgs()...)
	return must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Helm, append(args, extra...)...))
}

func TestLint(t *testing.T) {
	tl := offlineTools(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir()}
			for _, f := range vs.files {
				args = append(args, "-f", filepath.Join(chartDir(), "ci", f))
			}
			out := must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Helm, args...))
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint --strict:\n%s", out)
			}
		})
	}
}

// Every value set renders to objects that kubeconform -strict accepts
// against the Kubernetes schemas of the chart's oldest and newest supported
// versions and the CRD schemas, and holds what its values ask for.
func TestRenderAndSchemas(t *testing.T) {
	tl := offlineTools(t)
	checks := map[string]func(t *testing.T, objs []object){
		"defaults": func(t *testing.T, objs []object) {
			// Without the CRDs' APIs: HPAs, no KEDA or Prometheus objects.
			wantKinds(t, objs, map[string]int{"Deployment": 5, "Service": 5, "PodDisruptionBudget": 5,
				"HorizontalPodAutoscaler": 4, "ScaledObject": 0, "ServiceMonitor": 0, "PrometheusRule": 0,
				"Job": 1, "ConfigMap": 4, "Ingress": 0, "ServiceAccount": 1})
			checkPods(t, objs)
		},
		"minimal": func(t *testing.T, objs []object) {
			d, _ := find(objs, "Deployment", "takedown-enforcer")
			env := containerEnv(d)
			// The secret is a mounted file, never a value in the environment.
			if env["TAKEDOWN_WEBHOOK_URL"] != "https://platform.example.com/takedown" || env["TAKEDOWN_WEBHOOK_SECRET_FILE"] != "/etc/takedown/webhook/secret" ||
				env["TAKEDOWN_WEBHOOK_SECRET"] != "" {
				t.Errorf("enforcer webhook settings: url %q, secret file %q, secret %q", env["TAKEDOWN_WEBHOOK_URL"],
					env["TAKEDOWN_WEBHOOK_SECRET_FILE"], env["TAKEDOWN_WEBHOOK_SECRET"])
			}
			checkPods(t, objs)
		},
		"production": func(t *testing.T, objs []object) {
			wantKinds(t, objs, map[string]int{"Deployment": 5, "ScaledObject": 5, "HorizontalPodAutoscaler": 0,
				"TriggerAuthentication": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "Ingress": 2, "NetworkPolicy": 7})
			checkPods(t, objs)
			// The matcher's startupProbe covers 10 million entries: 120 s + 10 x 35 s x 2 = 820 s, 82 periods of 10 s.
			m, _ := find(objs, "Deployment", "takedown-matcher")
			if ft := m.get("spec", "template", "spec", "containers", 0, "startupProbe", "failureThreshold"); ft != 82 {
				t.Errorf("matcher startupProbe failureThreshold = %v, want 82", ft)
			}
			// A rollout waits for that load: 820 s + 300 s.
			if pd := m.get("spec", "progressDeadlineSeconds"); pd != 1120 {
				t.Errorf("matcher progressDeadlineSeconds = %v, want 1120", pd)
			}
			// A hasher trigger per consumed topic, on its consumer group.
			so, _ := find(objs, "ScaledObject", "takedown-hasher")
			var topics []string
			for i := 0; i < 2; i++ {
				if g := so.get("spec", "triggers", i, "metadata", "consumerGroup"); g != "takedown-hasher" {
					t.Errorf("hasher trigger %d consumer group %v", i, g)
				}
				topics = append(topics, fmt.Sprint(so.get("spec", "triggers", i, "metadata", "topic")))
			}
			if strings.Join(topics, ",") != "media.ingested,stream.segments" {
				t.Errorf("hasher triggers on %v", topics)
			}
			// Every alert of rules/ is in the PrometheusRule.
			pr, _ := find(objs, "PrometheusRule", "takedown")
			rules, _ := os.ReadFile(filepath.Join(chartDir(), "rules", "takedown.rules.yaml"))
			for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1) {
				if !strings.Contains(fmt.Sprint(pr), "alert:"+m[1]) {
					t.Errorf("alert %s is missing from the PrometheusRule", m[1])
				}
			}
			// No credential as a plain value: secrets are files or secretKeyRefs.
			for _, name := range services {
				d, _ := find(objs, "Deployment", "takedown-"+name)
				for k, v := range containerEnv(d) {
					if regexp.MustCompile(`PASSWORD$|SECRET$|SECRETS$|_KEY$|CLIENTS$|_URL$`).MatchString(k) &&
						k != "TAKEDOWN_WEBHOOK_URL" && k != "TAKEDOWN_JWT_JWKS_URL" && v != "<valueFrom>" &&
						!strings.Contains(v, "/etc/takedown/") {
						t.Errorf("%s: %s=%q is a plain value", name, k, v)
					}
				}
			}
		},
		"optional-off": func(t *testing.T, objs []object) {
			wantKinds(t, objs, map[string]int{"Deployment": 5, "Service": 5, "PodDisruptionBudget": 5,
				"HorizontalPodAutoscaler": 0, "ScaledObject": 0, "ServiceMonitor": 0, "PrometheusRule": 0,
				"NetworkPolicy": 0, "Job": 0, "ConfigMap": 0, "Ingress": 0, "ServiceAccount": 0})
			for _, name := range services {
				d, _ := find(objs, "Deployment", "takedown-"+name)
				if r := d.get("spec", "replicas"); r != 1 {
					t.Errorf("%s replicas %v, want 1", name, r)
				}
				if env := containerEnv(d); env["TAKEDOWN_CREATE_TOPICS"] != "" {
					t.Errorf("%s: TAKEDOWN_CREATE_TOPICS=%q without the topics Job", name, env["TAKEDOWN_CREATE_TOPICS"])
				}
			}
		},
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			manifest := render(t, tl, vs)
			file := filepath.Join(t.TempDir(), vs.name+".yaml")
			if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, kv := range kubeVersions {
				// One worker: the schemas are compiled once, not once per worker.
				out := must(t, tl.run(ctxFor(t, time.Minute), nil, tl.Kubeconform, "-strict", "-summary", "-n", "1",
					"-kubernetes-version", kv,
					"-schema-location", tl.K8sSchemas+"/{{.NormalizedKubernetesVersion}}-local{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json",
					"-schema-location", tl.CRDSchemas+"/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json",
					file))
				// A resource without a schema is reported as skipped: none may be.
				if !regexp.MustCompile(`Invalid: 0, Errors: 0, Skipped: 0`).MatchString(out) {
					t.Fatalf("kubeconform (Kubernetes %s):\n%s", kv, out)
				}
			}
			checks[vs.name](t, parseObjects(t, manifest))
		})
	}
}

func wantKinds(t *testing.T, objs []object, want map[string]int) {
	t.Helper()
	for kind, n := range want {
		if got := countKind(objs, kind); got != n {
			t.Errorf("%d %s objects, want %d", got, kind, n)
		}
	}
}

// checkPods checks what every Deployment must have: the restricted
// securityContext, requests and limits, probes, a preStop hook, the memory
// limit from the downward API and the listen address of a pod.
func checkPods(t *testing.T, objs []object) {
	t.Helper()
	for _, name := range services {
		d, ok := find(objs, "Deployment", "takedown-"+name)
		if !ok {
			t.Errorf("no Deployment takedown-%s", name)
			continue
		}
		pod := object(d.get("spec", "template", "spec").(map[string]any))
		c := object(pod.get("containers", 0).(map[string]any))
		for _, want := range []struct {
			what string
			got  any
			want any
		}{
			{"runAsNonRoot", pod.get("securityContext", "runAsNonRoot"), true},
			{"runAsUser", pod.get("securityContext", "runAsUser"), 65532},
			{"seccomp", pod.get("securityContext", "seccompProfile", "type"), "RuntimeDefault"},
			{"automountServiceAccountToken", pod.get("automountServiceAccountToken"), false},
			{"readOnlyRootFilesystem", c.get("securityContext", "readOnlyRootFilesystem"), true},
			{"allowPrivilegeEscalation", c.get("securityContext", "allowPrivilegeEscalation"), false},
			{"capabilities", fmt.Sprint(c.get("securityContext", "capabilities", "drop")), "[ALL]"},
			{"liveness", c.get("livenessProbe", "httpGet", "path"), "/healthz"},
			{"readiness", c.get("readinessProbe", "httpGet", "path"), "/readyz"},
			{"memory limit env", c.get("env", envIndex(c, "TAKEDOWN_MEMORY_LIMIT"), "valueFrom", "resourceFieldRef", "resource"), "limits.memory"},
			{"listen address", containerEnv(d)["TAKEDOWN_HTTP_ADDR"], ":8080"},
		} {
			if fmt.Sprint(want.got) != fmt.Sprint(want.want) {
				t.Errorf("%s: %s is %v, want %v", name, want.what, want.got, want.want)
			}
		}
		for _, r := range []string{"requests", "limits"} {
			for _, res := range []string{"cpu", "memory"} {
				if c.get("resources", r, res) == nil {
					t.Errorf("%s: no resources.%s.%s", name, r, res)
				}
			}
		}
		if c.get("startupProbe") == nil {
			t.Errorf("%s: no startupProbe", name)
		}
		ratio, _ := strconv.ParseFloat(containerEnv(d)["TAKEDOWN_GO_MEMORY_RATIO"], 64)
		if ratio <= 0 || ratio > 1 || (name == "hasher") != (ratio < 0.9) {
			t.Errorf("%s: TAKEDOWN_GO_MEMORY_RATIO %v (the hasher's must be the lowest, for ffmpeg)", name, ratio)
		}
	}
}

func envIndex(c object, name string) int {
	list, _ := c.get("env").([]any)
	for i, e := range list {
		if m, _ := e.(map[string]any); m["name"] == name {
			return i
		}
	}
	return len(list)
}

// Bad values fail at install time with a message that names the value.
func TestBadValues(t *testing.T) {
	tl := offlineTools(t)
	for _, tc := range []struct {
		name   string
		values string
		apis   []string
		want   []string
	}{
		{"replicas not a number", "ingest:\n  replicas: two\n", nil,
			[]string{"/ingest/replicas", "want integer"}},
		{"unknown key", "hasher:\n  replica: 3\n", nil,
			[]string{"/hasher", "'replica' not allowed"}},
		{"unknown top-level key", "kafak:\n  brokers: kafka:9092\n", nil,
			[]string{"'kafak' not allowed"}},
		{"memory request above its limit", "hasher:\n  resources:\n    requests: {cpu: '1', memory: 4Gi}\n    limits: {cpu: '2', memory: 3Gi}\n", nil,
			[]string{"hasher.resources.requests.memory (4Gi) is above hasher.resources.limits.memory (3Gi)"}},
		{"KEDA max replicas above the partitions", "topics:\n  partitions: 6\nhasher:\n  autoscaling:\n    maxReplicas: 8\n", []string{apiKEDA},
			[]string{"hasher.autoscaling.maxReplicas (8) is above topics.partitions (6)"}},
		{"matcher limit too small for its bank", "matcher:\n  bankEntriesMillions: 20\n", nil,
			[]string{"matcher.resources.limits.memory (1Gi)", "matcher.bankEntriesMillions (20"}},
		{"a password without its Secret", "kafka:\n  sasl:\n    mechanism: SCRAM-SHA-512\n", nil,
			[]string{"kafka.sasl.existingSecret is empty"}},
		{"a webhook URL that is not one", "enforcer:\n  webhook:\n    url: platform/takedown\n", nil,
			[]string{"/enforcer/webhook/url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(tc.values), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"template", "takedown", chartDir(), "-f", file, "--kube-version", kubeVersions[len(kubeVersions)-1]}
			for _, a := range tc.apis {
				args = append(args, "--api-versions", a)
			}
			r := tl.run(ctxFor(t, time.Minute), nil, tl.Helm, args...)
			if r.Err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, r.Stderr)
				}
			}
		})
	}
}

// The values reference of the chart's README is the one helm-docs generates
// from the comments of values.yaml: regenerate it with `make chart-docs`.
func TestReadmeValuesReference(t *testing.T) {
	tl := offlineTools(t)
	out := must(t, tl.run(ctxFor(t, time.Minute), nil, tl.HelmDocs, "--dry-run", "--log-level", "warning",
		"--chart-search-root", chartDir(), "--template-files", "README.md.gotmpl"))
	have, err := os.ReadFile(filepath.Join(chartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != strings.TrimSpace(string(have)) {
		t.Fatalf("deployments/helm/takedown/README.md is stale: run `make chart-docs`")
	}
	// Every value has a description.
	for _, line := range strings.Split(string(have), "\n") {
		if strings.HasPrefix(line, "| ") && strings.HasSuffix(strings.TrimSpace(line), "|  |") {
			t.Errorf("value without a description: %s", line)
		}
	}
}
