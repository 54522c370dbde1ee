package bank

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Import and export formats.
//
// Both readers stream: they hold one record (CSV: one entry's rows) at a
// time, never the file. Every signal is validated as the matcher would
// (Normalize): a malformed or all-zero hash is an ImportError naming the file
// and the line (CSV) or the record number and byte offset (JSON). After a
// record error a reader goes on with the next record; after an error marked
// Fatal (broken JSON syntax, a read error) it cannot.
//
// Entry ids: a record without an explicit id gets DeriveEntryID(type, value),
// so importing the same hash twice updates one entry, and the same hash in a
// CSV and a TAT file is the same entry of a bank.

// Formats of an import or export file.
const (
	FormatCSV = "csv"
	FormatTAT = "tat"
)

// Labels with a meaning of their own in CSV files (see CSVReader).
const (
	LabelID      = "id:"
	LabelDeleted = "deleted:true"
)

// Record is one update read from an import file.
type Record struct {
	// Update is an add or a disable, with no Meta: the publisher fills it.
	Update events.BankUpdate
	// Line is the CSV line of the record's first row; 0 in JSON.
	Line int
	// Index is the JSON record's position in the file, counted from 1; 0 in
	// CSV.
	Index int
	// Offset is the byte offset where the record starts.
	Offset int64
}

// ImportError is a record, or a stretch of a file, that cannot be imported.
type ImportError struct {
	File   string
	Line   int   // CSV: the line, from 1
	Index  int   // JSON: the record, from 1 (0: not inside a record)
	Offset int64 // byte offset, -1 when unknown
	Err    error
	// Fatal means the reader cannot go on past this error.
	Fatal bool
}

func (e *ImportError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	case e.Index > 0 && e.Offset >= 0:
		fmt.Fprintf(&b, ": record %d (byte %d)", e.Index, e.Offset)
	case e.Index > 0:
		fmt.Fprintf(&b, ": record %d", e.Index)
	case e.Offset >= 0:
		fmt.Fprintf(&b, ": byte %d", e.Offset)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ImportError) Unwrap() error { return e.Err }

// ImportOptions tell a reader what the file does not say.
type ImportOptions struct {
	// Name is the file name errors report.
	Name string
	// Bank is the bank of TAT records, and of CSV rows whose bank column is
	// empty or missing.
	Bank string
	// Labels are added to every entry.
	Labels []string
}

// RecordReader is implemented by CSVReader and TATReader. Next returns io.EOF
// after the last record.
type RecordReader interface {
	Next() (Record, error)
}

// DeriveEntryID is the id of an entry known by one hash only:
// "<type>-" and the first 16 hex digits of SHA-256("<type>:<value>"), with
// the value in lower case. Ids are per bank, so the same hash in two banks is
// two entries with one id.
func DeriveEntryID(typ, value string) string {
	sum := sha256.Sum256([]byte(typ + ":" + strings.ToLower(value)))
	return typ + "-" + hex.EncodeToString(sum[:8])
}

// DetectFormat guesses a file's format from its first bytes: JSON (an array
// or an object) is TAT, anything else CSV. r must be the start of the file;
// the returned reader replays what was looked at.
func DetectFormat(r io.Reader) (string, io.Reader, error) {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		head, err := br.Peek(n)
		if len(head) < n {
			if err == io.EOF {
				return FormatCSV, br, nil
			}
			return "", br, err
		}
		rest := strings.TrimPrefix(string(head), bom8)
		if strings.HasPrefix(bom8, string(head)) {
			continue // the mark itself, or part of it
		}
		switch c := rest[len(rest)-1]; c {
		case ' ', '\t', '\r', '\n':
			if n == br.Size() {
				return FormatCSV, br, nil
			}
			continue
		case '[', '{':
			return FormatTAT, br, nil
		default:
			return FormatCSV, br, nil
		}
	}
}

// bom8 is the UTF-8 byte order mark some tools put at the start of a file.
const bom8 = "\ufeff"

// validBank checks a bank name as events.BankUpdate.Validate does.
func validBank(name string) error {
	if name == "" {
		return fmt.Errorf("no bank (give one in the file or with --bank)")
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("bank name %q contains '/'", name)
	}
	return nil
}
