// Package config reads settings from flags and TAKEDOWN_* environment
// variables. Every setting has one flag name and one environment name derived
// from it (kafka-brokers <-> TAKEDOWN_KAFKA_BROKERS); a flag given on the
// command line wins over the environment, which wins over the default.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable the project reads.
const EnvPrefix = "TAKEDOWN_"

// Setting documents one setting.
type Setting struct {
	Flag    string `json:"flag"`
	Env     string `json:"env,omitempty"`
	Default string `json:"default"`
	Usage   string `json:"usage"`
}

// Set is a flag set whose defaults come from the environment.
type Set struct {
	fs       *flag.FlagSet
	settings []Setting
	errs     []error
	lookup   func(string) (string, bool)
	secrets  []secret
	args     []string // positional arguments, after Parse
}

// secret is a setting whose value may live in a file.
type secret struct {
	p    *string
	name string
}

// New returns an empty set for the named program.
func New(name string) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), lookup: os.LookupEnv}
	s.fs.Usage = func() { s.PrintUsage(s.fs.Output()) }
	return s
}

// WithEnv replaces the environment lookup (for tests).
func (s *Set) WithEnv(lookup func(string) (string, bool)) *Set {
	s.lookup = lookup
	return s
}

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *Set) env(name, def, usage string) string {
	env := EnvName(name)
	s.settings = append(s.settings, Setting{Flag: name, Env: env, Default: def, Usage: usage})
	if v, ok := s.lookup(env); ok {
		return v
	}
	return def
}

func (s *Set) bad(name string, v string, err error) {
	s.errs = append(s.errs, fmt.Errorf("%s=%q: %v", EnvName(name), v, err))
}

// String binds a string setting.
func (s *Set) String(p *string, name, def, usage string) {
	s.fs.StringVar(p, name, s.env(name, def, usage), usage)
}

// Secret binds a setting that holds a secret. Besides the flag and
// TAKEDOWN_NAME, the value can come from a file: TAKEDOWN_NAME_FILE=path, or
// a value of the form @path (flag or environment). A trailing newline of the
// file is dropped. Kubernetes mounts Secrets as files; files keep secrets out
// of the process environment and of ps.
func (s *Set) Secret(p *string, name, usage string) {
	env := EnvName(name)
	s.settings = append(s.settings, Setting{Flag: name, Env: env, Usage: usage + " (or " + env + "_FILE=path, or @path)"})
	def := ""
	if v, ok := s.lookup(env); ok {
		def = v
	} else if f, ok := s.lookup(env + "_FILE"); ok && f != "" {
		def = "@" + f
	}
	s.fs.StringVar(p, name, def, usage+" (or @path)")
	s.secrets = append(s.secrets, secret{p: p, name: name})
}

// List binds a comma-separated list setting.
func (s *Set) List(p *[]string, name, def, usage string) {
	*p = splitList(s.env(name, def, usage))
	s.fs.Func(name, usage+" (comma-separated)", func(v string) error {
		*p = splitList(v)
		return nil
	})
}

// Int binds an integer setting.
func (s *Set) Int(p *int, name string, def int, usage string) {
	v := s.env(name, strconv.Itoa(def), usage)
	n, err := strconv.Atoi(v)
	if err != nil {
		s.bad(name, v, err)
		n = def
	}
	s.fs.IntVar(p, name, n, usage)
}

// Int64 binds a 64-bit integer setting.
func (s *Set) Int64(p *int64, name string, def int64, usage string) {
	v := s.env(name, strconv.FormatInt(def, 10), usage)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.bad(name, v, err)
		n = def
	}
	s.fs.Int64Var(p, name, n, usage)
}

// Bool binds a boolean setting.
func (s *Set) Bool(p *bool, name string, def bool, usage string) {
	v := s.env(name, strconv.FormatBool(def), usage)
	b, err := strconv.ParseBool(v)
	if err != nil {
		s.bad(name, v, err)
		b = def
	}
	s.fs.BoolVar(p, name, b, usage)
}

// Float64 binds a floating-point setting.
func (s *Set) Float64(p *float64, name string, def float64, usage string) {
	v := s.env(name, strconv.FormatFloat(def, 'g', -1, 64), usage)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		s.bad(name, v, err)
		f = def
	}
	s.fs.Float64Var(p, name, f, usage)
}

// Duration binds a duration setting ("1.5s", "2m").
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	v := s.env(name, def.String(), usage)
	d, err := time.ParseDuration(v)
	if err != nil {
		s.bad(name, v, err)
		d = def
	}
	s.fs.DurationVar(p, name, d, usage)
}

// Parse reads the command line: flags and positional arguments in any order
// (see Args). Malformed environment values are reported
// here, all at once, rather than silently replaced by defaults.
func (s *Set) Parse(args []string) error {
	positional, err := parseInterspersed(s.fs, args)
	if err != nil {
		return err
	}
	s.args = positional
	for _, sec := range s.secrets {
		path, isFile := strings.CutPrefix(*sec.p, "@")
		if !isFile {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			// The path is the operator's own setting; the file's content never
			// appears in an error.
			s.errs = append(s.errs, fmt.Errorf("%s: %w: %v", EnvName(sec.name), ErrSecretFile, err))
			continue
		}
		*sec.p = strings.TrimRight(string(b), "\r\n")
	}
	if len(s.errs) > 0 {
		msgs := make([]string, len(s.errs))
		for i, e := range s.errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("bad settings: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// IsSet reports whether a setting was given: as a flag, in the
// environment, or (a secret) as TAKEDOWN_NAME_FILE.
func (s *Set) IsSet(name string) bool {
	given := false
	s.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	if given {
		return true
	}
	if _, ok := s.lookup(EnvName(name)); ok {
		return true
	}
	_, ok := s.lookup(EnvName(name) + "_FILE")
	return ok
}

// FlagEnv lists NAME=value for the settings whose flag starts with prefix
// and that were given on the command line: a child process inherits the
// environment, and with these it also sees the flags.
func (s *Set) FlagEnv(prefix string) []string {
	var out []string
	s.fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, prefix) {
			out = append(out, EnvName(f.Name)+"="+f.Value.String())
		}
	})
	return out
}

// Args returns the positional arguments, in order: flags may come before,
// between and after them; `--` ends the flags.
func (s *Set) Args() []string { return s.args }

// FlagSet exposes the underlying flag set.
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

// Settings lists every bound setting, sorted by flag name.
func (s *Set) Settings() []Setting {
	out := append([]Setting(nil), s.settings...)
	sort.Slice(out, func(i, j int) bool { return out[i].Flag < out[j].Flag })
	return out
}

// AllSettings is Settings and the flags bound on the flag set alone
// (FlagSet), which have no environment variable, sorted by flag.
func (s *Set) AllSettings() []Setting {
	bound := map[string]bool{}
	for _, st := range s.settings {
		bound[st.Flag] = true
	}
	settings := s.Settings()
	s.fs.VisitAll(func(f *flag.Flag) {
		if !bound[f.Name] {
			settings = append(settings, Setting{Flag: f.Name, Default: f.DefValue, Usage: f.Usage})
		}
	})
	sort.SliceStable(settings, func(i, j int) bool { return settings[i].Flag < settings[j].Flag })
	return settings
}

// PrintUsage writes a table of every flag (AllSettings): -h lists each
// flag a command takes, with its environment variable where it has one.
func (s *Set) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s (flags override environment variables):\n", s.fs.Name())
	for _, st := range s.AllSettings() {
		if st.Env == "" {
			fmt.Fprintf(w, "  -%s (flag only; default %q)\n      %s\n", st.Flag, st.Default, st.Usage)
			continue
		}
		fmt.Fprintf(w, "  -%s / %s (default %q)\n      %s\n", st.Flag, st.Env, st.Default, st.Usage)
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
