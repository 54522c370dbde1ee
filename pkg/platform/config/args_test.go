package config

import (
	"reflect"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		brokers string
		label   string
		dry     bool
		pos     []string
	}{
		{"flags first", []string{"--kafka-brokers", "prod:9092", "a", "b"}, "prod:9092", "", false, []string{"a", "b"}},
		{"flags after", []string{"a", "b", "--kafka-brokers", "prod:9092"}, "prod:9092", "", false, []string{"a", "b"}},
		{"flags between", []string{"a", "--dry-run", "b", "--label=x", "c"}, "", "x", true, []string{"a", "b", "c"}},
		{"-- ends the flags", []string{"a", "--", "--dry-run", "b"}, "", "", false, []string{"a", "--dry-run", "b"}},
		{"-- right away", []string{"--", "-x"}, "", "", false, []string{"-x"}},
		{"-- as a flag's value", []string{"--label", "--", "a", "--dry-run"}, "", "--", true, []string{"a"}},
		{"-- after a bool flag", []string{"--dry-run", "--", "--label"}, "", "", true, []string{"--label"}},
		{"- is positional", []string{"-", "--dry-run"}, "", "", true, []string{"-"}},
		{"none", nil, "", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var brokers, label string
			var dry bool
			s := New("t").WithEnv(func(string) (string, bool) { return "", false })
			s.String(&brokers, "kafka-brokers", "", "")
			s.String(&label, "label", "", "")
			s.Bool(&dry, "dry-run", false, "")
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if brokers != tt.brokers || label != tt.label || dry != tt.dry || !reflect.DeepEqual(s.Args(), tt.pos) {
				t.Errorf("Parse(%q): brokers %q label %q dry-run %v args %q; want %q %q %v %q",
					tt.args, brokers, label, dry, s.Args(), tt.brokers, tt.label, tt.dry, tt.pos)
			}
		})
	}
	s := New("t").WithEnv(func(string) (string, bool) { return "", false })
	if err := s.Parse([]string{"a", "--no-such-flag"}); err == nil {
		t.Error("an unknown flag after an argument was accepted")
	}
}
