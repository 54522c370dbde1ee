package main

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Every command of the table is in the usage, and completes: commands and
// subcommands by name, and the flags of each command that parses settings,
// read from the command itself.
func TestCompletionFollowsTheCommandTable(t *testing.T) {
	var leaves [][]string
	var walk func(prefix []string, table []command)
	walk = func(prefix []string, table []command) {
		var names []string
		for _, c := range table {
			if c.hidden {
				continue
			}
			names = append(names, c.name)
			path := append(slices.Clone(prefix), c.name)
			if c.sub != nil {
				walk(path, c.sub)
			} else {
				leaves = append(leaves, path)
			}
		}
		var out bytes.Buffer
		if err := complete(prefix, &out); err != nil {
			t.Fatalf("complete %q: %v", prefix, err)
		}
		if got := strings.Fields(out.String()); !slices.Equal(got, names) {
			t.Errorf("complete %q = %q, want %q", prefix, got, names)
		}
	}
	walk(nil, commandTable())
	noSettings := map[string]bool{"settings": true, "version": true, "help": true, "completion bash": true, "completion zsh": true}
	for _, path := range leaves {
		name := strings.Join(path, " ")
		if !usageNames(path) {
			t.Errorf("usage has no line for %q", "takedownctl "+name)
		}
		var out bytes.Buffer
		if err := complete(path, &out); err != nil {
			t.Fatalf("complete %q: %v", path, err)
		}
		flags := strings.Fields(out.String())
		if noSettings[name] {
			continue
		}
		if len(flags) == 0 {
			t.Errorf("%s: no flags to complete", name)
		}
		for _, f := range flags {
			if !strings.HasPrefix(f, "--") {
				t.Errorf("%s: flag %q", name, f)
			}
		}
	}
	var out bytes.Buffer
	if err := complete([]string{"bank", "disable"}, &out); err != nil || !slices.Contains(strings.Fields(out.String()), "--kafka-brokers") {
		t.Errorf("bank disable completes %q, %v; want --kafka-brokers among them", out.String(), err)
	}
}

// The scripts load in their shells, register takedownctl, and complete
// through the binary.
func TestCompletionScripts(t *testing.T) {
	bin := ctlBinary(t)
	bash := func(script string) string {
		t.Helper()
		out, err := exec.Command("bash", "-c", "source <('"+bin+"' completion bash) && "+script).CombinedOutput()
		if err != nil {
			t.Fatalf("bash %s: %v\n%s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := bash("complete -p takedownctl"); got != "complete -o bashdefault -o default -F _takedownctl takedownctl" {
		t.Errorf("complete -p takedownctl: %q", got)
	}
	for _, tt := range []struct {
		words string
		want  string
	}{
		{"'' ba", "bank"},
		{"bank di", "disable"},
		{"bank disable --bank B ID --kafka-b", "--kafka-brokers"},
		{"dlq ", "list show replay"},
		{"completion ", "bash zsh"},
		{"submit --wa", "--wait"},
	} {
		words := strings.Fields(tt.words)
		if strings.HasSuffix(tt.words, " ") {
			words = append(words, "")
		}
		if words[0] == "''" {
			words = words[1:]
		}
		quoted := []string{"'" + bin + "'"}
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		got := bash("COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)) + "; _takedownctl; echo \"${COMPREPLY[*]}\"")
		if got != tt.want {
			t.Errorf("completing %q: %q, want %q", tt.words, got, tt.want)
		}
	}

	zsh, err := exec.LookPath("zsh")
	if err != nil {
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatalf("zsh is not installed, and %s asks for every tool (.ci/run installs Debian's zsh)", testenv.EnvRequire)
		}
		t.Log("zsh not installed: its script is not checked")
		return
	}
	out, err := exec.Command(zsh, "-c", "autoload -U compinit && compinit -u && source <('"+bin+"' completion zsh) && print -r -- $_comps[takedownctl]").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_takedownctl" {
		t.Errorf("zsh: %v: %q", err, out)
	}
	// The function, with compadd and _files standing in for zsh's
	// completion system (zsh filters the candidates by the typed prefix).
	for _, tt := range []struct {
		words string
		want  string
	}{
		{"ba", "hash match robustness bank match-hashes submit report dlq token topics dev settings version help completion"},
		{"bank di", "add import export list disable configure"},
		{"submit --wa", "--wait"},
		{"submit pic", "(files)"},
	} {
		words := append([]string{"'" + bin + "'"}, strings.Fields(tt.words)...)
		script := "autoload -U compinit && compinit -u && source <('" + bin + "' completion zsh); " +
			"compadd() { shift; print -r -- \"$@\" }; _files() { print '(files)' }; " +
			"words=(" + strings.Join(words, " ") + "); CURRENT=" + strconv.Itoa(len(words)) + "; _takedownctl"
		out, err := exec.Command(zsh, "-c", script).CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil || !(got == tt.want || strings.HasPrefix(tt.want, "--") && slices.Contains(strings.Fields(got), tt.want)) {
			t.Errorf("zsh completing %q: %v: %q, want %q", tt.words, err, got, tt.want)
		}
	}
}

// usageNames reports whether a line of the usage starts with takedownctl
// and path's words, a subcommand also as one of a|b.
func usageNames(path []string) bool {
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < len(path)+1 || f[0] != "takedownctl" {
			continue
		}
		ok := true
		for i, w := range path {
			ok = ok && slices.Contains(strings.Split(f[i+1], "|"), w)
		}
		if ok {
			return true
		}
	}
	return false
}
