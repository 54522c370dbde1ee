package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// CommandSettings is one command's settings as `takedownctl settings`
// prints them. A flag bound on the flag set alone, with no environment
// variable, has an empty Env.
type CommandSettings struct {
	Command  string           `json:"command"`
	Settings []config.Setting `json:"settings"`
}

// setRecorder keeps the sets newSet makes under a context that carries it.
type setRecorder struct{ sets []*config.Set }

type setRecorderKey struct{}

// newSet makes a command's settings. Every command makes its set here, so
// that `takedownctl settings` (and through it docs/settings.md) sees the very
// settings the command binds, by running it with -h.
func newSet(ctx context.Context, name string) *config.Set {
	s := config.New(name)
	if r, ok := ctx.Value(setRecorderKey{}).(*setRecorder); ok {
		s.FlagSet().SetOutput(io.Discard)
		r.sets = append(r.sets, s)
	}
	return s
}

// commandSettings runs every command with -h and returns the settings it
// bound before stopping there.
func commandSettings(ctx context.Context) ([]CommandSettings, error) {
	var out []CommandSettings
	for _, c := range commandLines() {
		rec := &setRecorder{}
		err := run(context.WithValue(ctx, setRecorderKey{}, rec), append(append([]string(nil), c...), "-h"))
		name := "takedownctl " + strings.Join(c, " ")
		if !errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("%s -h: want the help error, got %v", name, err)
		}
		if len(rec.sets) != 1 {
			return nil, fmt.Errorf("%s -h: made %d settings sets, want 1", name, len(rec.sets))
		}
		out = append(out, CommandSettings{Command: name, Settings: rec.sets[0].AllSettings()})
	}
	return out, nil
}

// cmdSettings prints every command's settings as JSON: the source of the
// takedownctl part of docs/settings.md (make docs).
func cmdSettings(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 0 {
		return usageError{"settings takes no arguments"}
	}
	cs, err := commandSettings(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(cs)
}
