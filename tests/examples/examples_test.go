package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// stack is a running `takedownctl dev` and what it printed for the reader.
type stack struct {
	base       int // the five services listen here and at the four ports after it
	kafka      int
	platform   int
	keyID      string
	keySecret  string
	review     string // REVIEW_SECRET
	leadToken  string
	itemID     string // the demo's weaker copy, queued for review
	out        func() string
	takedowns  func(t *testing.T) []json.RawMessage
	reviewBase string
}

// fills are the placeholders the docs ask the reader to fill in, and what
// the reader fills them with: what `make run` printed, the id of an item in
// the review queue, a stream id of their own. A fill no example uses any
// more fails the test (the table cannot go stale), and so does a block that
// still holds "…" once filled (a placeholder nobody fills).
var fills = []struct {
	page, placeholder string
	value             func(s *stack) string
}{
	{"README.md", "export TAKEDOWN_INGEST_KEY_ID=dev-… TAKEDOWN_INGEST_KEY_SECRET=…", func(s *stack) string {
		return "export TAKEDOWN_INGEST_KEY_ID=" + s.keyID + " TAKEDOWN_INGEST_KEY_SECRET=" + s.keySecret
	}},
	{"docs/integration.md", "KEY_ID=dev-…; SECRET=…", func(s *stack) string {
		return "KEY_ID=" + s.keyID + "; SECRET=" + s.keySecret
	}},
	{"docs/integration.md", "STREAM_ID", func(*stack) string { return "live-42" }},
	{"docs/reviewer-guide.md", "REVIEW_SECRET=…", func(s *stack) string { return "REVIEW_SECRET=" + s.review }},
	{"docs/reviewer-guide.md", "/items/ID/", func(s *stack) string { return "/items/" + s.itemID + "/" }},
}

// docPorts are the dev stack's default ports, as the examples name them,
// by what listens there; the test's stack runs on free ports instead (a
// `make run` may be running beside `make test`), and the examples' addresses
// are moved to them. A port not listed here is left alone, so an example
// with a wrong port still fails.
var docPorts = map[int]string{8080: "ingest", 8081: "hasher", 8082: "matcher", 8083: "review", 8084: "enforcer", 8090: "platform", 9092: "kafka"}

// TestDocExamplesRun builds the binaries as `make build` does, starts
// `bin/takedownctl dev` as `make run` does, and runs every shell block of
// the pages that is not marked (markdown_test.go), page by page in one bash
// each, as a reader pasting them into one terminal would: `set -euo
// pipefail`, curl failing on HTTP errors, only the placeholders filled. It
// then checks the CLI synopsis against the binary and the webhook example
// against the takedowns the dev stack's demo platform received.
func TestDocExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole pipeline")
	}
	for _, tool := range []string{"bash", "curl", "openssl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(testenv.EnvRequire) == "1" {
				t.Fatalf("the examples need %s: %v", tool, err)
			}
			t.Skipf("the examples need %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := repoBlocks(t, root)
	if t.Failed() {
		return
	}
	work := t.TempDir()
	start := time.Now()
	build(t, root, filepath.Join(work, "bin"))
	t.Logf("built the binaries in %s", time.Since(start).Round(time.Millisecond))
	// The file README's `takedownctl submit picture.jpg` sends: the
	// reader's own.
	writePicture(t, filepath.Join(work, "picture.jpg"))
	start = time.Now()
	s := startStack(t, work)
	t.Logf("takedownctl dev ran its demo and was ready in %s", time.Since(start).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("takedownctl dev's output:\n%s", s.out())
		}
	}()
	env := exampleEnv(t, work, s)

	used := make([]bool, len(fills))
	var runs []block
	for _, b := range blocks {
		if !b.runs() {
			continue
		}
		for i, f := range fills {
			if f.page == b.page && strings.Contains(b.text, f.placeholder) {
				b.text = strings.ReplaceAll(b.text, f.placeholder, f.value(s))
				used[i] = true
			}
		}
		if strings.Contains(b.text, "…") {
			t.Errorf("%s: a placeholder (…) that this test does not know how to fill; add it to fills:\n%s", b.where(), b.text)
			continue
		}
		b.text = movePorts(b.text, s)
		runs = append(runs, b)
	}
	for i, f := range fills {
		if !used[i] {
			t.Errorf("%s: no example holds %q any more: remove it from fills", f.page, f.placeholder)
		}
	}
	for _, page := range pageOrder(runs) {
		var these []block
		for _, b := range runs {
			if b.page == page {
				these = append(these, b)
			}
		}
		runPage(t, work, env, these)
	}

	for _, b := range blocks {
		switch b.kind {
		case "synopsis":
			checkSynopsis(t, work, b)
		case "webhook":
			checkWebhook(t, root, b, s.takedowns(t))
		}
	}
}

// pageOrder lists the pages of blocks in their first block's order.
func pageOrder(blocks []block) []string {
	var out []string
	for _, b := range blocks {
		if !slices.Contains(out, b.page) {
			out = append(out, b.page)
		}
	}
	return out
}

// build writes the five services and takedownctl into dir, as `make
// build` writes them into bin/.
func build(t *testing.T, root, dir string) {
	t.Helper()
	pkgs := []string{"./cmd/takedownctl"}
	for _, s := range []string{"ingest", "hasher", "matcher", "review", "enforcer"} {
		pkgs = append(pkgs, "./services/"+s)
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// startStack runs `bin/takedownctl dev` in work with its ports moved to a
// free range, waits for the demo to end and reads what it printed.
func startStack(t *testing.T, work string) *stack {
	t.Helper()
	base := freeRange(t, 7)
	s := &stack{base: base, kafka: base + 5, platform: base + 6, reviewBase: fmt.Sprintf("http://127.0.0.1:%d", base+3)}
	cmd := exec.Command("bin/takedownctl", "dev")
	cmd.Dir = work
	cmd.Env = append(testenv.Environ("TAKEDOWN_"),
		fmt.Sprintf("TAKEDOWN_DEV_PORT_BASE=%d", base),
		fmt.Sprintf("TAKEDOWN_DEV_KAFKA_PORT=%d", s.kafka),
		fmt.Sprintf("TAKEDOWN_DEMO_PLATFORM_ADDR=127.0.0.1:%d", s.platform))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var (
		mu    sync.Mutex
		out   strings.Builder
		ready = make(chan struct{})
		ended = make(chan struct{})
		once  sync.Once
	)
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "Running until Ctrl-C.") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	s.out = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	t.Cleanup(func() {
		// Ctrl-C, as a reader ends `make run`.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	select {
	case <-ready:
	case <-ended:
		t.Fatalf("takedownctl dev ended before it was ready:\n%s", s.out())
	case <-time.After(3 * time.Minute):
		t.Fatalf("takedownctl dev was not ready (no \"Running until Ctrl-C.\") within 3 minutes:\n%s", s.out())
	}
	all := s.out()
	s.keyID = printed(t, all, "TAKEDOWN_INGEST_KEY_ID=")
	s.keySecret = printed(t, all, "TAKEDOWN_INGEST_KEY_SECRET=")
	s.review = printed(t, all, "REVIEW_SECRET=")
	if _, after, ok := strings.Cut(all, "or paste this token there (API: Authorization: Bearer TOKEN):\n"); ok {
		s.leadToken, _, _ = strings.Cut(after, "\n")
	} else {
		t.Fatalf("takedownctl dev printed no lead token:\n%s", all)
	}
	s.itemID = weakerCopyItem(t, s)
	s.takedowns = func(t *testing.T) []json.RawMessage {
		var got []json.RawMessage
		getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/takedowns", s.platform), "", &got)
		return got
	}
	return s
}

// weakerCopyItem is the review item of the demo's weaker copy, which a
// reader finds in the queue (GET /v1/items) with the printed lead token.
func weakerCopyItem(t *testing.T, s *stack) string {
	t.Helper()
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	getJSON(t, s.reviewBase+"/v1/items?state=pending", s.leadToken, &list)
	for _, it := range list.Items {
		if strings.HasSuffix(it.ID, "-weaker-copy") {
			return it.ID
		}
	}
	t.Fatalf("the demo's weaker copy is not in the review queue: %+v", list.Items)
	return ""
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	resp, body := testenv.Get(t, url, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// printed is the value takedownctl dev printed after name, up to the end of
// its line or a space.
func printed(t *testing.T, out, name string) string {
	t.Helper()
	_, v, ok := strings.Cut(out, name)
	if !ok {
		t.Fatalf("takedownctl dev printed no %s:\n%s", name, out)
	}
	if i := strings.IndexAny(v, " \n"); i >= 0 {
		v = v[:i]
	}
	return v
}

// exampleEnv is the examples' environment: the test's own without its
// TAKEDOWN_* settings (a reader's shell has none), curl failing on HTTP
// errors, and takedownctl's defaults moved with the stack's ports.
func exampleEnv(t *testing.T, work string, s *stack) []string {
	t.Helper()
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	wrap := filepath.Join(work, "wrap")
	if err := os.Mkdir(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	// First in PATH: an example's `curl -s` that gets a 4xx or 5xx fails
	// its block, with the answer's body and the error in the output.
	script := "#!/bin/sh\nexec " + realCurl + " --fail-with-body --show-error --max-time 60 \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "curl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// takedownctl's defaults are the dev stack's default addresses: each
	// is checked to be one, and moved as the examples' addresses are.
	tdctl := filepath.Join(work, "bin", "takedownctl")
	moved := []string{}
	for _, d := range []struct{ cmd, flag, env string }{
		{"submit", "ingest-url", "TAKEDOWN_INGEST_URL"},
		{"submit", "review-url", "TAKEDOWN_REVIEW_URL"},
		{"report", "kafka-brokers", "TAKEDOWN_KAFKA_BROKERS"},
	} {
		def := flagDefault(t, tdctl, d.cmd, d.flag)
		m := movePorts(def, s)
		if m == def {
			t.Fatalf("takedownctl %s --%s defaults to %q, no address of the dev stack's", d.cmd, d.flag, def)
		}
		moved = append(moved, d.env+"="+m)
	}
	// And the dev stack's own defaults are the ports the examples name.
	for flag, want := range map[string]string{"dev-port-base": "8080", "dev-kafka-port": "9092", "demo-platform-addr": "127.0.0.1:8090"} {
		if got := flagDefault(t, tdctl, "dev", flag); got != want {
			t.Errorf("takedownctl dev --%s defaults to %q; docPorts has %s", flag, got, want)
		}
	}
	env := testenv.Environ("TAKEDOWN_")
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + wrap + string(os.PathListSeparator) + v
		}
	}
	return append(env, moved...)
}

// flagDefault reads a flag's default from `takedownctl CMD -h`.
func flagDefault(t *testing.T, bin, cmd, flag string) string {
	t.Helper()
	out, err := exec.Command(bin, cmd, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("takedownctl %s -h: %v\n%s", cmd, err, out)
	}
	m := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(flag) + ` / \S+ \(default "([^"]*)"\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("takedownctl %s -h lists no --%s with a default:\n%s", cmd, flag, out)
	}
	return string(m[1])
}

var address = regexp.MustCompile(`\b(localhost|127\.0\.0\.1):(\d+)\b`)

// movePorts moves the dev stack's default addresses in text to the test's
// stack.
func movePorts(text string, s *stack) string {
	return address.ReplaceAllStringFunc(text, func(a string) string {
		m := address.FindStringSubmatch(a)
		port, _ := strconv.Atoi(m[2])
		var to int
		switch what := docPorts[port]; what {
		case "":
			return a
		case "platform":
			to = s.platform
		case "kafka":
			to = s.kafka
		default:
			to = s.base + port - 8080
		}
		return m[1] + ":" + strconv.Itoa(to)
	})
}

// runPage runs one page's blocks in order in one bash, so that a block can
// use what an earlier one set, and fails with the block that failed: its
// file and line, its text as run and its output.
func runPage(t *testing.T, work string, env []string, blocks []block) {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -euo pipefail\nshopt -s inherit_errexit\n")
	for i, b := range blocks {
		fmt.Fprintf(&script, "printf '\\n@@block %d\\n'\n%s", i, b.text)
	}
	script.WriteString("printf '\\n@@done\\n'\n")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = work, env
	// Its own process group: a timeout ends the commands an example
	// started, not only bash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	outputs := map[int]string{}
	last := -1
	done := false
	for _, l := range strings.SplitAfter(out.String(), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "@@block "); ok {
			last, _ = strconv.Atoi(n)
			continue
		}
		if strings.TrimSpace(l) == "@@done" {
			done = true
			continue
		}
		if last >= 0 {
			outputs[last] += l
		}
	}
	t.Logf("%s: its examples ran in %s", blocks[0].page, time.Since(start).Round(time.Millisecond))
	for i, b := range blocks {
		if i < last || i == last && done {
			t.Logf("%s ran:\n%s--- output:\n%s", b.where(), b.text, outputs[i])
		}
	}
	if err != nil || !done {
		if last < 0 {
			t.Errorf("%s: bash failed before the first example: %v\n%s", blocks[0].page, err, out.String())
			return
		}
		b := blocks[last]
		t.Errorf("%s: the example failed (%v); later examples of the page did not run.\n--- the block, as run:\n%s--- its output:\n%s", b.where(), err, b.text, outputs[last])
	}
}

// checkSynopsis checks each command of a synopsis block against the
// binary: `takedownctl CMD [SUB] -h` succeeds and lists every --flag the
// line names.
func checkSynopsis(t *testing.T, work string, b block) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(b.text, "\n") {
		if c, _, ok := strings.Cut(l, " #"); ok {
			l = c
		}
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, " ") && len(lines) > 0:
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
		default:
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	word := regexp.MustCompile(`^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*$`)
	flagRE := regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	checked := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "takedownctl" {
			t.Errorf("%s: synopsis line %q does not start with takedownctl", b.where(), l)
			continue
		}
		cmds := [][]string{nil}
		for _, w := range f[1:] {
			if !word.MatchString(w) {
				break
			}
			var next [][]string
			for _, alt := range strings.Split(w, "|") {
				for _, c := range cmds {
					next = append(next, append(slices.Clone(c), alt))
				}
			}
			cmds = next
		}
		for _, c := range cmds {
			out, err := exec.Command(filepath.Join(work, "bin", "takedownctl"), append(c, "-h")...).CombinedOutput()
			if err != nil {
				t.Errorf("%s: `takedownctl %s -h`: %v\n%s", b.where(), strings.Join(c, " "), err, out)
				continue
			}
			checked++
			if c[0] == "completion" {
				continue // prints the script: it has no flags
			}
			for _, m := range flagRE.FindAllStringSubmatch(l, -1) {
				if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(m[1]) + ` (/ |\(flag only)`).Match(out) {
					t.Errorf("%s: the synopsis gives `takedownctl %s` a --%s it does not have", b.where(), strings.Join(c, " "), m[1])
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("%s: only %d commands of the synopsis checked", b.where(), checked)
	}
}

// checkWebhook compares the documented webhook body with the takedowns the
// dev stack's demo platform received: the same fields as a real one of its
// action and trigger, signal types the matcher matches by default at their
// default thresholds, evidence valid against the events' schema of a match,
// and the reason the policy writes for that evidence.
func checkWebhook(t *testing.T, root string, b block, received []json.RawMessage) {
	t.Helper()
	var ex webhook.Takedown
	dec := json.NewDecoder(strings.NewReader(b.text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ex); err != nil {
		t.Errorf("%s: the webhook example is not a webhook body (pkg/edges/webhook.Takedown): %v", b.where(), err)
		return
	}
	var exFields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(b.text), &exFields); err != nil {
		t.Fatal(err)
	}
	var (
		got            []webhook.Takedown
		fields         []map[string]json.RawMessage
		evidenceFields []map[string]json.RawMessage
	)
	for _, raw := range received {
		var td webhook.Takedown
		var f map[string]json.RawMessage
		if json.Unmarshal(raw, &td) != nil || json.Unmarshal(raw, &f) != nil {
			t.Errorf("the demo platform kept a takedown that is no JSON object: %s", raw)
			continue
		}
		if td.Action != ex.Action || td.Trigger != ex.Trigger {
			continue
		}
		got, fields = append(got, td), append(fields, f)
		var ev struct {
			Evidence []map[string]json.RawMessage `json:"evidence"`
		}
		_ = json.Unmarshal(raw, &ev)
		evidenceFields = append(evidenceFields, ev.Evidence...)
	}
	if len(got) == 0 {
		t.Errorf("%s: the dev stack sent no %s takedown with trigger %s to compare the example with (it received %d takedowns)", b.where(), ex.Action, ex.Trigger, len(received))
		return
	}
	compareFields(t, b.where()+": the webhook example", exFields, fields)
	for _, e := range exFieldsEvidence(exFields) {
		compareFields(t, b.where()+": the webhook example's evidence", e, evidenceFields)
	}

	on, thresholds := bank.DefaultEnabled(), bank.DefaultThresholds()
	match := matchSchema(t, root)
	for _, m := range ex.Evidence {
		if !on[m.SignalType] {
			t.Errorf("%s: the webhook example shows a %s match, a signal type the matcher does not match by default (bank.DefaultEnabled)", b.where(), m.SignalType)
		}
		if m.Threshold != thresholds[m.SignalType] {
			t.Errorf("%s: the webhook example's %s threshold is %d, the default %d", b.where(), m.SignalType, m.Threshold, thresholds[m.SignalType])
		}
	}
	for i, e := range exFieldsEvidence(exFields) {
		raw, _ := json.Marshal(e)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := match.Validate(v); err != nil {
			t.Errorf("%s: the webhook example's evidence %d is not a match of schemas/media-matched.v1.json: %v", b.where(), i, err)
		}
	}

	// The policy's reason for the example's evidence, with what the
	// enforcer adds to it in the real takedowns (the rule that chose the
	// action).
	d := policy.Default().Decide(ex.Evidence)
	if ex.Trigger == "auto" && d.Action != policy.ActionRemove {
		t.Errorf("%s: the webhook example is an automatic removal, but the default policy would %s its evidence: %s", b.where(), d.Action, d.Reason)
	}
	var want []string
	for _, r := range got {
		if rd := policy.Default().Decide(r.Evidence); rd.Reason != "" && strings.HasPrefix(r.Reason, rd.Reason) {
			want = append(want, d.Reason+strings.TrimPrefix(r.Reason, rd.Reason))
		}
	}
	if len(want) == 0 {
		t.Errorf("%s: no real %s takedown's reason starts with the policy's reason: %+v", b.where(), ex.Action, got)
	} else if !slices.Contains(want, ex.Reason) {
		t.Errorf("%s: the webhook example's reason is\n  %s\nthe pipeline writes, for its evidence,\n  %s", b.where(), ex.Reason, want[0])
	}
	if ex.Bank != d.Best.Bank {
		t.Errorf("%s: the webhook example's bank is %q, its evidence's %q", b.where(), ex.Bank, d.Best.Bank)
	}
}

func exFieldsEvidence(f map[string]json.RawMessage) []map[string]json.RawMessage {
	var ev []map[string]json.RawMessage
	_ = json.Unmarshal(f["evidence"], &ev)
	return ev
}

// compareFields checks that example has every field all of have have, and
// none that none of them has.
func compareFields(t *testing.T, what string, example map[string]json.RawMessage, have []map[string]json.RawMessage) {
	t.Helper()
	if len(have) == 0 {
		t.Errorf("%s: nothing real to compare with", what)
		return
	}
	for k := range have[0] {
		all := true
		for _, r := range have {
			_, ok := r[k]
			all = all && ok
		}
		if _, ok := example[k]; all && !ok {
			t.Errorf("%s lacks %q, which every such takedown of the dev stack has (e.g. %s)", what, k, have[0][k])
		}
	}
	for k := range example {
		some := false
		for _, r := range have {
			_, ok := r[k]
			some = some || ok
		}
		if !some {
			t.Errorf("%s has %q, which no such takedown of the dev stack has", what, k)
		}
	}
}

// matchSchema is the schema of one match (media.matched's matches[]), which
// webhook evidence is.
func matchSchema(t *testing.T, root string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "schemas", "media-matched.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "file:///media-matched.v1.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url + "#/properties/matches/items")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// freeRange finds n consecutive free ports on 127.0.0.1, below Linux's
// ephemeral range (32768 and up) so that no outgoing connection of a test
// running beside this one takes one between the check and the bind.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(12000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// writePicture writes a JPEG unlike any bank entry of the demo.
func writePicture(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8((x ^ y) * 3), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
