package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one entry of takedownctl's command table: a command runs, or
// it holds subcommands. Dispatch and shell completion both read the table,
// so a command cannot exist without being completed.
type command struct {
	name string
	run  func(ctx context.Context, args []string, out, errOut io.Writer) error
	sub  []command
	// hidden commands are not offered for completion.
	hidden bool
	// noSettings marks a command that parses no settings: it is not in
	// `takedownctl settings` and has no flags to complete.
	noSettings bool
}

// commandTable is takedownctl's commands, in the order of its usage.
func commandTable() []command {
	return []command{
		{name: "hash", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdHash(ctx, a, out) }},
		{name: "match", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdMatch(ctx, a, out) }},
		{name: "robustness", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdRobustness(ctx, a, out) }},
		{name: "bank", sub: []command{
			{name: "add", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdBankAdd(ctx, a, out) }},
			{name: "import", run: cmdBankImport},
			{name: "export", run: cmdBankExport},
			{name: "list", run: cmdBankList},
			{name: "disable", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdBankDisable(ctx, a, out) }},
			{name: "configure", run: cmdBankConfigure},
		}},
		{name: "match-hashes", run: cmdMatchHashes},
		{name: "submit", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdSubmit(ctx, a, out) }},
		{name: "report", run: cmdReport},
		{name: "dlq", sub: []command{
			{name: "list", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdDLQList(ctx, a, out) }},
			{name: "show", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdDLQShow(ctx, a, out) }},
			{name: "replay", run: cmdDLQReplay},
		}},
		{name: "token", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdToken(ctx, a, out) }},
		{name: "topics", sub: []command{
			{name: "create", run: func(ctx context.Context, a []string, out, _ io.Writer) error { return cmdTopicsCreate(ctx, a, out) }},
		}},
		{name: "dev", run: func(ctx context.Context, a []string, _, _ io.Writer) error { return cmdDev(ctx, a) }},
		{name: "settings", noSettings: true, run: func(ctx context.Context, a []string, out, _ io.Writer) error {
			return cmdSettings(ctx, a, out)
		}},
		{name: "version", noSettings: true, run: func(_ context.Context, _ []string, out, _ io.Writer) error { return cmdVersion(out) }},
		{name: "help", noSettings: true, run: func(_ context.Context, _ []string, out, _ io.Writer) error {
			_, err := fmt.Fprint(out, usage)
			return err
		}},
		{name: "completion", sub: []command{
			{name: "bash", noSettings: true, run: func(_ context.Context, _ []string, out, _ io.Writer) error {
				return writeCompletion(out, bashCompletion)
			}},
			{name: "zsh", noSettings: true, run: func(_ context.Context, _ []string, out, _ io.Writer) error {
				return writeCompletion(out, zshCompletion)
			}},
		}},
		{name: completeCommand, hidden: true, noSettings: true, run: func(_ context.Context, a []string, out, _ io.Writer) error {
			return complete(a, out)
		}},
	}
}

// commandLines are the command lines of the table that parse settings
// (e.g. ["bank", "add"]), in the table's order: the commands of
// `takedownctl settings` and docs/settings.md.
func commandLines() [][]string {
	var out [][]string
	var walk func(prefix []string, table []command)
	walk = func(prefix []string, table []command) {
		for _, c := range table {
			path := append(slices.Clip(prefix), c.name)
			switch {
			case c.sub != nil:
				walk(path, c.sub)
			case !c.noSettings && !c.hidden:
				out = append(out, path)
			}
		}
	}
	walk(nil, commandTable())
	return out
}

// subcommands returns the subcommands of the table's command name.
func subcommands(name string) []command {
	for _, c := range commandTable() {
		if c.name == name {
			return c.sub
		}
	}
	return nil
}

// dispatch runs the command of table that args[0] names (under parent, for
// messages), with the rest of args.
func dispatch(ctx context.Context, table []command, parent string, args []string, out, errOut io.Writer) error {
	var names []string
	for _, c := range table {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	what := "command"
	need := ""
	if parent != "" {
		what = parent + " subcommand"
		need = fmt.Sprintf("; %s needs a subcommand: %s", parent, strings.Join(names, ", "))
	}
	if len(args) == 0 {
		if parent == "" {
			return usageError{"no command"}
		}
		return usageError{need[2:]}
	}
	i := slices.IndexFunc(table, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		return usageError{fmt.Sprintf("unknown %s %q%s", what, args[0], need)}
	}
	c := table[i]
	if c.sub != nil {
		name := c.name
		if parent != "" {
			name = parent + " " + name
		}
		return dispatch(ctx, c.sub, name, args[1:], out, errOut)
	}
	return c.run(ctx, args[1:], out, errOut)
}

// completeCommand is the hidden command the completion scripts call:
// `takedownctl __complete WORD...` prints the candidates for the word after
// WORD... (the words typed after takedownctl), one a line.
const completeCommand = "__complete"

// complete prints the candidates after words: command names, then
// subcommand names, then, for a command that runs, its flags. Flags come
// from the command itself (its settings' usage, which -h prints), so they
// are the flags it parses.
func complete(words []string, out io.Writer) error {
	table := commandTable()
	for {
		if len(words) == 0 {
			for _, c := range table {
				if !c.hidden {
					fmt.Fprintln(out, c.name)
				}
			}
			return nil
		}
		i := slices.IndexFunc(table, func(c command) bool { return c.name == words[0] && !c.hidden })
		if i < 0 {
			return nil // not a command: nothing to offer
		}
		c := table[i]
		if c.sub != nil {
			table, words = c.sub, words[1:]
			continue
		}
		flags, err := commandFlags(&c)
		if err != nil {
			return err
		}
		for _, f := range flags {
			fmt.Fprintln(out, "--"+f)
		}
		return nil
	}
}

// commandFlags runs c with -h and returns the flags of the settings it
// made (see newSet): every command parses its settings before it does
// anything, so -h only makes them.
func commandFlags(c *command) ([]string, error) {
	if c.noSettings {
		return nil, nil
	}
	rec := &setRecorder{}
	err := c.run(context.WithValue(context.Background(), setRecorderKey{}, rec), []string{"-h"}, io.Discard, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || len(rec.sets) != 1 {
		return nil, fmt.Errorf("%s -h: made %d settings sets and returned %v, want 1 and the help error", c.name, len(rec.sets), err)
	}
	var names []string
	for _, st := range rec.sets[0].AllSettings() {
		names = append(names, st.Flag)
	}
	return names, nil
}

func writeCompletion(out io.Writer, script string) error {
	_, err := io.WriteString(out, script)
	return err
}

// The scripts ask the binary being completed (the word typed, so that
// bin/takedownctl completes too) for the candidates; what is not a command
// or flag completes as a file name.
const bashCompletion = `# bash completion for takedownctl: source <(takedownctl completion bash)
_takedownctl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local IFS=$'\n'
    local cands
    cands=$("${COMP_WORDS[0]}" ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null) || return
    COMPREPLY=($(compgen -W "$cands" -- "$cur"))
}
complete -o default -o bashdefault -F _takedownctl takedownctl
`

const zshCompletion = `#compdef takedownctl
# zsh completion for takedownctl: source <(takedownctl completion zsh)
# (after compinit), or save as _takedownctl in a directory of $fpath.
_takedownctl() {
    local -a cands
    cands=("${(@f)$(${words[1]} ` + completeCommand + ` "${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
    cands=(${cands:#})
    # A command's flags for a word that starts like one; else files.
    if [[ ${words[CURRENT]} != -* && ${cands[1]} == --* ]]; then
        cands=()
    fi
    if (( ${#cands} )); then
        compadd -- "${cands[@]}"
    else
        _files
    fi
}
if (( $+functions[compdef] )); then
    compdef _takedownctl takedownctl
fi
`
