package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a progress bar on stderr: redrawn in place with \r on a
// terminal, as a line every few seconds otherwise (a log file or a CI job
// should not fill with carriage returns). Nothing is drawn for work that
// ends before the first redraw is due.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	tty   bool
	every time.Duration
	now   func() time.Time

	start, last time.Time
	drawn       bool
	width       int // of the last terminal line, to blank it
}

// newProgress returns a bar writing to f.
func newProgress(f *os.File, label string) *progress {
	return newProgressTo(f, label, isTerminal(f), time.Now)
}

func newProgressTo(w io.Writer, label string, tty bool, now func() time.Time) *progress {
	every := 5 * time.Second
	if tty {
		every = 150 * time.Millisecond
	}
	t := now()
	return &progress{w: w, label: label, tty: tty, every: every, now: now, start: t, last: t}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update reports done of total units (bytes, records) and count items
// (lines, records) so far; it draws when a redraw is due.
func (p *progress) update(done, total, count int64, unit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	if t.Sub(p.last) < p.every {
		return
	}
	p.last = t
	p.draw(t, done, total, count, unit)
}

func (p *progress) draw(t time.Time, done, total, count int64, unit string) {
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(min(done, total)) / float64(total)
	}
	secs := t.Sub(p.start).Seconds()
	rate := ""
	if secs > 0 {
		rate = fmt.Sprintf(", %.0f %s/s", float64(count)/secs, unit)
	}
	p.drawn = true
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %5.1f%% (%d %s%s)\n", p.label, pct, count, unit, rate)
		return
	}
	const barWidth = 30
	fill := int(pct / 100 * barWidth)
	line := fmt.Sprintf("%s [%s%s] %5.1f%% %d %s%s", p.label, strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), pct, count, unit, rate)
	pad := max(0, p.width-len(line))
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// finish draws the final state if anything was drawn before, and ends the
// terminal line.
func (p *progress) finish(done, total, count int64, unit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn {
		return
	}
	p.draw(p.now(), done, total, count, unit)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
