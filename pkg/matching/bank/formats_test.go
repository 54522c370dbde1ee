package bank

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// readAll reads every record and every error until the end or a fatal error.
func readAll(r RecordReader) ([]Record, []*ImportError) {
	var recs []Record
	var errs []*ImportError
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, errs
		}
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) {
				ie = &ImportError{Err: err, Fatal: true}
			}
			errs = append(errs, ie)
			if ie.Fatal {
				return recs, errs
			}
			continue
		}
		recs = append(recs, rec)
	}
}

// short is what a test checks of a record.
type short struct {
	op, bank, id string
	labels       string
	sigs         string
	line, index  int
}

func shorten(recs []Record) []short {
	var out []short
	for _, r := range recs {
		var sigs []string
		for _, s := range r.Update.Signals {
			sigs = append(sigs, s.Type+":"+s.Value[:6])
		}
		out = append(out, short{r.Update.Op, r.Update.Bank, r.Update.EntryID, strings.Join(r.Update.Labels, " "),
			strings.Join(sigs, " "), r.Line, r.Index})
	}
	return out
}

func TestDeriveEntryID(t *testing.T) {
	a := DeriveEntryID("pdq", pdqBase)
	if a != DeriveEntryID("pdq", strings.ToUpper(pdqBase)) {
		t.Error("the id depends on the hash's case")
	}
	if a == DeriveEntryID("sha256", pdqBase) {
		t.Error("a pdq and a sha256 with the same digits share an id")
	}
	if !strings.HasPrefix(a, "pdq-") || len(a) != 20 {
		t.Errorf("id %q: want pdq- and 16 hex digits", a)
	}
}

func TestReadCSV(t *testing.T) {
	md5U := strings.ToUpper(md5A)
	in := "\ufeffsignal_type,signal,bank,labels\n" +
		"# a comment\n" +
		"\n" +
		"pdq," + pdqBase + ",tve,category:tve, source:gifct,,\n" +
		"MD5 , " + md5U + " ,,x\n" + // bank from the options, upper case
		"   \n" +
		"pdq," + pdqFlip(5) + ",tve,id:video-1,l1\n" +
		"phash," + hex16(ph) + ",tve,id:video-1,l2\n" +
		"md5," + md5A + ",tve,deleted:true\n" +
		"\"sha256\",\"" + shaA + "\",other,\"a,b\"\n" +
		"pdq," + pdqBase + ",tve,deleted:false,id:custom\n"
	recs, errs := readAll(NewCSVReader(strings.NewReader(in), ImportOptions{Name: "f.csv", Bank: "default", Labels: []string{"imported"}}))
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []short{
		{"add", "tve", DeriveEntryID("pdq", pdqBase), "category:tve imported source:gifct", "pdq:f162eb", 4, 0},
		{"add", "default", DeriveEntryID("md5", md5A), "imported x", "md5:098f6b", 5, 0},
		{"add", "tve", "video-1", "imported l1 l2", "pdq:f162eb phash:c3a55a", 7, 0},
		{"disable", "tve", DeriveEntryID("md5", md5A), "imported", "md5:098f6b", 9, 0},
		{"add", "other", DeriveEntryID("sha256", shaA), "a,b imported", "sha256:9f86d0", 10, 0},
		{"add", "tve", "custom", "imported", "pdq:f162eb", 11, 0},
	}
	if got := shorten(recs); !reflect.DeepEqual(got, want) {
		t.Fatalf("records\n got %+v\nwant %+v", got, want)
	}
	for _, r := range recs {
		if err := r.Update.Validate(); err != nil {
			t.Errorf("record at line %d does not validate: %v", r.Line, err)
		}
	}
}

func TestReadCSVErrors(t *testing.T) {
	good := "pdq," + pdqBase + ",tve\n"
	cases := []struct {
		name    string
		in      string
		line    int
		mention string
	}{
		{"short pdq", "pdq," + pdqBase[:60] + ",tve\n", 1, "has 60 characters"},
		{"non-hex", "md5,zz8f6bcd4621d373cade4e832627b4f6,tve\n", 1, "not hex"},
		{"all-zero pdq", "pdq," + strings.Repeat("0", 64) + ",tve\n", 1, "all-zero pdq"},
		{"all-zero phash", "phash,0000000000000000,tve\n", 1, "all-zero phash"},
		{"unknown type", "tmk,abcd,tve\n", 1, `unsupported type "tmk"`},
		{"one column", "pdq\n", 1, "1 column"},
		{"no bank", "pdq," + pdqBase + "\n", 1, "no bank"},
		{"slash in bank", "pdq," + pdqBase + ",a/b\n", 1, "contains '/'"},
		{"two ids", "pdq," + pdqBase + ",tve,id:a,id:b\n", 1, "one non-empty id"},
		{"empty id", "pdq," + pdqBase + ",tve,id:\n", 1, "one non-empty id"},
		{"bad quote", "pdq,\"" + pdqBase + "\"x,tve\n", 1, "quote"},
		{"long key", "pdq," + pdqBase + ",tve,id:" + strings.Repeat("x", 300) + "\n", 1, "at most 256"},
		{"after comments and blank lines", "# c\n\n  \nmd5,123,tve\n", 4, "has 3 characters"},
		{"a header after the first line", "signal_type,signal,bank\n", 1, `unsupported type "signal_type"`},
		{"rows of an entry apart", "md5," + md5A + ",tve,id:v\npdq," + pdqBase + ",tve\nphash," + hex16(ph) + ",tve,id:v\n", 3,
			"rows start at line 2"},
		{"rows disagree on deleted", "md5," + md5A + ",tve,id:v\nphash," + hex16(ph) + ",tve,id:v,deleted:true\n", 2, "disagree"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The bad row sits between two good ones: the reader reports it
			// with its line and goes on.
			in := good + tc.in + strings.Replace(good, pdqBase, pdqOther(1), 1)
			recs, errs := readAll(NewCSVReader(strings.NewReader(in), ImportOptions{Name: "bank.csv"}))
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			e := errs[0]
			wantLine := tc.line + 1
			if e.Line != wantLine || e.File != "bank.csv" || e.Fatal {
				t.Errorf("error at %s:%d fatal=%v, want bank.csv:%d not fatal", e.File, e.Line, e.Fatal, wantLine)
			}
			prefix := fmt.Sprintf("bank.csv:%d: ", wantLine)
			if msg := e.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.mention) {
				t.Errorf("error %q: want it to start with %q and mention %q", msg, prefix, tc.mention)
			}
			if n := len(recs); n < 2 {
				t.Errorf("%d records around the bad row, want at least the 2 good ones", n)
			}
		})
	}
}

func TestReadTAT(t *testing.T) {
	rec := func(digest, algo string, extra string) string {
		return fmt.Sprintf(`{"hash_digest": %q, "algorithm": %q%s}`, digest, algo, extra)
	}
	records := []string{
		rec(pdqBase, "PDQ", `, "ideology": "far-right", "file_type": "image", "deleted": false, "id": 7, "tags": ["a"], "meta": {"x": [1]}`),
		rec(strings.ToUpper(md5A), "md5", `, "ideology": null`),
		rec(pdqFlip(3), "Pdq", `, "deleted": true`),
	}
	want := []short{
		{"add", "tat", DeriveEntryID("pdq", pdqBase), "file_type:image ideology:far-right l source:tat", "pdq:f162eb", 0, 1},
		{"add", "tat", DeriveEntryID("md5", md5A), "l source:tat", "md5:098f6b", 0, 2},
		{"disable", "tat", DeriveEntryID("pdq", pdqFlip(3)), "l source:tat", "pdq:f162eb", 0, 3},
	}
	forms := map[string]string{
		"array":          "[" + strings.Join(records, ",\n") + "]",
		"wrapped":        `{"count": 3, "next": null, "errors": ["x"], "empty": [], "results": [` + strings.Join(records, ",") + `], "after": "2024"}`,
		"json lines":     strings.Join(records, "\n") + "\n",
		"with a BOM":     "\ufeff  [" + strings.Join(records, ",") + "]\n",
		"two arrays":     "[" + strings.Join(records[:2], ",") + "]\n[" + records[2] + "]",
		"nested wrapper": `{"data": {"ignored": [1, 2]}, "hashes": [` + strings.Join(records, ",") + `]}`,
	}
	for name, in := range forms {
		t.Run(name, func(t *testing.T) {
			recs, errs := readAll(NewTATReader(strings.NewReader(in), ImportOptions{Name: "tat.json", Bank: "tat", Labels: []string{"l"}}))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := shorten(recs); !reflect.DeepEqual(got, want) {
				t.Fatalf("records\n got %+v\nwant %+v", got, want)
			}
			for _, r := range recs {
				if r.Offset < 0 || r.Offset >= int64(len(in)) {
					t.Errorf("record %d: offset %d outside the input", r.Index, r.Offset)
				}
			}
		})
	}
}

func TestReadTATErrors(t *testing.T) {
	good := `{"hash_digest": "` + pdqBase + `", "algorithm": "PDQ"}`
	cases := []struct {
		name    string
		bad     string
		mention string
	}{
		{"bad algorithm", `{"hash_digest": "` + pdqBase + `", "algorithm": "SHA1"}`, `algorithm "SHA1": want PDQ or MD5`},
		{"no algorithm", `{"hash_digest": "` + pdqBase + `"}`, "no algorithm"},
		{"no digest", `{"algorithm": "MD5"}`, "no hash_digest"},
		{"short md5", `{"hash_digest": "abc", "algorithm": "MD5"}`, "has 3 characters"},
		{"all-zero pdq", `{"hash_digest": "` + strings.Repeat("0", 64) + `", "algorithm": "PDQ"}`, "all-zero pdq"},
		{"digest a number", `{"hash_digest": 12, "algorithm": "MD5"}`, "hash_digest is 12"},
		{"deleted a string", `{"hash_digest": "` + md5A + `", "algorithm": "MD5", "deleted": "yes"}`, "deleted is yes"},
		{"not an object", `"just a string"`, "must be an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := "[" + good + ",\n  " + tc.bad + ",\n" + good + "]"
			offset := strings.Index(in, tc.bad)
			recs, errs := readAll(NewTATReader(strings.NewReader(in), ImportOptions{Name: "tat.json", Bank: "tat"}))
			if len(errs) != 1 || len(recs) != 2 {
				t.Fatalf("%d records, errors %v; want 2 records and one error", len(recs), errs)
			}
			e := errs[0]
			if e.Index != 2 || e.Fatal || e.Offset != int64(offset) {
				t.Errorf("error at record %d byte %d fatal=%v, want record 2 byte %d", e.Index, e.Offset, e.Fatal, offset)
			}
			if msg := e.Error(); !strings.HasPrefix(msg, fmt.Sprintf("tat.json: record 2 (byte %d): ", offset)) || !strings.Contains(msg, tc.mention) {
				t.Errorf("error %q does not name the record and byte or mention %q", msg, tc.mention)
			}
		})
	}
	fatal := []struct {
		name, in, mention string
	}{
		{"syntax", "[" + good + ", {\"hash_digest\": }]", "malformed JSON"},
		{"cut short", "[" + good + ", {\"hash_digest\": \"ab", "end of file"},
		{"scalar at the top", "42", "at the top level"},
		{"no bank", "[" + good + "]", "no bank"},
	}
	for _, tc := range fatal {
		opts := ImportOptions{Name: "tat.json", Bank: "tat"}
		if tc.name == "no bank" {
			opts.Bank = ""
		}
		_, errs := readAll(NewTATReader(strings.NewReader(tc.in), opts))
		if len(errs) == 0 || !strings.Contains(errs[len(errs)-1].Error(), tc.mention) || !strings.HasPrefix(errs[0].Error(), "tat.json") {
			t.Errorf("%s: errors %v, want one mentioning %q", tc.name, errs, tc.mention)
		}
		if tc.name != "no bank" && !errs[len(errs)-1].Fatal {
			t.Errorf("%s: error not fatal", tc.name)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	cases := map[string]string{
		"[{}]": FormatTAT, "  \n{\"a\":1}": FormatTAT, "\ufeff[": FormatTAT,
		"pdq,abc,tve": FormatCSV, "signal_type,signal": FormatCSV, "": FormatCSV, "# comment\n[": FormatCSV,
	}
	for in, want := range cases {
		got, r, err := DetectFormat(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("%q: %s, %v; want %s", in, got, err, want)
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != in {
			t.Errorf("%q: replay %q lost bytes", in, rest)
		}
	}
}

// entries returns every entry of b, leaving out disabled entries without a
// known hash (they have no row in an export).
func exportable(b *Banks) []Entry {
	var out []Entry
	for e := range b.All() {
		if len(e.Signals) > 0 {
			out = append(out, e)
		}
	}
	return out
}

func importInto(t *testing.T, r RecordReader) *Banks {
	t.Helper()
	b := testBanks(nil)
	recs, errs := readAll(r)
	if len(errs) > 0 {
		t.Fatalf("import errors: %v", errs)
	}
	for _, rec := range recs {
		if err := b.Apply(rec.Update); err != nil {
			t.Fatalf("line %d: %v", rec.Line, err)
		}
	}
	return b
}

func TestCSVRoundTrip(t *testing.T) {
	orig, _ := randomBanks(t, 3000, 21)
	var buf bytes.Buffer
	w, err := NewCSVWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for e := range orig.All() {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	back := importInto(t, NewCSVReader(bytes.NewReader(buf.Bytes()), ImportOptions{Name: "export.csv"}))
	want, got := exportable(orig), exportable(back)
	if len(want) < 1000 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d entries back from %d exported, or they differ", len(got), len(want))
	}
	multi := 0
	for _, e := range want {
		if len(e.Signals) > 1 {
			multi++
		}
	}
	if multi == 0 || w.Skipped == 0 {
		t.Fatalf("test data lacks multi-hash entries (%d) or hashless disabled entries (%d)", multi, w.Skipped)
	}
	// A second export of what came back is the same file.
	var again bytes.Buffer
	w2, _ := NewCSVWriter(&again)
	for e := range back.All() {
		_ = w2.Write(e)
	}
	_ = w2.Flush()
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("export of the import differs from the export")
	}
}

func TestTATRoundTrip(t *testing.T) {
	var in strings.Builder
	in.WriteString(`{"results": [`)
	for i := 0; i < 200; i++ {
		if i > 0 {
			in.WriteString(",")
		}
		digest, algo := pdqOther(uint64(i)), "PDQ"
		if i%3 == 0 {
			digest, algo = fmt.Sprintf("%032x", i+1), "MD5"
		}
		fmt.Fprintf(&in, `{"hash_digest":%q,"algorithm":%q,"ideology":%q,"file_type":%q,"deleted":%v}`,
			digest, algo, []string{"islamist", "far-right", ""}[i%3], []string{"image", "video"}[i%2], i%7 == 0)
	}
	in.WriteString(`]}`)
	first := importInto(t, NewTATReader(strings.NewReader(in.String()), ImportOptions{Name: "tat.json", Bank: "tat"}))
	var out bytes.Buffer
	w := NewTATWriter(&out)
	for e := range first.All() {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	second := importInto(t, NewTATReader(bytes.NewReader(out.Bytes()), ImportOptions{Name: "export.json", Bank: "tat"}))
	a, b := exportable(first), exportable(second)
	if len(a) != 200 || !reflect.DeepEqual(a, b) {
		t.Fatalf("%d entries imported, %d after a TAT round trip, or they differ", len(a), len(b))
	}
	if first.Version() != second.Version() {
		t.Errorf("versions differ after a TAT round trip")
	}
	// Only pdq and md5 have a place in the format.
	other := testBanks(nil)
	mustApply(t, other, add("x", "1", nil, sig("phash", hex16(ph))), add("x", "2", []string{"ideology:a"}, sig("sha256", shaA), sig("md5", md5A)))
	out.Reset()
	w = NewTATWriter(&out)
	for e := range other.All() {
		_ = w.Write(e)
	}
	_ = w.Close()
	want := `[` + "\n" + `{"hash_digest":"` + md5A + `","algorithm":"MD5","ideology":"a","file_type":"","deleted":false}` + "\n]\n"
	if out.String() != want || w.Skipped != 1 {
		t.Errorf("TAT export\n%s\nwant\n%s(skipped %d, want 1)", out.String(), want, w.Skipped)
	}
}

// checkRecord is the invariant the fuzz targets hold the readers to: every
// record they accept is an update the bank accepts.
func checkRecord(t *testing.T, rec Record, b *Banks) {
	u := rec.Update
	if err := u.Validate(); err != nil {
		t.Fatalf("accepted record does not validate: %v (%+v)", err, u)
	}
	if len(u.Signals) == 0 || u.EntryID == "" || len(u.Key()) > maxKeyLen {
		t.Fatalf("accepted record without signals or id: %+v", u)
	}
	for _, s := range u.Signals {
		n, err := Normalize(s)
		if err != nil || n.Value != s.Value {
			t.Fatalf("accepted signal %+v: %v", s, err)
		}
	}
	if err := b.Apply(u); err != nil {
		t.Fatalf("banks refuse an accepted record: %v", err)
	}
	if slices.Contains(u.Labels, "") {
		t.Fatalf("empty label in %+v", u)
	}
}

func fuzzReader(t *testing.T, r RecordReader) {
	b := testBanks(nil)
	for i := 0; i < 100_000; i++ {
		rec, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *ImportError", err)
			}
			if ie.Fatal {
				return
			}
			continue
		}
		checkRecord(t, rec, b)
	}
	t.Fatal("reader did not finish")
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("signal_type,signal,bank,labels\npdq," + pdqBase + ",tve,a,b\n"))
	f.Add([]byte("md5," + md5A + ",,x\nmd5," + md5A + ",tve,id:e,deleted:true\n# c\n\n"))
	f.Add([]byte("pdq," + pdqBase + ",tve,id:v\nphash," + hex16(ph) + ",tve,id:v\n\"a\nb\",\"\"\"\n"))
	f.Add([]byte("pdq," + strings.Repeat("0", 64) + ",tve\n\xef\xbb\xbf,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, NewCSVReader(bytes.NewReader(data), ImportOptions{Name: "fuzz.csv", Bank: "default"}))
	})
}

func FuzzReadTAT(f *testing.F) {
	f.Add([]byte(`[{"hash_digest":"` + pdqBase + `","algorithm":"PDQ","ideology":"x","deleted":true}]`))
	f.Add([]byte(`{"results":[{"hash_digest":"` + md5A + `","algorithm":"md5"}],"n":[1]}`))
	f.Add([]byte(`{"hash_digest":"` + md5A + `","algorithm":"MD5"}` + "\n" + `{"a":{"b":[]}}`))
	f.Add([]byte(`[1, "x", null, {"hash_digest": 5}, {]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, NewTATReader(bytes.NewReader(data), ImportOptions{Name: "fuzz.json", Bank: "default"}))
	})
}
