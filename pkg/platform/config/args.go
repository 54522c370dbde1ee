package config

import (
	"flag"
	"strings"
)

// parseInterspersed parses args with fs, taking flags wherever they stand
// among the positional arguments (kubectl's and helm's way: `bank disable
// --bank B ID --kafka-brokers prod:9092` sets both flags), and returns the
// positional arguments in order. `--` ends the flags: everything after it is
// positional.
//
// flag.FlagSet.Parse stops at the first positional argument or after `--`;
// each round takes one positional argument and parses on from the next.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if endedByDashes(fs, args, len(args)-len(rest)) {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// endedByDashes reports whether fs stopped parsing args, of which it
// consumed the first n, at a `--` (rather than at a positional argument):
// the last consumed argument is `--` and is not the value of the flag
// before it (`--label --`).
func endedByDashes(fs *flag.FlagSet, args []string, n int) bool {
	if n == 0 || args[n-1] != "--" {
		return false
	}
	if n < 2 {
		return true
	}
	prev := args[n-2]
	if !strings.HasPrefix(prev, "-") || strings.Contains(prev, "=") {
		return true
	}
	f := fs.Lookup(strings.TrimLeft(prev, "-"))
	if f == nil {
		return true
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return true
	}
	// prev is a flag that takes a value, and `--` was it.
	return false
}
