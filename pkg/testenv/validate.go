package testenv

import (
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// ValidateCase is one refused setting for CheckValidate: Change breaks it
// in a valid configuration, and Validate's error must contain Want.
type ValidateCase[C any] struct {
	Name   string
	Change func(*C)
	Want   string
}

// CheckValidate is a service's TestConfigValidate: it binds a Config to a
// set without environment (the defaults), lets fill set what the defaults
// leave to the operator (nil for nothing), checks that the result
// validates, then that each case makes Validate fail naming its setting.
// It returns the valid configuration for further checks.
func CheckValidate[C any, P interface {
	*C
	Bind(*config.Set)
	Validate() error
}](t *testing.T, fill func(*C), cases []ValidateCase[C]) C {
	t.Helper()
	var def C
	set := config.New("validate-test").WithEnv(func(string) (string, bool) { return "", false })
	P(&def).Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(&def)
	}
	if err := P(&def).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := def
			tc.Change(&c)
			err := P(&c).Validate()
			if err == nil || !strings.Contains(err.Error(), tc.Want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.Want)
			}
		})
	}
	return def
}
