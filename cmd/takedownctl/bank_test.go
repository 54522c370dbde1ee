package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

const (
	pdqA = "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95"
	pdqB = "98736629670cc19fc9f23862f66cce1f599e32c78e236c78619d202e9e66c157"
	md5A = "098f6bcd4621d373cade4e832627b4f6"
	shaA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

// bankEnv is a unique bank topic on the real broker.
type bankEnv struct {
	t     *testing.T
	flags []string
	topic string
}

func newBankEnv(t *testing.T) *bankEnv {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Name("ctl-bank")
	return &bankEnv{t: t, topic: topic, flags: []string{
		"--kafka-brokers", strings.Join(brokers, ","), "--topic-bank-updates", topic}}
}

// run runs `takedownctl bank ARGS...` and returns its stdout and stderr.
func (e *bankEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub := args[0]
	all := append([]string{sub}, e.flags...)
	err := cmdBank(ctx, append(all, args[1:]...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func (e *bankEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("bank %v: %v\nstderr: %s", args, err, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// banksFrom reads a bank file into banks, as the matcher would hold it.
func banksFrom(t *testing.T, format, content, bankName string) *bank.Banks {
	t.Helper()
	b := bank.NewBanks(nil)
	var rr bank.RecordReader = bank.NewCSVReader(strings.NewReader(content), bank.ImportOptions{Name: "x", Bank: bankName})
	if format == bank.FormatTAT {
		rr = bank.NewTATReader(strings.NewReader(content), bank.ImportOptions{Name: "x", Bank: bankName})
	}
	for {
		rec, err := rr.Next()
		if err != nil {
			if err.Error() == "EOF" {
				return b
			}
			t.Fatal(err)
		}
		if err := b.Apply(rec.Update); err != nil {
			t.Fatal(err)
		}
	}
}

func entries(b *bank.Banks) []bank.Entry {
	var out []bank.Entry
	for e := range b.All() {
		out = append(out, e)
	}
	return out
}

const sampleCSV = `signal_type,signal,bank,labels
# entries of two banks
pdq,` + pdqA + `,tve,category:terrorism,source:gifct
md5,` + md5A + `,tve,category:terrorism
pdq,` + pdqB + `,other,id:video-7,x
phash,c3a55a3c0f0ff0f0,other,id:video-7,y
sha256,` + shaA + `,,z
`

func TestBankImportExportRoundTrip(t *testing.T) {
	e := newBankEnv(t)
	file := writeFile(t, "bank.csv", sampleCSV)
	out := e.mustRun("import", "--bank", "fallback", "--label", "batch:1", file)
	var sum importSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if sum.Records != 4 || sum.Published != 4 || sum.Banks["tve"] != 2 || sum.Banks["other"] != 1 || sum.Banks["fallback"] != 1 {
		t.Fatalf("summary %+v: want 4 records published (tve 2, other 1, fallback 1)", sum)
	}
	if n := testenv.EndOffset(t, strings.Split(e.flags[1], ","), e.topic); n != 4 {
		t.Fatalf("%d records on the topic, want 4", n)
	}

	exported := e.mustRun("export")
	want := banksFrom(t, bank.FormatCSV, sampleCSV, "fallback")
	mustApply(t, want, nil)
	got := banksFrom(t, bank.FormatCSV, exported, "")
	// The import added batch:1 to every entry; so must the export show.
	for _, en := range entries(got) {
		if !contains(en.Labels, "batch:1") {
			t.Errorf("entry %s lacks the --label batch:1: %v", en.Key(), en.Labels)
		}
	}
	stripped := bank.NewBanks(nil)
	for _, en := range entries(got) {
		labels := []string{}
		for _, l := range en.Labels {
			if l != "batch:1" {
				labels = append(labels, l)
			}
		}
		mustApply(t, stripped, []events.BankUpdate{{Op: events.BankOpAdd, Bank: en.Bank, EntryID: en.EntryID, Labels: labels, Signals: en.Signals}})
	}
	if !reflect.DeepEqual(entries(stripped), entries(want)) {
		t.Fatalf("export∘import:\n%s\nholds %+v\nwant %+v", exported, entries(stripped), entries(want))
	}
	// Importing the export again changes nothing: same keys, same content.
	again := writeFile(t, "again.csv", exported)
	e.mustRun("import", again)
	if exported2 := e.mustRun("export"); exported2 != exported {
		t.Errorf("export after re-importing the export differs:\n%s\nvs\n%s", exported2, exported)
	}
	// One bank only, as TAT (pdq and md5 only).
	tat := e.mustRun("export", "--bank", "tve", "--format", "tat")
	var recs []bank.TATRecord
	if err := json.Unmarshal([]byte(tat), &recs); err != nil {
		t.Fatalf("TAT export %q: %v", tat, err)
	}
	if len(recs) != 2 || recs[0].Algorithm != "MD5" || recs[1].Algorithm != "PDQ" || recs[1].HashDigest != pdqA {
		t.Fatalf("TAT export of tve: %+v", recs)
	}
}

func mustApply(t *testing.T, b *bank.Banks, us []events.BankUpdate) {
	t.Helper()
	for _, u := range us {
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestBankImportTAT(t *testing.T) {
	e := newBankEnv(t)
	file := writeFile(t, "tat.json", `{"count": 3, "results": [
		{"hash_digest": "`+pdqA+`", "algorithm": "PDQ", "ideology": "far-right", "file_type": "image", "deleted": false},
		{"hash_digest": "`+strings.ToUpper(md5A)+`", "algorithm": "md5", "ideology": "islamist", "file_type": "video"},
		{"hash_digest": "`+pdqB+`", "algorithm": "PDQ", "deleted": true}
	]}`)
	if _, _, err := e.run("import", file); err == nil || !strings.Contains(err.Error(), "no bank") {
		t.Fatalf("TAT import without --bank: %v, want an error about the bank", err)
	}
	out := e.mustRun("import", "--bank", "tat", file)
	if !strings.Contains(out, `"format":"tat"`) || !strings.Contains(out, `"adds":2`) || !strings.Contains(out, `"disables":1`) {
		t.Fatalf("summary %s", out)
	}
	exported := e.mustRun("export", "--format", "tat", "--include-disabled")
	var recs []bank.TATRecord
	if err := json.Unmarshal([]byte(exported), &recs); err != nil {
		t.Fatal(err)
	}
	want := []bank.TATRecord{
		{HashDigest: md5A, Algorithm: "MD5", Ideology: "islamist", FileType: "video"},
		{HashDigest: pdqA, Algorithm: "PDQ", Ideology: "far-right", FileType: "image"},
		{HashDigest: pdqB, Algorithm: "PDQ", Deleted: true},
	}
	// The export is sorted by entry id, which is a hash: compare as sets.
	slices.SortFunc(recs, func(a, b bank.TATRecord) int { return strings.Compare(a.HashDigest, b.HashDigest) })
	slices.SortFunc(want, func(a, b bank.TATRecord) int { return strings.Compare(a.HashDigest, b.HashDigest) })
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("TAT export\n got %+v\nwant %+v", recs, want)
	}
}

func TestBankImportRefusesBadFiles(t *testing.T) {
	e := newBankEnv(t)
	good := "pdq," + pdqA + ",tve\n"
	cases := []struct {
		name, file, content string
		args                []string
		mention             string
	}{
		{"bad hash", "b.csv", good + "md5,123,tve\n", nil, "b.csv:2: invalid signal: md5 value \"123\" has 3 characters"},
		{"all-zero pdq", "z.csv", good + good + "pdq," + strings.Repeat("0", 64) + ",tve\n", nil, "z.csv:3: invalid signal: blank perceptual hash"},
		{"unknown type", "t.csv", "tmk,abc,tve\n" + good, nil, "t.csv:1: invalid signal: unsupported type \"tmk\""},
		{"no bank", "n.csv", good + "pdq," + pdqB + "\n", nil, "n.csv:2: no bank"},
		{"bad algorithm", "a.json", `[{"hash_digest":"` + pdqA + `","algorithm":"PDQ"},{"hash_digest":"` + pdqA + `","algorithm":"SHA1"}]`,
			[]string{"--bank", "tat"}, `a.json: record 2 (byte 102): algorithm "SHA1": want PDQ or MD5`},
		{"broken JSON", "j.json", `[{"hash_digest":"` + pdqA + `","algorithm":"PDQ"},{"hash_digest"}]`,
			[]string{"--bank", "tat"}, "j.json: byte"},
		{"format forced", "f.csv", good, []string{"--format", "xml"}, `format "xml"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, tc.file, tc.content)
			args := append(append([]string{"import"}, tc.args...), file)
			_, _, err := e.run(args...)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %v, want one containing %q", err, tc.mention)
			}
		})
	}
	// Nothing at all was published: every bad file was refused whole.
	if out := e.mustRun("export"); out != "signal_type,signal,bank,labels\n" {
		t.Fatalf("a refused import published entries:\n%s", out)
	}

	// --skip-invalid reports each bad line and imports the rest.
	file := writeFile(t, "mixed.csv", good+"md5,123,tve\n"+"md5,"+md5A+",tve\n"+"pdq,"+strings.Repeat("0", 64)+",tve\n")
	out, errOut, err := e.run("import", "--skip-invalid", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "mixed.csv:2:") || !strings.Contains(errOut, "mixed.csv:4:") || strings.Contains(errOut, "mixed.csv:3:") {
		t.Errorf("stderr does not list exactly lines 2 and 4:\n%s", errOut)
	}
	if !strings.Contains(out, `"invalid":2`) || !strings.Contains(out, `"published":2`) {
		t.Errorf("summary %s: want 2 invalid, 2 published", out)
	}
	// --dry-run publishes nothing.
	dry := writeFile(t, "dry.csv", "md5,"+strings.Repeat("ab", 16)+",tve\n")
	if out := e.mustRun("import", "--dry-run", dry); !strings.Contains(out, `"dry_run":true`) {
		t.Errorf("dry run summary %s", out)
	}
	if exported := e.mustRun("export"); strings.Count(exported, "\n") != 3 || strings.Contains(exported, "abab") {
		t.Errorf("export after --skip-invalid and --dry-run:\n%s", exported)
	}
}

func TestBankConfigureListDisable(t *testing.T) {
	e := newBankEnv(t)
	e.mustRun("import", "--bank", "fallback", writeFile(t, "b.csv", sampleCSV))
	out := e.mustRun("configure", "--bank", "tve", "--kind", "allow", "--threshold", "pdq=20,phash=8", "--label", "source:ngo,category:benign")
	if !strings.Contains(out, `"kind":"allow"`) || !strings.Contains(out, `"published":true`) {
		t.Fatalf("configure printed %s", out)
	}
	// A second configure changes only what it names.
	e.mustRun("configure", "--bank", "tve", "--disable-signal", "phash", "--enabled=false")
	// Bad settings are refused before anything is published.
	for _, args := range [][]string{
		{"--threshold", "pdq=300"}, {"--threshold", "md5=2"}, {"--kind", "deny"}, {"--enabled", "maybe"},
		{"--disable-signal", "tmk"}, {"--threshold", "pdq"},
	} {
		if _, _, err := e.run(append([]string{"configure", "--bank", "tve"}, args...)...); err == nil {
			t.Errorf("configure %v accepted", args)
		}
	}
	e.mustRun("disable", "--bank", "tve", bank.DeriveEntryID("md5", md5A), "never-added")

	var infos []bank.BankInfo
	if err := json.Unmarshal([]byte(e.mustRun("list", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	byName := map[string]bank.BankInfo{}
	for _, i := range infos {
		byName[i.Name] = i
	}
	tve := byName["tve"]
	wantCfg := events.BankConfig{Enabled: false, Kind: "allow", Labels: []string{"category:benign", "source:ngo"},
		Signals: []events.BankSignalConfig{{Type: "pdq", Enabled: true, Threshold: 20}, {Type: "phash", Enabled: false, Threshold: 8}}}
	if !tve.Configured || !reflect.DeepEqual(tve.Config, wantCfg) || tve.Entries != 1 || tve.Disabled != 2 {
		t.Fatalf("tve: %+v\nwant config %+v, 1 entry, 2 disabled", tve, wantCfg)
	}
	if other := byName["other"]; other.Configured || other.Entries != 1 || other.Config.Kind != "block" {
		t.Fatalf("other: %+v", other)
	}
	table := e.mustRun("list")
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for name, want := range map[string]string{
		"BANK":  "BANK KIND ENABLED INCIDENT SEVERITY ENTRIES DISABLED SIGNALS LABELS",
		"tve":   "tve allow no no medium 1 2 pdq=20* phash=off* dhash=off md5 sha256 category:benign,source:ngo",
		"other": "other block yes no medium 1 0 pdq=31 phash=off dhash=off md5 sha256",
	} {
		if rows[name] != want {
			t.Errorf("list row %q, want %q\n%s", rows[name], want, table)
		}
	}
	if !strings.Contains(table, "(* set by the bank's configuration") {
		t.Errorf("list shows a * without its note:\n%s", table)
	}
	// --reset-signal and --reset return to the defaults.
	e.mustRun("configure", "--bank", "tve", "--reset-signal", "pdq,phash", "--clear-labels", "--enabled", "true", "--kind", "block")
	if info := listBank(t, e, "tve"); !reflect.DeepEqual(info.Config, events.DefaultBankConfig()) {
		t.Errorf("after resetting: %+v", info.Config)
	}
	e.mustRun("configure", "--bank", "tve", "--reset", "--kind", "allow")
	if info := listBank(t, e, "tve"); info.Config.Kind != "allow" || !info.Config.Enabled || len(info.Config.Signals) != 0 {
		t.Errorf("after --reset --kind allow: %+v", info.Config)
	}
	exported := e.mustRun("export", "--bank", "tve", "--include-disabled")
	if !strings.Contains(exported, "md5,"+md5A+",tve,deleted:true") {
		t.Errorf("disabled entry not exported as deleted:\n%s", exported)
	}
}

func listBank(t *testing.T, e *bankEnv, name string) bank.BankInfo {
	t.Helper()
	var infos []bank.BankInfo
	if err := json.Unmarshal([]byte(e.mustRun("list", "--json", "--bank", name)), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("list --bank %s: %v %+v", name, err, infos)
	}
	return infos[0]
}

func TestBankUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{nil, {"frobnicate"}, {"disable", "--bank", "x"}, {"import"}, {"configure"}} {
		err := cmdBank(context.Background(), args, &out, &errOut)
		if _, ok := err.(usageError); !ok {
			t.Errorf("bank %v: %v, want a usage error", args, err)
		}
	}
}

// BenchmarkBankImport publishes a 100k-line CSV file to the real broker and
// reports lines per second.
func BenchmarkBankImport(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	var sb strings.Builder
	sb.WriteString("signal_type,signal,bank,labels\n")
	const lines = 100_000
	for i := range lines {
		fmt.Fprintf(&sb, "pdq,%016x%056x,bench,source:bench\n", uint64(i)+1, uint64(i)*0x9e3779b97f4a7c15)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "bench.csv")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var out, errOut bytes.Buffer
		start := time.Now()
		err := cmdBank(context.Background(), []string{"import", "--kafka-brokers", strings.Join(brokers, ","),
			"--topic-bank-updates", testenv.Name("bench-bank"), file}, &out, &errOut)
		if err != nil {
			b.Fatal(err, errOut.String())
		}
		b.ReportMetric(lines/time.Since(start).Seconds(), "lines/s")
	}
}
