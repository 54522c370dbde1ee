package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// hashMatch is one line of match-hashes' output.
type hashMatch struct {
	Line    int            `json:"line"`
	Query   string         `json:"query"`
	Type    string         `json:"type"`
	Matches []events.Match `json:"matches"`
}

func cmdMatchHashes(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		bankFile, queries, defType, format, bankName string
		thresholds                                   []string
		all, skipInvalid                             bool
	)
	s := newSet(ctx, "takedownctl match-hashes")
	s.String(&bankFile, "bank", "", "bank file: CSV or TAT JSON, as bank import reads")
	s.String(&queries, "queries", "-", "file of hashes to look up, one per line: HEX or TYPE:HEX (- for standard input)")
	s.String(&defType, "type", "", "type of query lines without TYPE: (default: by length, 64 hex digits pdq, 32 md5)")
	s.String(&format, "format", "", "format of the bank file, csv or tat (default: detected)")
	s.String(&bankName, "bank-name", "", "bank of TAT records and CSV rows without one (default: the bank file's name)")
	s.List(&thresholds, "threshold", "", "match thresholds by signal type (default pdq=31; phash and dhash are off unless given, e.g. phash=10)")
	s.Bool(&all, "all", false, "print queries without matches too")
	s.Bool(&skipInvalid, "skip-invalid", false, "skip invalid records of the bank file instead of stopping")
	if err := s.Parse(args); err != nil {
		return err
	}
	if bankFile == "" || len(s.Args()) != 0 {
		return usageError{"match-hashes needs --bank FILE (and --queries FILE or hashes on standard input)"}
	}
	if defType != "" {
		if _, ok := events.SignalBits(defType); !ok {
			return usageError{fmt.Sprintf("--type %q: want pdq, phash, dhash, md5 or sha256", defType)}
		}
	}
	th, err := parseThresholds(thresholds)
	if err != nil {
		return err
	}
	// A threshold given for phash or dhash turns it on: the matcher's
	// default leaves them off (see pkg/matching/bank).
	on := map[string]bool{}
	for typ := range th {
		on[typ] = true
	}
	banks, err := bank.New(bank.Options{Thresholds: th, Enabled: on})
	if err != nil {
		return err
	}
	if bankName == "" {
		bankName = strings.TrimSuffix(filepath.Base(bankFile), filepath.Ext(bankFile))
	}
	loadStart := time.Now()
	loaded, err := loadBankFile(banks, bankFile, format, bankName, skipInvalid, errOut)
	if err != nil {
		return err
	}
	loadTime := time.Since(loadStart)

	var qr io.Reader = os.Stdin
	if queries != "-" {
		f, err := os.Open(queries)
		if err != nil {
			return err
		}
		defer f.Close()
		qr = f
	}
	start := time.Now()
	st, err := matchQueries(ctx, banks, qr, queries, defType, all, out, errOut)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(errOut, "bank: %d entries from %s in %.2f s; queries: %d matched of %d in %.2f s (%.0f queries/s)",
		loaded, bankFile, loadTime.Seconds(), st.matched, st.queries, secs, float64(st.queries)/max(secs, 1e-9))
	if st.invalid > 0 {
		fmt.Fprintf(errOut, "; %d invalid query lines\n", st.invalid)
		return fmt.Errorf("%d query lines could not be read (see above)", st.invalid)
	}
	fmt.Fprintln(errOut)
	return nil
}

// loadBankFile applies every record of a bank file to banks, stopping at the
// first invalid one unless skipInvalid.
func loadBankFile(banks *bank.Banks, path, format, bankName string, skipInvalid bool, errOut io.Writer) (int64, error) {
	in, err := openImport(path, format, bank.ImportOptions{Bank: bankName})
	if err != nil {
		return 0, err
	}
	defer in.f.Close()
	bar := progressFor(errOut, "loading "+path)
	var n int64
	for {
		rec, err := in.rr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = banks.Apply(rec.Update)
		}
		if err != nil {
			var ie *bank.ImportError
			if skipInvalid && errors.As(err, &ie) && !ie.Fatal {
				fmt.Fprintf(errOut, "skipped: %v\n", err)
				continue
			}
			bar.finish(in.count.n, in.size, n, "records")
			return n, err
		}
		n++
		bar.update(in.count.n, in.size, n, "records")
	}
	bar.finish(in.count.n, in.size, n, "records")
	return n, nil
}

// parseQuery reads one query line: HEX or TYPE:HEX. Without a type (and
// without --type) the length decides: 64 hex digits are pdq (a sha256 must
// say sha256:), 32 are md5; 16 could be phash or dhash and must say which.
func parseQuery(line, defType string) (events.Signal, error) {
	typ, value := defType, line
	if t, v, ok := strings.Cut(line, ":"); ok {
		typ, value = strings.ToLower(strings.TrimSpace(t)), strings.TrimSpace(v)
	}
	if typ == "" {
		switch len(value) {
		case 64:
			typ = events.SignalPDQ
		case 32:
			typ = events.SignalMD5
		case 16:
			return events.Signal{}, fmt.Errorf("%q: 16 hex digits may be a phash or a dhash: write phash:HEX or dhash:HEX, or use --type", value)
		default:
			return events.Signal{}, fmt.Errorf("%q: %d characters, no type: write TYPE:HEX or use --type", clipQuery(value), len(value))
		}
	}
	return bank.Normalize(events.Signal{Type: typ, Value: value})
}

func clipQuery(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

type queryStats struct{ queries, matched, invalid int64 }

// matchQueries matches query lines in chunks, the lines of a chunk in
// parallel, and prints the results in input order.
func matchQueries(ctx context.Context, banks *bank.Banks, r io.Reader, name, defType string, all bool, out, errOut io.Writer) (queryStats, error) {
	const chunk = 4096
	var st queryStats
	type query struct {
		line int
		sig  events.Signal
		res  []events.Match
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	enc := json.NewEncoder(bw)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	workers := runtime.GOMAXPROCS(0)
	batch := make([]query, 0, chunk)
	flush := func() error {
		var wg sync.WaitGroup
		per := (len(batch) + workers - 1) / workers
		for w := 0; w < workers && w*per < len(batch); w++ {
			part := batch[w*per : min(len(batch), (w+1)*per)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range part {
					part[i].res = banks.Match([]events.Signal{part[i].sig})
				}
			}()
		}
		wg.Wait()
		for _, q := range batch {
			st.queries++
			if len(q.res) > 0 {
				st.matched++
			} else if !all {
				continue
			}
			if err := enc.Encode(hashMatch{Line: q.line, Query: q.sig.Type + ":" + q.sig.Value, Type: q.sig.Type, Matches: q.res}); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return ctx.Err()
	}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		sig, err := parseQuery(text, defType)
		if err != nil {
			st.invalid++
			fmt.Fprintf(errOut, "%s:%d: %v\n", name, line, err)
			continue
		}
		batch = append(batch, query{line: line, sig: sig})
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	if err := flush(); err != nil {
		return st, err
	}
	return st, bw.Flush()
}
