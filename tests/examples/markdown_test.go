package examples

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// block is one fenced code block of a page.
type block struct {
	page string // relative to the repository root, with slashes
	line int    // of the opening fence, counted from 1
	lang string // the info string's first word
	// kind and note are the marker's: "" (none), "skip", "synopsis" or a
	// checker's name (checkers).
	kind, note string
	text       string
}

func (b block) where() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

// Languages whose blocks are shell commands: they run unless marked.
var shellLangs = []string{"sh", "bash", "shell", "console", "zsh"}

// checkers are the marker kinds that a JSON block may carry: each names the
// check of TestDocExamplesRun that compares the block with what the dev
// stack produces.
var checkers = []string{"webhook"}

// marker is the HTML comment, on the line right before a block's opening
// fence, that says what becomes of the block: `<!-- example: KIND -->` or
// `<!-- example: KIND: NOTE -->`.
var marker = regexp.MustCompile(`^<!-- example: ([a-z]+)(?:: (.*?))? -->$`)

// pages are the Markdown files whose examples a reader meets: the README,
// the chart's README and docs/*.md, as tests/docs checks their links.
func pages(t *testing.T, root string) []string {
	t.Helper()
	out := []string{"README.md", "deployments/helm/takedown/README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range more {
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// scan returns a page's fenced blocks, and what breaks the rules
// docs/development.md states ("Examples that run"): a fence without a
// language, an indented code block, a marker that is malformed, unknown,
// without a reason to skip, on a block it does not apply to or on no block.
func scan(page, text string) (blocks []block, problems []string) {
	lines := strings.Split(text, "\n")
	bad := func(n int, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: ", page, n)+fmt.Sprintf(format, a...))
	}
	var (
		open      *block // the block being read
		fence     string // its opening fence's characters
		body      []string
		kind      string // the marker waiting for its block
		note      string
		markedAt  int
		prevBlank = true
		lastText  string // the last non-blank line outside blocks
	)
	for i, l := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(l)
		if open != nil {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				open.text = strings.Join(body, "\n") + "\n"
				blocks = append(blocks, *open)
				open, body = nil, nil
				prevBlank = false
				continue
			}
			body = append(body, l)
			continue
		}
		if f := fenceOf(l); f != "" {
			info := strings.TrimSpace(strings.TrimLeft(trimmed, f[:1]))
			b := block{page: page, line: n}
			if f := strings.Fields(info); len(f) > 0 {
				b.lang = strings.ToLower(f[0])
			}
			if markedAt == n-1 && kind != "" {
				b.kind, b.note = kind, note
			}
			kind, markedAt = "", 0
			switch {
			case b.lang == "":
				bad(n, "a fenced block without a language: tag it sh (an example that runs against `make run`), or text for output, pictures and formulas")
			case slices.Contains(shellLangs, b.lang):
				switch {
				case b.kind == "skip" && b.note == "":
					bad(n, "`<!-- example: skip -->` needs the reason: `<!-- example: skip: WHY -->`")
				case b.kind != "" && b.kind != "skip" && b.kind != "synopsis":
					bad(n, "a shell block takes the marker skip (with the reason) or synopsis, not %q", b.kind)
				}
			case b.lang == "json":
				switch {
				case b.kind == "skip" && b.note == "":
					bad(n, "`<!-- example: skip -->` needs the reason: `<!-- example: skip: WHY -->`")
				case b.kind != "skip" && !slices.Contains(checkers, b.kind):
					bad(n, "a JSON block says what the pipeline sends or takes: mark it with the check that compares it with the dev stack (%s), or skip it with the reason", strings.Join(checkers, ", "))
				}
			case b.kind != "":
				bad(n, "a %s block is never run: the marker %q has nothing to do", b.lang, b.kind)
			}
			open, fence = &b, f
			continue
		}
		if m := marker.FindStringSubmatch(trimmed); m != nil {
			if markedAt != 0 {
				bad(markedAt, "a marker not followed by a fenced block")
			}
			kind, note, markedAt = m[1], m[2], n
			if !slices.Contains(append([]string{"skip", "synopsis"}, checkers...), kind) {
				bad(n, "unknown marker %q", kind)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "<!--") && strings.Contains(trimmed, "example") {
			bad(n, "a malformed marker: want `<!-- example: KIND -->` or `<!-- example: KIND: NOTE -->`")
		}
		if markedAt != 0 && markedAt != n {
			bad(markedAt, "a marker not followed by a fenced block (it goes on the line right before the fence)")
			kind, markedAt = "", 0
		}
		// An indented code block would escape these rules: one starts after
		// a blank line with four spaces or a tab, unless it continues a
		// list item.
		blank := trimmed == ""
		if !blank && prevBlank && (strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")) && !listy(lastText) {
			bad(n, "an indented code block: fence it with a language (sh runs against `make run`, text is never run)")
		}
		if !blank {
			lastText = l
		}
		prevBlank = blank
	}
	if open != nil {
		bad(open.line, "a fenced block that never closes")
	}
	if markedAt != 0 {
		bad(markedAt, "a marker not followed by a fenced block")
	}
	return blocks, problems
}

// fenceOf returns the opening fence of a line (``` or ~~~ and more, indented
// at most three spaces), or "".
func fenceOf(l string) string {
	s := strings.TrimLeft(l, " ")
	if len(l)-len(s) > 3 {
		return ""
	}
	for _, c := range []string{"`", "~"} {
		n := len(s) - len(strings.TrimLeft(s, c))
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}

// listItem matches the start of a Markdown list item.
var listItem = regexp.MustCompile(`^\s*([-*+]|\d+[.)])\s`)

// listy says whether a line belongs to a list (an item or its indented
// continuation), after which an indented line is the list's, not code.
func listy(l string) bool {
	return listItem.MatchString(l) || strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t")
}

// repoBlocks scans every page, failing the test on any rule broken.
func repoBlocks(t *testing.T, root string) []block {
	t.Helper()
	var all []block
	for _, page := range pages(t, root) {
		raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
		if err != nil {
			t.Fatal(err)
		}
		blocks, problems := scan(page, string(raw))
		for _, p := range problems {
			t.Error(p)
		}
		all = append(all, blocks...)
	}
	return all
}

// runs says whether TestDocExamplesRun runs a block against the dev stack.
func (b block) runs() bool { return slices.Contains(shellLangs, b.lang) && b.kind == "" }

// TestDocBlocksAreMarked holds every page to the rules without starting
// anything: a shell block runs unless its marker says why not, a JSON block
// names its check, and no block hides as an untagged or indented one. It
// lists what is not run, and why.
func TestDocBlocksAreMarked(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := repoBlocks(t, root)
	run := 0
	for _, b := range blocks {
		switch {
		case b.runs():
			run++
		case b.kind == "skip":
			t.Logf("%s: not run: %s", b.where(), b.note)
		case b.kind != "":
			t.Logf("%s: checked as %s", b.where(), b.kind)
		}
	}
	if run < 3 {
		t.Errorf("only %d shell blocks run against the dev stack: are the pages where this test looks?", run)
	}
}

// The rules catch each way a block could escape them.
func TestScanRules(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want string // in a problem; "" for none
		runs int
	}{
		"a shell block runs":        {"text\n\n```sh\ncurl -s localhost:8080/x\n```\n", "", 1},
		"bash runs too":             {"```bash\ntrue\n```\n", "", 1},
		"skipped with a reason":     {"<!-- example: skip: needs a cluster -->\n```sh\nkubectl get pods\n```\n", "", 0},
		"skipped without a reason":  {"<!-- example: skip -->\n```sh\nkubectl get pods\n```\n", "needs the reason", 0},
		"a marker then a blank":     {"<!-- example: skip: x -->\n\n```sh\ntrue\n```\n", "not followed by a fenced block", 1},
		"an unknown marker":         {"<!-- example: maybe -->\n```sh\ntrue\n```\n", "unknown marker", 0},
		"a malformed marker":        {"<!-- example skip -->\n```sh\ntrue\n```\n", "malformed marker", 1},
		"an untagged fence":         {"```\ncurl localhost:8080\n```\n", "without a language", 0},
		"a tilde fence":             {"~~~sh\ntrue\n~~~\n", "", 1},
		"an indented code block":    {"Run this:\n\n    curl localhost:8080\n", "indented code block", 0},
		"a list's continuation":     {"- item\n\n    more of the item\n", "", 0},
		"JSON without a check":      {"```json\n{}\n```\n", "mark it with the check", 0},
		"JSON with a check":         {"<!-- example: webhook -->\n```json\n{}\n```\n", "", 0},
		"a marker on a text block":  {"<!-- example: skip: x -->\n```text\nout\n```\n", "never run", 0},
		"a block that never closes": {"```sh\ntrue\n", "never closes", 0},
		"a fence inside a block":    {"````sh\necho '```'\n````\n", "", 1},
	} {
		t.Run(name, func(t *testing.T) {
			blocks, problems := scan("x.md", tc.text)
			got := strings.Join(problems, "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want one with %q", got, tc.want)
			}
			runs := 0
			for _, b := range blocks {
				if b.runs() {
					runs++
				}
			}
			if runs != tc.runs {
				t.Errorf("%d blocks run, want %d", runs, tc.runs)
			}
		})
	}
}
