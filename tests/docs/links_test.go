package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// markdownLink matches a Markdown link's target: [text](target).
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingLine matches a Markdown heading.
var headingLine = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)

// anchor is the id GitHub gives a heading: lower case, punctuation but
// hyphens and underscores dropped, spaces as hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the ids of a Markdown file's headings, outside code blocks.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingLine.FindAllStringSubmatch(withoutCode(text), -1) {
		out[anchor(m[1])] = true
	}
	return out
}

// withoutCode blanks fenced code blocks, where a # is a comment and a
// bracket is code.
func withoutCode(text string) string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// Every relative link of the README and of docs/ leads somewhere: the file
// or folder exists, and a #fragment names a heading of the file it points
// into. The README's sections moved to docs/ (issue 16), so a link that
// still points at an old README anchor fails here.
func TestDocumentationLinksResolve(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{filepath.Join(root, "README.md"), filepath.Join(root, "deployments", "helm", "takedown", "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, more...)
	checked := 0
	for _, page := range pages {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		for _, m := range markdownLink.FindAllStringSubmatch(withoutCode(string(raw)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
			}
			checked++
			info, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s: link %q: %v", rel, target, err)
				continue
			}
			if frag == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q has a fragment but does not point into a Markdown file", rel, target)
				continue
			}
			text, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(text))[frag] {
				t.Errorf("%s: link %q: no heading with the id %q in %s", rel, target, frag, filepath.Base(dest))
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d links: are the pages where this test looks?", checked)
	}
}

func TestAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Deploy on Kubernetes":                   "deploy-on-kubernetes",
		"Ingest API: signed requests":            "ingest-api-signed-requests",
		"Throughput, faults and capacity":        "throughput-faults-and-capacity",
		"`takedownctl bank add`":                 "takedownctl-bank-add",
		"TAKEDOWN_HTTP_ADDR and its neighbours ": "takedown_http_addr-and-its-neighbours",
	} {
		if got := anchor(heading); got != want {
			t.Errorf("anchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
