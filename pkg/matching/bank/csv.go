package bank

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// maxKeyLen is the longest "bank/entry" key: the key is the content id of a
// bank update, which events.Meta.Validate limits to 256 bytes.
const maxKeyLen = 256

// CSVReader reads bank entries from CSV:
//
//	signal_type,signal,bank,labels...
//	pdq,f162eb9d...,tve,category:terrorism,source:gifct
//
// One row per hash. The type is md5, sha256, phash, dhash or pdq (any case);
// the columns after the bank are labels (as many as a row needs, empty cells
// ignored). A first line starting with "signal_type" is a header and is
// skipped, as are blank lines and lines starting with #. A row's bank column
// wins over ImportOptions.Bank, which fills empty or missing bank columns.
//
// Two labels are reserved. "id:<entry id>" names the entry: without it the
// id is DeriveEntryID of the row's hash, so each row is an entry of its own
// and the same hash twice is one entry. Consecutive rows with the same bank
// and id are one entry with several hashes (as exported from an entry added
// from a media file); the rows of one named entry must be consecutive, since
// a later add of an entry replaces it whole. "deleted:true" makes the row a
// disable of its entry instead of an add.
type CSVReader struct {
	opts ImportOptions
	r    *csv.Reader
	// header is false until the first row has been looked at for a header.
	header bool
	done   bool

	pending      *Record
	pendingKey   string
	pendingNamed bool // its id came from an id: label
	// named holds the keys of finished entries named by an id: label, with
	// their first line, to refuse their rows reappearing later.
	named map[string]int
}

// NewCSVReader returns a reader of CSV bank entries from r.
func NewCSVReader(r io.Reader, opts ImportOptions) *CSVReader {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return &CSVReader{opts: opts, r: cr, named: map[string]int{}}
}

// Next returns the next entry; an *ImportError for a row that cannot be
// imported (the reader then goes on after it); io.EOF at the end.
func (c *CSVReader) Next() (Record, error) {
	for {
		if c.done {
			return c.flush()
		}
		start := c.r.InputOffset()
		fields, err := c.r.Read()
		if err == io.EOF {
			c.done = true
			continue
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Record{}, &ImportError{File: c.opts.Name, Line: pe.StartLine, Offset: start, Err: pe.Err}
			}
			c.done = true
			return Record{}, &ImportError{File: c.opts.Name, Offset: start, Err: err, Fatal: true}
		}
		line, _ := c.r.FieldPos(0)
		rec, key, named, err := c.row(fields, line, start)
		if err != nil {
			return Record{}, &ImportError{File: c.opts.Name, Line: line, Offset: start, Err: err}
		}
		if rec == nil {
			continue
		}
		if c.pending != nil && key == c.pendingKey {
			if err := merge(c.pending, rec); err != nil {
				return Record{}, &ImportError{File: c.opts.Name, Line: line, Offset: start, Err: err}
			}
			continue
		}
		if first, ok := c.named[key]; ok {
			return Record{}, &ImportError{File: c.opts.Name, Line: line, Offset: start,
				Err: fmt.Errorf("entry %s already ended (its rows start at line %d): the rows of one entry must be consecutive", key, first)}
		}
		prev, err := c.flush()
		c.pending, c.pendingKey, c.pendingNamed = rec, key, named
		if err == nil {
			return prev, nil
		}
	}
}

// flush hands out the pending entry, or io.EOF when there is none.
func (c *CSVReader) flush() (Record, error) {
	if c.pending == nil {
		return Record{}, io.EOF
	}
	rec := *c.pending
	if c.pendingNamed {
		c.named[c.pendingKey] = rec.Line
	}
	c.pending, c.pendingKey = nil, ""
	return rec, nil
}

// merge adds the row in r to the entry e.
func merge(e, r *Record) error {
	if e.Update.Op != r.Update.Op {
		return fmt.Errorf("entry %s: rows disagree on %s (line %d)", e.Update.Key(), LabelDeleted, e.Line)
	}
	if len(e.Update.Signals) >= maxEntrySignals {
		return fmt.Errorf("entry %s: more than %d hashes", e.Update.Key(), maxEntrySignals)
	}
	e.Update.Signals = append(e.Update.Signals, r.Update.Signals...)
	e.Update.Labels = mergeLabels(e.Update.Labels, r.Update.Labels)
	return nil
}

// row turns one CSV row into a one-hash entry; nil for a blank row or the
// header.
func (c *CSVReader) row(fields []string, line int, off int64) (rec *Record, key string, named bool, err error) {
	blank := true
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
		blank = blank && fields[i] == ""
	}
	if blank {
		return nil, "", false, nil
	}
	if !c.header {
		c.header = true
		fields[0] = strings.TrimPrefix(fields[0], bom8)
		if strings.EqualFold(fields[0], "signal_type") {
			return nil, "", false, nil
		}
	}
	if len(fields) < 2 {
		return nil, "", false, errors.New("1 column; want signal_type,signal,bank and labels")
	}
	sig, err := Normalize(events.Signal{Type: strings.ToLower(fields[0]), Value: fields[1]})
	if err != nil {
		return nil, "", false, err
	}
	bank := c.opts.Bank
	if len(fields) > 2 && fields[2] != "" {
		bank = fields[2]
	}
	if err := validBank(bank); err != nil {
		return nil, "", false, err
	}
	var id string
	deleted := false
	labels := make([]string, 0, len(fields))
	for _, l := range slices.Concat(fields[min(3, len(fields)):], c.opts.Labels) {
		switch {
		case l == "":
		case strings.HasPrefix(l, LabelID):
			v := strings.TrimSpace(l[len(LabelID):])
			if v == "" || id != "" && id != v {
				return nil, "", false, fmt.Errorf("label %q: an entry has one non-empty id", l)
			}
			id = v
		case strings.EqualFold(l, LabelDeleted):
			deleted = true
		case strings.EqualFold(l, "deleted:false"):
		default:
			labels = append(labels, l)
		}
	}
	named = id != ""
	if !named {
		id = DeriveEntryID(sig.Type, sig.Value)
	}
	u := events.BankUpdate{Op: events.BankOpAdd, Bank: bank, EntryID: id, Labels: normLabels(labels), Signals: []events.Signal{sig}}
	if deleted {
		u.Op = events.BankOpDisable
	}
	if len(u.Key()) > maxKeyLen {
		return nil, "", false, fmt.Errorf("entry %.40q...: bank and id are %d bytes, at most %d", u.Key(), len(u.Key()), maxKeyLen)
	}
	return &Record{Update: u, Line: line, Offset: off}, u.Key(), named, nil
}

// CSVWriter writes entries in the form CSVReader reads: a header, then one
// row per hash. An entry whose id is not the one its hash derives gets an
// id: label on each of its rows, and a disabled entry deleted:true, so that
// importing the file again gives the same entries.
type CSVWriter struct {
	w *csv.Writer
	// Skipped counts disabled entries written without a row because they
	// have no known hash to put in one.
	Skipped int
}

// NewCSVWriter writes the header and returns the writer.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	c := &CSVWriter{w: csv.NewWriter(w)}
	return c, c.w.Write([]string{"signal_type", "signal", "bank", "labels"})
}

// Write writes the rows of one entry.
func (c *CSVWriter) Write(e Entry) error {
	if len(e.Signals) == 0 {
		c.Skipped++
		return nil
	}
	named := len(e.Signals) > 1 || e.EntryID != DeriveEntryID(e.Signals[0].Type, e.Signals[0].Value)
	row := make([]string, 0, 5+len(e.Labels))
	for _, s := range e.Signals {
		row = append(row[:0], s.Type, s.Value, e.Bank)
		if named {
			row = append(row, LabelID+e.EntryID)
		}
		if e.Disabled {
			row = append(row, LabelDeleted)
		}
		row = append(row, e.Labels...)
		if err := c.w.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what is buffered and reports any write error.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}
