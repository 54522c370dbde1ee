package bank

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// TATReader reads Tech Against Terrorism's hash-list JSON: records such as
//
//	{"hash_digest": "f162eb9d...", "algorithm": "PDQ", "ideology": "far-right",
//	 "file_type": "image", "deleted": false}
//
// as a top-level array, as an object wrapping the array under any key (e.g.
// {"count": 2, "results": [...]}: every array whose first element is an
// object), or as a sequence of objects (JSON lines). The algorithm is PDQ or
// MD5, in any case; other fields are ignored. Each record becomes an entry of
// ImportOptions.Bank with id DeriveEntryID and the labels source:tat,
// ideology:<ideology> and file_type:<file_type> (when set) plus
// ImportOptions.Labels; "deleted": true makes it a disable of that entry.
type TATReader struct {
	opts  ImportOptions
	dec   *json.Decoder
	index int
	err   error // fatal: every later Next returns it

	// Where the decoder stands: inside the top-level array, inside an
	// array of a wrapping object, or between top-level values.
	state tatState
	// fields collects the scalar fields of a top-level object until it
	// ends, when it turns out to be a record (no array inside).
	fields   map[string]any
	wrapper  bool
	objStart int64
}

type tatState int

const (
	tatTop tatState = iota
	tatArray
	tatObject
	tatWrapped
)

// NewTATReader returns a reader of TAT records from r.
func NewTATReader(r io.Reader, opts ImportOptions) *TATReader {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); string(bom) == bom8 {
		_, _ = br.Discard(3)
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	return &TATReader{opts: opts, dec: dec}
}

// Next returns the next record; an *ImportError for a record that cannot be
// imported (the reader then goes on after it) or, with Fatal set, for input
// it cannot read on from; io.EOF at the end.
func (t *TATReader) Next() (Record, error) {
	if t.err != nil {
		return Record{}, t.err
	}
	rec, err := t.next()
	var ie *ImportError
	if err != nil && err != io.EOF && (!errors.As(err, &ie) || ie.Fatal) {
		if ie == nil {
			ie = t.fatal(err)
		}
		t.err = ie
		return Record{}, ie
	}
	return rec, err
}

func (t *TATReader) fatal(err error) *ImportError {
	ie := &ImportError{File: t.opts.Name, Offset: t.dec.InputOffset(), Err: err, Fatal: true}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		ie.Offset = se.Offset
		ie.Err = fmt.Errorf("malformed JSON: %v", se)
	}
	if err == io.ErrUnexpectedEOF {
		ie.Err = errors.New("unexpected end of file: the JSON is cut short")
	}
	return ie
}

func (t *TATReader) next() (Record, error) {
	for {
		switch t.state {
		case tatTop:
			if !t.dec.More() {
				if _, err := t.dec.Token(); err != io.EOF {
					if err == nil {
						err = errors.New("unexpected ']' or '}'")
					}
					return Record{}, err
				}
				return Record{}, io.EOF
			}
			start := t.valueStart()
			tok, err := t.dec.Token()
			if err != nil {
				return Record{}, eofIsUnexpected(err)
			}
			switch tok {
			case json.Delim('['):
				t.state = tatArray
			case json.Delim('{'):
				t.state, t.fields, t.wrapper, t.objStart = tatObject, map[string]any{}, false, start
			default:
				return Record{}, fmt.Errorf("%v at the top level: want an array of records, an object or records", tok)
			}
		case tatArray, tatWrapped:
			if !t.dec.More() {
				if _, err := t.dec.Token(); err != nil { // the closing ]
					return Record{}, eofIsUnexpected(err)
				}
				if t.state == tatArray {
					t.state = tatTop
				} else {
					t.state = tatObject
				}
				continue
			}
			start := t.valueStart()
			var raw json.RawMessage
			if err := t.dec.Decode(&raw); err != nil {
				return Record{}, eofIsUnexpected(err)
			}
			t.index++
			var fields map[string]any
			if err := unmarshalNumbers(raw, &fields); err != nil || fields == nil {
				return Record{}, t.recordErr(start, fmt.Errorf("a record must be an object, not %.40s", raw))
			}
			return t.record(fields, start)
		case tatObject:
			if !t.dec.More() {
				if _, err := t.dec.Token(); err != nil { // the closing }
					return Record{}, eofIsUnexpected(err)
				}
				t.state = tatTop
				if t.wrapper {
					continue
				}
				t.index++
				return t.record(t.fields, t.objStart)
			}
			key, err := t.dec.Token()
			if err != nil {
				return Record{}, eofIsUnexpected(err)
			}
			tok, err := t.dec.Token()
			if err != nil {
				return Record{}, eofIsUnexpected(err)
			}
			switch tok {
			case json.Delim('['):
				// Records, if the array's first element is an object.
				if t.dec.More() && t.peekObject() {
					t.wrapper = true
					t.state = tatWrapped
					continue
				}
				if err := t.skip(1); err != nil {
					return Record{}, err
				}
			case json.Delim('{'):
				if err := t.skip(1); err != nil {
					return Record{}, err
				}
			default:
				if len(t.fields) < 64 {
					t.fields[fmt.Sprint(key)] = tok
				}
			}
		}
	}
}

// valueStart is the offset of the next value, past the separators the
// decoder has not consumed yet (More has buffered up to the value).
func (t *TATReader) valueStart() int64 {
	off := t.dec.InputOffset()
	buf := t.dec.Buffered()
	var b [1]byte
	for {
		if _, err := buf.Read(b[:]); err != nil {
			return off
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		return off
	}
}

// peekObject reports whether the next value starts with '{', looking at the
// decoder's buffer (More has just filled it up to that value).
func (t *TATReader) peekObject() bool {
	var b [1]byte
	buf := t.dec.Buffered()
	for {
		if _, err := buf.Read(b[:]); err != nil {
			return false
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b[0] == '{'
	}
}

// skip reads tokens until depth open arrays or objects are closed.
func (t *TATReader) skip(depth int) error {
	for depth > 0 {
		tok, err := t.dec.Token()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
	return nil
}

func unmarshalNumbers(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

func (t *TATReader) recordErr(start int64, err error) *ImportError {
	return &ImportError{File: t.opts.Name, Index: t.index, Offset: start, Err: err}
}

// record turns a record's fields into an entry update.
func (t *TATReader) record(fields map[string]any, start int64) (Record, error) {
	str := func(name string) (string, error) {
		switch v := fields[name].(type) {
		case nil:
			return "", nil
		case string:
			return strings.TrimSpace(v), nil
		default:
			return "", fmt.Errorf("%s is %v, want a string", name, v)
		}
	}
	digest, err := str("hash_digest")
	if err != nil {
		return Record{}, t.recordErr(start, err)
	}
	algo, err := str("algorithm")
	if err != nil {
		return Record{}, t.recordErr(start, err)
	}
	ideology, err := str("ideology")
	if err != nil {
		return Record{}, t.recordErr(start, err)
	}
	fileType, err := str("file_type")
	if err != nil {
		return Record{}, t.recordErr(start, err)
	}
	deleted := false
	switch v := fields["deleted"].(type) {
	case nil:
	case bool:
		deleted = v
	default:
		return Record{}, t.recordErr(start, fmt.Errorf("deleted is %v, want true or false", v))
	}
	var typ string
	switch strings.ToLower(algo) {
	case "pdq":
		typ = events.SignalPDQ
	case "md5":
		typ = events.SignalMD5
	case "":
		return Record{}, t.recordErr(start, errors.New("no algorithm (want PDQ or MD5)"))
	default:
		return Record{}, t.recordErr(start, fmt.Errorf("algorithm %q: want PDQ or MD5", clip(algo)))
	}
	if digest == "" {
		return Record{}, t.recordErr(start, errors.New("no hash_digest"))
	}
	sig, err := Normalize(events.Signal{Type: typ, Value: digest})
	if err != nil {
		return Record{}, t.recordErr(start, err)
	}
	if err := validBank(t.opts.Bank); err != nil {
		return Record{}, t.recordErr(start, err)
	}
	labels := append([]string{"source:tat"}, t.opts.Labels...)
	if ideology != "" {
		labels = append(labels, "ideology:"+ideology)
	}
	if fileType != "" {
		labels = append(labels, "file_type:"+fileType)
	}
	u := events.BankUpdate{Op: events.BankOpAdd, Bank: t.opts.Bank, EntryID: DeriveEntryID(sig.Type, sig.Value),
		Labels: normLabels(labels), Signals: []events.Signal{sig}}
	if deleted {
		u.Op = events.BankOpDisable
	}
	if len(u.Key()) > maxKeyLen {
		return Record{}, t.recordErr(start, fmt.Errorf("bank name and id are %d bytes, at most %d", len(u.Key()), maxKeyLen))
	}
	return Record{Update: u, Index: t.index, Offset: start}, nil
}

// TATRecord is one record of a TAT hash list, as TATWriter writes it.
type TATRecord struct {
	HashDigest string `json:"hash_digest"`
	Algorithm  string `json:"algorithm"`
	Ideology   string `json:"ideology"`
	FileType   string `json:"file_type"`
	Deleted    bool   `json:"deleted"`
}

// TATWriter writes entries as a TAT hash list: a JSON array with one record
// per pdq or md5 hash. Other hashes have no place in the format and are left
// out, as are all labels but ideology: and file_type:.
type TATWriter struct {
	w *bufio.Writer
	n int
	// Skipped counts entries written without a record because they have no
	// pdq or md5 hash.
	Skipped int
}

// NewTATWriter returns a writer to w; Close ends the array.
func NewTATWriter(w io.Writer) *TATWriter {
	return &TATWriter{w: bufio.NewWriter(w)}
}

// Write writes the records of one entry.
func (t *TATWriter) Write(e Entry) error {
	rec := TATRecord{Deleted: e.Disabled}
	for _, l := range e.Labels {
		if v, ok := strings.CutPrefix(l, "ideology:"); ok && rec.Ideology == "" {
			rec.Ideology = v
		}
		if v, ok := strings.CutPrefix(l, "file_type:"); ok && rec.FileType == "" {
			rec.FileType = v
		}
	}
	wrote := false
	for _, s := range e.Signals {
		switch s.Type {
		case events.SignalPDQ:
			rec.Algorithm = "PDQ"
		case events.SignalMD5:
			rec.Algorithm = "MD5"
		default:
			continue
		}
		rec.HashDigest = s.Value
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		sep := ",\n"
		if t.n == 0 {
			sep = "[\n"
		}
		if _, err := t.w.WriteString(sep); err != nil {
			return err
		}
		if _, err := t.w.Write(data); err != nil {
			return err
		}
		t.n++
		wrote = true
	}
	if !wrote {
		t.Skipped++
	}
	return nil
}

// Close ends the array and flushes.
func (t *TATWriter) Close() error {
	end := "\n]\n"
	if t.n == 0 {
		end = "[]\n"
	}
	if _, err := t.w.WriteString(end); err != nil {
		return err
	}
	return t.w.Flush()
}
