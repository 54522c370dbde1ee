package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// cmdBank runs `takedownctl bank SUBCOMMAND` (see commandTable).
func cmdBank(ctx context.Context, args []string, out, errOut io.Writer) error {
	return dispatch(ctx, subcommands("bank"), "bank", args, out, errOut)
}

// progressFor returns a bar on errOut, redrawn in place when it is a
// terminal.
func progressFor(errOut io.Writer, label string) *progress {
	if f, ok := errOut.(*os.File); ok {
		return newProgress(f, label)
	}
	return newProgressTo(errOut, label, false, time.Now)
}

// importFile is an import file opened for one pass.
type importFile struct {
	f      *os.File
	size   int64
	count  *countingReader
	format string
	rr     bank.RecordReader
}

func openImport(path, format string, opts bank.ImportOptions) (*importFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	in := &importFile{f: f, size: st.Size(), count: &countingReader{r: f}, format: format}
	var r io.Reader = in.count
	if format == "" {
		if in.format, r, err = bank.DetectFormat(in.count); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	opts.Name = path
	switch in.format {
	case bank.FormatCSV:
		in.rr = bank.NewCSVReader(r, opts)
	case bank.FormatTAT:
		in.rr = bank.NewTATReader(r, opts)
	default:
		f.Close()
		return nil, usageError{fmt.Sprintf("format %q: want csv or tat", format)}
	}
	return in, nil
}

// importSummary is what `bank import` prints when it is done.
type importSummary struct {
	File      string           `json:"file"`
	Format    string           `json:"format"`
	Records   int64            `json:"records"`
	Adds      int64            `json:"adds"`
	Disables  int64            `json:"disables"`
	Invalid   int64            `json:"invalid"`
	Banks     map[string]int64 `json:"banks"`
	DryRun    bool             `json:"dry_run,omitempty"`
	Published int64            `json:"published"`
	Seconds   float64          `json:"publish_seconds"`
	PerSecond float64          `json:"published_per_second"`
}

func cmdBankImport(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		ts          topicSettings
		bankName    string
		format      string
		labels      []string
		skipInvalid bool
		dryRun      bool
		batch       int
	)
	s := newSet(ctx, "takedownctl bank import")
	ts.bind(s, true)
	s.String(&bankName, "bank", "", "bank of TAT records and of CSV rows whose bank column is empty")
	s.String(&format, "format", "", "csv or tat (default: detected from the file's first bytes)")
	s.List(&labels, "label", "", "labels added to every imported entry, e.g. source:gifct")
	s.Bool(&skipInvalid, "skip-invalid", false, "report invalid records and import the rest (default: import nothing if any record is invalid)")
	s.Bool(&dryRun, "dry-run", false, "validate the file and print the summary without publishing")
	s.Int(&batch, "batch-size", 5000, "bank updates per Kafka produce batch")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) != 1 {
		return usageError{"bank import needs exactly one FILE"}
	}
	path := s.Args()[0]
	opts := bank.ImportOptions{Bank: bankName, Labels: labels}
	sum := importSummary{File: path, Banks: map[string]int64{}, DryRun: dryRun}

	// Pass 1 validates the whole file, so that a bad record found at the end
	// does not leave half of the file published.
	in, err := openImport(path, format, opts)
	if err != nil {
		return err
	}
	sum.Format = in.format
	bar := progressFor(errOut, "validating "+path)
	for {
		rec, err := in.rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var ie *bank.ImportError
			if !errors.As(err, &ie) || ie.Fatal || !skipInvalid {
				in.f.Close()
				bar.finish(in.count.n, in.size, sum.Records, "records")
				return fmt.Errorf("%w\nnothing was published (--skip-invalid imports the valid records)", err)
			}
			sum.Invalid++
			fmt.Fprintf(errOut, "skipped: %v\n", err)
			continue
		}
		sum.Records++
		sum.Banks[rec.Update.Bank]++
		if rec.Update.Op == events.BankOpDisable {
			sum.Disables++
		} else {
			sum.Adds++
		}
		bar.update(in.count.n, in.size, sum.Records, "records")
	}
	bar.finish(in.count.n, in.size, sum.Records, "records")
	in.f.Close()
	if dryRun || sum.Records == 0 {
		return json.NewEncoder(out).Encode(sum)
	}

	// Pass 2 publishes.
	if in, err = openImport(path, format, opts); err != nil {
		return err
	}
	defer in.f.Close()
	pub, err := newBankPublisher(ctx, ts, batch)
	if err != nil {
		return err
	}
	start := time.Now()
	bar = progressFor(errOut, "publishing "+path)
	var n int64
	for {
		rec, err := in.rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var ie *bank.ImportError
			if errors.As(err, &ie) && !ie.Fatal {
				continue // reported in pass 1
			}
			_ = pub.close(ctx)
			return fmt.Errorf("%w (after %d of %d records were published)", err, pub.done(), sum.Records)
		}
		if err := pub.add(ctx, rec.Update); err != nil {
			_ = pub.close(ctx)
			return fmt.Errorf("%s: record at line %d / index %d: %w (after %d of %d records were published)",
				path, rec.Line, rec.Index, err, pub.done(), sum.Records)
		}
		n++
		bar.update(in.count.n, in.size, n, "records")
	}
	if err := pub.close(ctx); err != nil {
		return fmt.Errorf("%w (%d of %d records were published)", err, pub.done(), sum.Records)
	}
	bar.finish(in.count.n, in.size, n, "records")
	if n != sum.Records {
		return fmt.Errorf("%s changed while it was imported: %d records validated, %d published", path, sum.Records, n)
	}
	sum.Published = pub.done()
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.PerSecond = float64(sum.Published) / sum.Seconds
	}
	return json.NewEncoder(out).Encode(sum)
}

// loadWithProgress loads the bank topic, drawing a bar for large topics and
// warning about records the banks refused.
func loadWithProgress(ctx context.Context, ts topicSettings, keep func([]byte) bool, errOut io.Writer) (*bank.Banks, error) {
	bar := progressFor(errOut, "reading "+ts.topic)
	var last, all int64
	banks, st, err := loadBankTopic(ctx, ts, keep, func(done, total int64) {
		last, all = done, total
		bar.update(done, total, done, "records")
	})
	bar.finish(last, all, last, "records")
	if err != nil {
		return nil, err
	}
	if st.rejected > 0 {
		fmt.Fprintf(errOut, "warning: %d of %d records on %s were refused (the matcher skips them too); last: %s\n",
			st.rejected, st.records, ts.topic, st.lastReject)
	}
	return banks, nil
}

func bankKeyFilter(name string) func([]byte) bool {
	if name == "" {
		return nil
	}
	prefix := name + "/"
	return func(key []byte) bool { return strings.HasPrefix(string(key), prefix) }
}

func cmdBankExport(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		ts              topicSettings
		bankName        string
		format          string
		includeDisabled bool
		output          string
	)
	s := newSet(ctx, "takedownctl bank export")
	ts.bind(s, false)
	s.String(&bankName, "bank", "", "export only this bank (default: every bank)")
	s.String(&format, "format", bank.FormatCSV, "csv, or tat (pdq and md5 hashes only)")
	s.Bool(&includeDisabled, "include-disabled", false, "export disabled entries too (marked deleted)")
	s.String(&output, "output", "-", "file to write (- for standard output)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) != 0 {
		return usageError{"bank export takes no arguments"}
	}
	type entryWriter interface{ Write(bank.Entry) error }
	var (
		w        entryWriter
		finish   func() error
		skipped  func() int
		closeOut = func() error { return nil }
	)
	if output != "-" {
		f, err := os.Create(output)
		if err != nil {
			return err
		}
		out, closeOut = f, f.Close
	}
	switch format {
	case bank.FormatCSV:
		cw, err := bank.NewCSVWriter(out)
		if err != nil {
			return err
		}
		w, finish, skipped = cw, cw.Flush, func() int { return cw.Skipped }
	case bank.FormatTAT:
		tw := bank.NewTATWriter(out)
		w, finish, skipped = tw, tw.Close, func() int { return tw.Skipped }
	default:
		return usageError{fmt.Sprintf("format %q: want csv or tat", format)}
	}
	banks, err := loadWithProgress(ctx, ts, bankKeyFilter(bankName), errOut)
	if err != nil {
		return err
	}
	n := 0
	for e := range banks.All() {
		if e.Disabled && !includeDisabled || bankName != "" && e.Bank != bankName {
			continue
		}
		if err := w.Write(e); err != nil {
			return err
		}
		n++
	}
	if err := errors.Join(finish(), closeOut()); err != nil {
		return err
	}
	msg := fmt.Sprintf("exported %d entries from %s", n-skipped(), ts.topic)
	if k := skipped(); k > 0 {
		msg += fmt.Sprintf("; %d left out (no hash the %s format can hold)", k, format)
	}
	if bankName != "" && n == 0 {
		msg += fmt.Sprintf("; bank %q has no entries", bankName)
	}
	fmt.Fprintln(errOut, msg)
	return nil
}

func cmdBankList(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		ts      topicSettings
		asJSON  bool
		onlyOne string
	)
	s := newSet(ctx, "takedownctl bank list")
	ts.bind(s, false)
	s.Bool(&asJSON, "json", false, "print JSON instead of a table")
	s.String(&onlyOne, "bank", "", "list only this bank")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) != 0 {
		return usageError{"bank list takes no arguments"}
	}
	banks, err := loadWithProgress(ctx, ts, bankKeyFilter(onlyOne), errOut)
	if err != nil {
		return err
	}
	infos := banks.List()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BANK\tKIND\tENABLED\tINCIDENT\tSEVERITY\tENTRIES\tDISABLED\tSIGNALS\tLABELS")
	marked := false
	for _, b := range infos {
		signals := signalSummary(b)
		marked = marked || strings.Contains(signals, "*")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.Name, b.Config.Kind, yesNo(b.Config.Enabled), yesNo(b.Config.Incident),
			cmp.Or(b.Config.Severity, events.SeverityMedium), b.Entries, b.Disabled, signals, strings.Join(b.Config.Labels, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The note explains the marker, so it comes only with one.
	if marked {
		fmt.Fprintln(out, "(* set by the bank's configuration; other thresholds are the matcher's defaults, built-in values shown)")
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// signalSummary shows a bank's effective signal settings, e.g.
// "pdq=20* phash=10 dhash=off* md5 sha256".
func signalSummary(b bank.BankInfo) string {
	var parts []string
	order := []string{events.SignalPDQ, events.SignalPHash, events.SignalDHash, events.SignalMD5, events.SignalSHA256}
	for _, typ := range order {
		i := slices.IndexFunc(b.Effective, func(s events.BankSignalConfig) bool { return s.Type == typ })
		if i < 0 {
			continue
		}
		s := b.Effective[i]
		p := typ
		switch {
		case !s.Enabled:
			p += "=off"
		case !events.ExactSignal(typ):
			p += "=" + strconv.Itoa(s.Threshold)
		}
		if slices.ContainsFunc(b.Config.Signals, func(c events.BankSignalConfig) bool { return c.Type == typ }) {
			p += "*"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func cmdBankDisable(ctx context.Context, args []string, out io.Writer) error {
	var (
		ts       topicSettings
		bankName string
	)
	s := newSet(ctx, "takedownctl bank disable")
	ts.bind(s, true)
	s.String(&bankName, "bank", "", "bank of the entries")
	if err := s.Parse(args); err != nil {
		return err
	}
	if bankName == "" || len(s.Args()) == 0 {
		return usageError{"bank disable needs --bank NAME and at least one ENTRY_ID"}
	}
	updates := make([]events.BankUpdate, 0, len(s.Args()))
	for _, id := range s.Args() {
		u := events.NewBankDisable(bankName, id)
		if err := u.Validate(); err != nil {
			return err
		}
		updates = append(updates, u)
	}
	pub, err := newBankPublisher(ctx, ts, 1000)
	if err != nil {
		return err
	}
	for _, u := range updates {
		if err := pub.add(ctx, u); err != nil {
			_ = pub.close(ctx)
			return err
		}
	}
	if err := pub.close(ctx); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, u := range updates {
		if err := enc.Encode(map[string]string{"op": u.Op, "bank": u.Bank, "entry_id": u.EntryID}); err != nil {
			return err
		}
	}
	return nil
}

func cmdBankConfigure(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		ts                          topicSettings
		bankName, kind, enabled     string
		labels, thresholds          []string
		disableSig, enableSig, rsig []string
		clearLabels, reset, dryRun  bool
		incident, severity          string
		videoQuery, videoReference  string
	)
	s := newSet(ctx, "takedownctl bank configure")
	ts.bind(s, true)
	s.String(&bankName, "bank", "", "bank to configure")
	s.String(&kind, "kind", "", "block (matches are taken down) or allow (matches suppress block matches)")
	s.String(&enabled, "enabled", "", "true or false: whether the bank matches at all")
	s.List(&labels, "label", "", "labels added to every match of the bank (replaces the bank's labels)")
	s.Bool(&clearLabels, "clear-labels", false, "remove the bank's labels")
	s.List(&thresholds, "threshold", "", "match thresholds by signal type, e.g. pdq=31,phash=10")
	s.List(&disableSig, "disable-signal", "", "signal types whose hashes the bank ignores, e.g. phash,dhash")
	s.List(&enableSig, "enable-signal", "", "signal types to match again")
	s.List(&rsig, "reset-signal", "", "signal types back to the matcher's default threshold, enabled")
	s.Bool(&reset, "reset", false, "start from the default configuration instead of the bank's current one")
	s.Bool(&dryRun, "dry-run", false, "print the new configuration without publishing it")
	s.String(&incident, "incident", "", "true or false: an incident bank (an attack in progress) has its matches removed without review at a wider distance, and reviewed first")
	s.String(&severity, "severity", "", "critical, high, medium or low: orders the bank's items in the review queue")
	s.String(&videoQuery, "video-query-percent", "", "share (1-100) of an uploaded video's frames that must be in one of the bank's videos (0: the matcher's default)")
	s.String(&videoReference, "video-reference-percent", "", "share (1-100) of a bank video's frames an upload must hold (0: the matcher's default)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if bankName == "" || len(s.Args()) != 0 {
		return usageError{"bank configure needs --bank NAME and takes no arguments"}
	}
	change := func(cfg *events.BankConfig) error {
		if err := changeIncident(cfg, incident, severity); err != nil {
			return err
		}
		if err := changeVideo(cfg, videoQuery, videoReference); err != nil {
			return err
		}
		return changeConfig(cfg, kind, enabled, labels, clearLabels, thresholds, disableSig, enableSig, rsig)
	}
	// Bad flags are refused before the topic is read.
	pre := events.DefaultBankConfig()
	if err := change(&pre); err != nil {
		return err
	}
	// A configure carries the whole configuration: start from the current
	// one on the topic, so that flags not given keep their values.
	cfg := events.DefaultBankConfig()
	if !reset {
		banks, err := loadWithProgress(ctx, ts, func(k []byte) bool { return string(k) == bankName+"/" }, errOut)
		if err != nil {
			return err
		}
		if info, ok := banks.Bank(bankName); ok && info.Configured {
			cfg = info.Config
		}
	}
	if err := change(&cfg); err != nil {
		return err
	}
	u := events.NewBankConfigure(bankName, cfg)
	if err := u.Validate(); err != nil {
		return err
	}
	if !dryRun {
		pub, err := newBankPublisher(ctx, ts, 1)
		if err != nil {
			return err
		}
		if err := errors.Join(pub.add(ctx, u), pub.close(ctx)); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(out)
	return enc.Encode(map[string]any{"bank": bankName, "config": cfg, "published": !dryRun})
}

// changeIncident applies configure's --incident and --severity to cfg.
func changeIncident(cfg *events.BankConfig, incident, severity string) error {
	if incident != "" {
		v, err := strconv.ParseBool(incident)
		if err != nil {
			return fmt.Errorf("--incident %q: want true or false", incident)
		}
		cfg.Incident = v
	}
	if severity != "" {
		if !events.ValidSeverity(severity) {
			return fmt.Errorf("--severity %q: want critical, high, medium or low", severity)
		}
		cfg.Severity = severity
	}
	return nil
}

// changeConfig applies configure's flags to cfg.
func changeConfig(cfg *events.BankConfig, kind, enabled string, labels []string, clearLabels bool,
	thresholds, disableSig, enableSig, resetSig []string) error {
	if kind != "" {
		cfg.Kind = kind
	}
	if enabled != "" {
		v, err := strconv.ParseBool(enabled)
		if err != nil {
			return fmt.Errorf("--enabled %q: want true or false", enabled)
		}
		cfg.Enabled = v
	}
	if clearLabels {
		cfg.Labels = []string{}
	}
	if len(labels) > 0 {
		cfg.Labels = labels
	}
	known := func(flag, typ string) error {
		if _, ok := events.SignalBits(typ); !ok {
			return fmt.Errorf("%s: unknown signal type %q (want pdq, phash, dhash, md5 or sha256)", flag, typ)
		}
		return nil
	}
	// setting returns the bank's override for typ, adding one at the
	// built-in default threshold if create is set.
	setting := func(typ string, create bool) *events.BankSignalConfig {
		for i := range cfg.Signals {
			if cfg.Signals[i].Type == typ {
				return &cfg.Signals[i]
			}
		}
		if !create {
			return nil
		}
		cfg.Signals = append(cfg.Signals, events.BankSignalConfig{Type: typ, Enabled: true, Threshold: bank.DefaultThresholds()[typ]})
		return &cfg.Signals[len(cfg.Signals)-1]
	}
	for _, typ := range resetSig {
		if err := known("--reset-signal", typ); err != nil {
			return err
		}
		cfg.Signals = slices.DeleteFunc(cfg.Signals, func(c events.BankSignalConfig) bool { return c.Type == typ })
	}
	th, err := parseThresholds(thresholds)
	if err != nil {
		return err
	}
	for typ, v := range th {
		if err := known("--threshold", typ); err != nil {
			return err
		}
		setting(typ, true).Threshold = v
	}
	for _, typ := range enableSig {
		if err := known("--enable-signal", typ); err != nil {
			return err
		}
		if sc := setting(typ, false); sc != nil {
			sc.Enabled = true // without an override the type is enabled already
		}
	}
	for _, typ := range disableSig {
		if err := known("--disable-signal", typ); err != nil {
			return err
		}
		setting(typ, true).Enabled = false
	}
	slices.SortFunc(cfg.Signals, func(a, b events.BankSignalConfig) int { return strings.Compare(a.Type, b.Type) })
	return cfg.Validate()
}
