package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// flipBits returns a hex hash with its lowest n bits inverted: at distance n.
func flipBits(h string, n int) string {
	b, _ := hex.DecodeString(h)
	for i := 0; i < n; i++ {
		b[len(b)-1-i/8] ^= 1 << (i % 8)
	}
	return hex.EncodeToString(b)
}

func runMatchHashes(t *testing.T, args ...string) ([]hashMatch, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmdMatchHashes(context.Background(), args, &out, &errOut)
	var res []hashMatch
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m hashMatch
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		res = append(res, m)
	}
	return res, errOut.String(), err
}

// summary is "line:query-type:bank/entry@distance ..." for compact checks.
func summary(res []hashMatch) string {
	var parts []string
	for _, r := range res {
		p := fmt.Sprintf("%d:%s", r.Line, r.Type)
		for _, m := range r.Matches {
			p += fmt.Sprintf(":%s/%s@%d", m.Bank, m.EntryID, m.Distance)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestMatchHashes(t *testing.T) {
	bankCSV := writeFile(t, "gifct.csv", sampleCSV)
	queries := writeFile(t, "queries.txt", strings.Join([]string{
		"# planted copies of the bank's hashes",
		pdqA,                             // line 2: exact
		flipBits(pdqA, 10),               // line 3: near
		flipBits(pdqA, 32),               // line 4: just past the threshold
		strings.ToUpper(md5A),            // line 5: 32 digits: md5
		"",                               // line 6
		"sha256:" + shaA,                 // line 7
		"PHASH: c3a55a3c0f0ff0f3",        // line 8: 2 bits from the bank's phash
		"c3a55a3c0f0ff0f0",               // line 9: 16 digits without a type
		"pdq:zz",                         // line 10
		"pdq:" + strings.Repeat("0", 64), // line 11: blank
		flipBits(pdqB, 3),                // line 12
	}, "\n"))
	res, errOut, err := runMatchHashes(t, "--bank", bankCSV, "--queries", queries, "--threshold", "phash=10")
	if err == nil || !strings.Contains(err.Error(), "3 query lines") {
		t.Errorf("error %v, want one counting the 3 bad query lines", err)
	}
	for _, line := range []string{":9: ", ":10: ", ":11: "} {
		if !strings.Contains(errOut, "queries.txt"+line) {
			t.Errorf("stderr does not report line %s:\n%s", line, errOut)
		}
	}
	tveP, tveM := "tve/pdq-"+id("pdq", pdqA), "tve/md5-"+id("md5", md5A)
	want := strings.Join([]string{
		"2:pdq:" + tveP + "@0",
		"3:pdq:" + tveP + "@10",
		"5:md5:" + tveM + "@0",
		"7:sha256:gifct/sha256-" + id("sha256", shaA) + "@0",
		"8:phash:other/video-7@2",
		"12:pdq:other/video-7@3",
	}, " ")
	if got := summary(res); got != want {
		t.Fatalf("matches\n got %s\nwant %s", got, want)
	}
	if m := res[0].Matches[0]; m.Threshold != 31 || strings.Join(m.Labels, ",") != "category:terrorism,source:gifct" || res[0].Query != "pdq:"+pdqA {
		t.Errorf("first match %+v (query %s)", m, res[0].Query)
	}
	if !strings.Contains(errOut, "6 matched of 7") {
		t.Errorf("summary line missing: %s", errOut)
	}

	// --threshold, --all and --type.
	q2 := writeFile(t, "q2.txt", flipBits(pdqA, 10)+"\n"+shaA+"\n")
	res, _, err = runMatchHashes(t, "--bank", bankCSV, "--queries", q2, "--threshold", "pdq=5", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(res); got != "1:pdq 2:pdq" {
		t.Errorf("with pdq=5 and --all: %s", got)
	}
	res, _, err = runMatchHashes(t, "--bank", bankCSV, "--queries", q2, "--type", "sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(res); got != "2:sha256:gifct/sha256-"+id("sha256", shaA)+"@0" {
		t.Errorf("with --type sha256: %s", got)
	}

	// A TAT bank file, detected, with the bank named by --bank-name.
	tat := writeFile(t, "list.json", `[{"hash_digest":"`+pdqA+`","algorithm":"PDQ","ideology":"far-right"}]`)
	res, _, err = runMatchHashes(t, "--bank", tat, "--bank-name", "tat", "--queries", q2)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(res); got != "1:pdq:tat/pdq-"+id("pdq", pdqA)+"@10" || strings.Join(res[0].Matches[0].Labels, ",") != "ideology:far-right,source:tat" {
		t.Errorf("TAT bank: %s %+v", got, res)
	}
}

func TestMatchHashesRefusesBadBanks(t *testing.T) {
	q := writeFile(t, "q.txt", pdqA+"\n")
	bad := writeFile(t, "bad.csv", "pdq,"+pdqA+",b\nmd5,xyz,b\n")
	if _, _, err := runMatchHashes(t, "--bank", bad, "--queries", q); err == nil || !strings.Contains(err.Error(), "bad.csv:2:") {
		t.Errorf("bad bank file: %v, want an error naming bad.csv:2", err)
	}
	res, errOut, err := runMatchHashes(t, "--bank", bad, "--queries", q, "--skip-invalid")
	if err != nil || len(res) != 1 || !strings.Contains(errOut, "skipped: ") {
		t.Errorf("--skip-invalid: %v %+v %s", err, res, errOut)
	}
	if _, _, err := runMatchHashes(t, "--queries", q); err == nil {
		t.Error("no --bank accepted")
	}
	if _, _, err := runMatchHashes(t, "--bank", bad, "--type", "tmk"); err == nil {
		t.Error("--type tmk accepted")
	}
}

// id is the hex part of the id an entry known by one hash gets.
func id(typ, value string) string {
	return strings.TrimPrefix(bank.DeriveEntryID(typ, value), typ+"-")
}

func TestProgress(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	var buf bytes.Buffer
	p := newProgressTo(&buf, "importing x", false, clock)
	p.update(10, 100, 1, "records")
	now = now.Add(2 * time.Second)
	p.update(20, 100, 2, "records")
	if buf.Len() != 0 {
		t.Fatalf("drew before 5 s: %q", buf.String())
	}
	now = now.Add(4 * time.Second)
	p.update(50, 200, 500, "records")
	p.finish(200, 200, 900, "records")
	want := "importing x:  25.0% (500 records, 83 records/s)\nimporting x: 100.0% (900 records, 150 records/s)\n"
	if buf.String() != want {
		t.Fatalf("log output\n%q\nwant\n%q", buf.String(), want)
	}

	buf.Reset()
	now = time.Unix(0, 0)
	p = newProgressTo(&buf, "x", true, clock)
	now = now.Add(time.Second)
	p.update(1, 2, 1, "records")
	p.finish(2, 2, 2, "records")
	if s := buf.String(); !strings.HasPrefix(s, "\rx [===============               ]  50.0%") || !strings.HasSuffix(s, "\n") ||
		strings.Count(s, "\r") != 2 {
		t.Fatalf("terminal output %q", s)
	}

	buf.Reset()
	p = newProgressTo(&buf, "quick", true, clock)
	p.update(1, 1, 1, "records")
	p.finish(1, 1, 1, "records")
	if buf.Len() != 0 {
		t.Fatalf("a job done before the first redraw drew %q", buf.String())
	}
}
