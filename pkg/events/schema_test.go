package events

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The schemas live at the repository root, outside this module.
const schemaDir = "../../schemas"

var update = flag.Bool("update", false, "write missing schema files from the Go types (existing files are never overwritten)")

// schemaFiles maps each event type to its schema file and Go type.
var schemaFiles = []struct {
	file string
	typ  reflect.Type
	name string
}{
	{"media-uploaded.v1.json", reflect.TypeFor[MediaUploaded](), TypeMediaUploaded},
	{"media-ingested.v1.json", reflect.TypeFor[MediaIngested](), TypeMediaIngested},
	{"media-hashed.v1.json", reflect.TypeFor[MediaHashed](), TypeMediaHashed},
	{"media-matched.v1.json", reflect.TypeFor[MediaMatched](), TypeMediaMatched},
	{"review-requested.v1.json", reflect.TypeFor[ReviewRequested](), TypeReviewRequested},
	{"review-decided.v1.json", reflect.TypeFor[ReviewDecided](), TypeReviewDecided},
	{"enforcement-action.v1.json", reflect.TypeFor[EnforcementAction](), TypeEnforcementAction},
	{"bank-update.v1.json", reflect.TypeFor[BankUpdate](), TypeBankUpdate},
	{"stream-segment.v1.json", reflect.TypeFor[StreamSegment](), TypeStreamSegment},
}

type schema struct {
	Type       any                `json:"type"`
	Properties map[string]*schema `json:"properties"`
	Required   []string           `json:"required"`
	Items      *schema            `json:"items"`
	Enum       []any              `json:"enum"`
	Const      any                `json:"const"`
	Format     string             `json:"format"`
	Additional *bool              `json:"additionalProperties"`
}

// TestSchemasMatchGoTypes keeps the JSON Schemas and the Go types from
// drifting: every schema property is a field and every field a property, with
// the same JSON type; a field is required exactly when it is not omitempty.
func TestSchemasMatchGoTypes(t *testing.T) {
	for _, sf := range schemaFiles {
		t.Run(sf.file, func(t *testing.T) {
			path := filepath.Join(schemaDir, sf.file)
			data, err := os.ReadFile(path)
			if os.IsNotExist(err) && *update {
				writeSchema(t, path, sf.name, sf.typ)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s schema
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			compare(t, sf.name, &s, sf.typ)
			et := s.Properties["event_type"]
			if et == nil || et.Const != sf.name {
				t.Errorf("event_type must be const %q", sf.name)
			}
			sv := s.Properties["schema_version"]
			if sv == nil || sv.Const != float64(SchemaVersion) {
				t.Errorf("schema_version must be const %d", SchemaVersion)
			}
		})
	}
}

// TestSchemaEnumsMatchConstants checks that the enumerations in the schemas
// list exactly the values the Go code uses.
func TestSchemaEnumsMatchConstants(t *testing.T) {
	cases := []struct {
		file, field string
		want        []any
	}{
		{"media-uploaded.v1.json", "content_type", []any{ContentImage, ContentVideo}},
		{"review-decided.v1.json", "decision", []any{DecisionViolating, DecisionBenign}},
		{"bank-update.v1.json", "op", []any{BankOpAdd, BankOpDisable, BankOpConfigure}},
		{"enforcement-action.v1.json", "outcome", []any{OutcomeSucceeded, OutcomeFailed, OutcomeRetrying}},
		{"enforcement-action.v1.json", "trigger", []any{TriggerAuto, TriggerReview, TriggerOverturn, TriggerIncident}},
		{"media-matched.v1.json", "matches[].video.rule", []any{VideoRuleCopy, VideoRuleContains, VideoRuleExcerpt, VideoRuleFrames}},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(schemaDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		var s schema
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		p := property(&s, c.field)
		if p == nil {
			t.Errorf("%s: no property %s", c.file, c.field)
			continue
		}
		if !reflect.DeepEqual(p.Enum, c.want) {
			t.Errorf("%s: %s enum %v, want %v", c.file, c.field, p.Enum, c.want)
		}
	}
}

// property finds a nested property by a path such as "matches[].video.rule":
// dots go into an object's properties, [] into an array's items.
func property(s *schema, path string) *schema {
	for _, name := range strings.Split(path, ".") {
		name, array := strings.CutSuffix(name, "[]")
		if s = s.Properties[name]; s == nil {
			return nil
		}
		if array {
			if s = s.Items; s == nil {
				return nil
			}
		}
	}
	return s
}

// TestSampleEventsValidate encodes a filled-in event of every type and checks
// the JSON against its schema's required fields, so a required field the Go
// code leaves out of the encoding is caught.
func TestSampleEventsValidate(t *testing.T) {
	for _, sf := range schemaFiles {
		data, err := os.ReadFile(filepath.Join(schemaDir, sf.file))
		if err != nil {
			t.Fatal(err)
		}
		var s schema
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		ev := reflect.New(sf.typ)
		ev.Elem().FieldByName("Meta").Set(reflect.ValueOf(NewMeta(sf.name, "c1", "")))
		body, err := json.Marshal(ev.Interface())
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				t.Errorf("%s: encoded event lacks required %q", sf.file, r)
			}
		}
	}
}

type field struct {
	typ      reflect.Type
	required bool
}

// jsonFields lists the JSON fields of a struct type, flattening embedded structs.
func jsonFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = field{typ: f.Type, required: !strings.Contains(opts, "omitempty")}
	}
	return out
}

var timeType = reflect.TypeFor[time.Time]()

func jsonType(t reflect.Type) string {
	if t == timeType {
		return "string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "unknown:" + t.Kind().String()
}

func schemaTypes(s *schema) []string {
	switch v := s.Type.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func compare(t *testing.T, path string, s *schema, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	got := schemaTypes(s)
	want := jsonType(typ)
	if !slices.Contains(got, want) {
		t.Errorf("%s: schema type %v, Go type %s is %s", path, got, typ, want)
		return
	}
	switch {
	case typ == timeType:
		if s.Format != "date-time" {
			t.Errorf("%s: a time must have format date-time", path)
		}
	case typ.Kind() == reflect.Slice:
		if s.Items == nil {
			t.Errorf("%s: array without items", path)
			return
		}
		compare(t, path+"[]", s.Items, typ.Elem())
	case typ.Kind() == reflect.Struct:
		fields := jsonFields(typ)
		for name, f := range fields {
			p, ok := s.Properties[name]
			if !ok {
				t.Errorf("%s: Go field %q missing from the schema", path, name)
				continue
			}
			compare(t, path+"."+name, p, f.typ)
		}
		for name := range s.Properties {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: schema property %q has no Go field", path, name)
			}
		}
		var req []string
		for name, f := range fields {
			if f.required {
				req = append(req, name)
			}
		}
		sort.Strings(req)
		have := append([]string(nil), s.Required...)
		sort.Strings(have)
		if !slices.Equal(req, have) {
			t.Errorf("%s: required %v, Go non-omitempty fields %v", path, have, req)
		}
		if s.Additional == nil || *s.Additional {
			// Consumers ignore unknown fields, but the schema documents exactly what v1 holds.
			t.Errorf("%s: additionalProperties must be false", path)
		}
	}
}

// writeSchema bootstraps a schema file from the Go type; descriptions and
// enums are then written by hand.
func writeSchema(t *testing.T, path, name string, typ reflect.Type) {
	s := build(typ)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://takedown-pipeline.github.io/schemas/" + filepath.Base(path)
	s["title"] = name
	props := s["properties"].(map[string]any)
	props["event_type"] = map[string]any{"type": "string", "const": name}
	props["schema_version"] = map[string]any{"type": "integer", "const": SchemaVersion}
	data, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func build(typ reflect.Type) map[string]any {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	m := map[string]any{"type": jsonType(typ)}
	switch {
	case typ == timeType:
		m["format"] = "date-time"
	case typ.Kind() == reflect.Slice:
		m["items"] = build(typ.Elem())
	case typ.Kind() == reflect.Struct:
		props := map[string]any{}
		var req []string
		for name, f := range jsonFields(typ) {
			props[name] = build(f.typ)
			if f.required {
				req = append(req, name)
			}
		}
		sort.Strings(req)
		m["properties"] = props
		m["required"] = req
		m["additionalProperties"] = false
	}
	return m
}
