package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/robustness"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// videoAlteration is one way a re-uploader alters a video, as ffmpeg
// arguments between the input and the output.
type videoAlteration struct {
	Name, Description string
	// args returns ffmpeg's arguments after "-i SRC" for a source of the
	// given size and frame rate.
	args func(w, h int, fps float64) []string
}

// x264 settings of every altered copy but the low-bitrate one.
var copyCodec = []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-an"}

func vf(filter string) func(int, int, float64) []string {
	return func(int, int, float64) []string { return slices.Concat([]string{"-vf", filter}, copyCodec) }
}

// videoAlterations are the alterations of issue 15's video table.
func videoAlterations() []videoAlteration {
	return []videoAlteration{
		{"reencode-150k", "re-encoded at 150 kb/s", func(int, int, float64) []string {
			// One thread: x264's rate control at a bitrate is not repeatable
			// with several (the same command made copies a few bits apart,
			// and the row moved by one video between runs).
			return []string{"-threads", "1", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "150k", "-maxrate", "150k", "-bufsize", "300k", "-pix_fmt", "yuv420p", "-an"}
		}},
		{"crop-10", "centre crop removing 10% from every edge", vf("crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2")},
		{"pip-60", "picture-in-picture: the video at 60% size over moving colour gradients", func(w, h int, _ float64) []string {
			return slices.Concat([]string{"-filter_complex", pipGraph(w, h)}, copyCodec)
		}},
		{"letterbox", "black bars of 12% of the height above and below", vf("pad=iw:trunc(ih*0.62)*2:0:(oh-ih)/2:black")},
		{"fps-0.5x", "half the frame rate (every other frame dropped)", func(_, _ int, fps float64) []string {
			return slices.Concat([]string{"-vf", "fps=" + strconv.FormatFloat(fps/2, 'f', 3, 64)}, copyCodec)
		}},
		{"fps-2x", "double the frame rate (frames repeated)", func(_, _ int, fps float64) []string {
			return slices.Concat([]string{"-vf", "fps=" + strconv.FormatFloat(fps*2, 'f', 3, 64)}, copyCodec)
		}},
		{"rotate-90", "rotated 90° clockwise", vf("transpose=clock")},
		{"mirror", "mirrored left to right", vf("hflip")},
	}
}

// pickVideoAlterations returns the video alterations named, in the table's
// order; all of them when none is named ("original" alone: none, only the
// originals are matched against each other).
func pickVideoAlterations(names []string) ([]videoAlteration, error) {
	return pickNamed(names, videoAlterations(), func(a videoAlteration) string { return a.Name })
}

// pipGraph is the ffmpeg filter graph of pip-60 for a w x h video: the
// video scaled to 60% per side (36% of the area) over moving colour
// gradients of the video's size, 8% from the left and 28% from the top.
// The gradients are an expression of position and time (geq, computed at
// 128x72 and scaled up), so that every run makes the same copies: ffmpeg's
// own gradients source is random even with a seed, which made borderline
// copies come and go between runs.
func pipGraph(w, h int) string {
	const bg = "nullsrc=s=128x72:r=25,format=yuv444p," +
		"geq=lum='128+90*sin(2*PI*(X/W*cos(T*0.2)+Y/H*sin(T*0.2)+T*0.05))':cb='128+60*sin(2*PI*(X/W+T*0.03))':cr='128+60*cos(2*PI*(Y/H-T*0.04))'"
	return fmt.Sprintf("%s,scale=%dx%d,format=yuv420p[bg];[0:v]scale=trunc(iw*0.3)*2:trunc(ih*0.3)*2[fg];[bg][fg]overlay=x=W*0.08:y=H*0.28:shortest=1", bg, w/2*2, h/2*2)
}

// videoRow is the result of one alteration over the corpus.
type videoRow struct {
	Alteration  string `json:"alteration"`
	Description string `json:"description"`
	Copies      int    `json:"copies"`
	// Detected copies were taken down or sent to review on their original.
	Detected int `json:"detected"`
	// Auto copies were taken down without review on their original.
	Auto int `json:"auto"`
	// FalseMatches counts (copy, other reference) pairs that were taken
	// down or reviewed; Pairs counts the pairs.
	FalseMatches int      `json:"false_matches"`
	Pairs        int      `json:"pairs"`
	Missed       []string `json:"missed,omitempty"`
	False        []string `json:"false,omitempty"`
	// Frames counts the copies' sampled frames; InsetFrames those with
	// picture-in-picture inset hashes, InsetHashes the hashes.
	Frames      int `json:"frames"`
	InsetFrames int `json:"inset_frames"`
	InsetHashes int `json:"inset_hashes"`
	// MatchMsMedian is the median time of matching one copy's frames
	// (after hashing).
	MatchMsMedian float64 `json:"match_ms_median"`
}

type videoReport struct {
	Videos    int        `json:"videos"`
	Seconds   float64    `json:"reference_seconds"`
	Originals videoRow   `json:"originals"`
	Rows      []videoRow `json:"rows"`
	// Costs of the bank and of hashing.
	BankFrameHashes     int     `json:"bank_frame_hashes"`
	BankHashesPerSecond float64 `json:"bank_hashes_per_reference_second"`
	BankBytesPerSecond  float64 `json:"bank_heap_bytes_per_reference_second"`
	BankHashSpeed       float64 `json:"bank_hashing_times_real_time"`
	UploadHashSpeed     float64 `json:"upload_hashing_times_real_time"`
	FalseMatches        int     `json:"false_matches"`
	Pairs               int     `json:"pairs"`
}

// runVideoRobustness is `takedownctl robustness --videos`: it banks every
// video of the corpus as `bank add` does, makes the altered copies with
// ffmpeg, and decides on every copy (and every original) as `takedownctl
// match` does, with the matcher's defaults and the enforcer's policy.
func runVideoRobustness(ctx context.Context, args, only []string, workers int, asJSON, verbose bool, out io.Writer) error {
	alts, err := pickVideoAlterations(only)
	if err != nil {
		return err
	}
	files, err := mediaFiles(args, videoExts)
	if err != nil {
		return err
	}
	if len(files) < 2 {
		return usageError{"robustness --videos needs at least two videos"}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	m := defaultMatching()
	banks := m.newBanks()
	rep := videoReport{Videos: len(files)}
	infos := make([]video.Info, len(files))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var bankTime time.Duration
	for i, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if infos[i], err = video.Probe(ctx, path, video.Options{}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rep.Seconds += infos[i].Duration.Seconds()
		start := time.Now()
		updates, err := m.bankUpdates(ctx, path, data)
		bankTime += time.Since(start)
		if err != nil {
			return fmt.Errorf("reference %s: %w", path, err)
		}
		for k, u := range updates {
			u.EntryID = positionalEntryID(i, k)
			u.ContentID = u.EntryID
			rep.BankFrameHashes += videoFrames(u.Signals)
			if err := banks.Apply(u); err != nil {
				return fmt.Errorf("reference %s: %w", path, err)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	rep.BankHashesPerSecond = float64(rep.BankFrameHashes) / rep.Seconds
	rep.BankBytesPerSecond = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / rep.Seconds
	rep.BankHashSpeed = rep.Seconds / bankTime.Seconds()

	tmp, err := os.MkdirTemp("", "takedown-robustness-video-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	type job struct {
		alt, ref int // alt -1: the original itself
	}
	type result struct {
		detected, auto bool
		false          []string
		err            error
		took           time.Duration
		seconds        float64
		stats          videoStats
	}
	var jobs []job
	for a := -1; a < len(alts); a++ {
		for r := range files {
			jobs = append(jobs, job{a, r})
		}
	}
	results := make([]result, len(jobs))
	refOf := func(id string) int {
		n, _ := strconv.Atoi(strings.SplitN(id, "-", 2)[0])
		return n
	}
	robustness.Parallel(ctx, workers, len(jobs), func(j int) {
		jb, res := jobs[j], &results[j]
		path := files[jb.ref]
		if jb.alt >= 0 {
			alt := alts[jb.alt]
			path = filepath.Join(tmp, fmt.Sprintf("%s-%d.mp4", alt.Name, jb.ref))
			in := infos[jb.ref]
			a := slices.Concat([]string{"-nostdin", "-v", "error", "-y", "-i", files[jb.ref]}, alt.args(in.Width, in.Height, in.FrameRate), []string{path})
			if o, err := exec.CommandContext(ctx, "ffmpeg", a...).CombinedOutput(); err != nil {
				res.err = fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(a, " "), err, o)
				return
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			res.err = err
			return
		}
		start := time.Now()
		v, st, err := m.verdictStats(ctx, banks, path, data)
		res.took = time.Since(start)
		res.stats = st
		res.seconds = infos[jb.ref].Duration.Seconds()
		if err != nil {
			res.err = fmt.Errorf("%s: %w", path, err)
			return
		}
		var own, other []events.Match
		for _, mt := range v.Matches {
			if refOf(mt.EntryID) == jb.ref {
				own = append(own, mt)
			} else {
				other = append(other, mt)
			}
		}
		d := m.policy.Decide(own)
		res.detected = d.Action != policy.ActionNone
		res.auto = d.Action == policy.ActionRemove
		for _, mt := range other {
			if m.policy.Decide([]events.Match{mt}).Action != policy.ActionNone {
				res.false = append(res.false, fmt.Sprintf("%s -> %s (distance %d)", filepath.Base(files[jb.ref]), filepath.Base(files[refOf(mt.EntryID)]), mt.Distance))
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return err // jobs not handed out have no result
	}

	var uploadTime time.Duration
	var uploadSeconds float64
	for a := -1; a < len(alts); a++ {
		row := videoRow{Alteration: "original", Description: "the banked file itself, against the other references"}
		if a >= 0 {
			row.Alteration, row.Description = alts[a].Name, alts[a].Description
		}
		var matchMs []float64
		for j, jb := range jobs {
			if jb.alt != a {
				continue
			}
			res := results[j]
			if res.err != nil {
				return res.err
			}
			row.Frames += res.stats.Frames
			row.InsetFrames += res.stats.InsetFrames
			row.InsetHashes += res.stats.InsetHashes
			matchMs = append(matchMs, float64(res.stats.Match.Microseconds())/1000)
			if a >= 0 {
				uploadTime += res.took
				uploadSeconds += res.seconds
			}
			row.Copies++
			row.Pairs += len(files) - 1
			if res.detected {
				row.Detected++
			} else {
				row.Missed = append(row.Missed, filepath.Base(files[jb.ref]))
			}
			if res.auto {
				row.Auto++
			}
			row.FalseMatches += len(res.false)
			row.False = append(row.False, res.false...)
		}
		slices.Sort(matchMs)
		if len(matchMs) > 0 {
			row.MatchMsMedian = matchMs[len(matchMs)/2]
		}
		rep.FalseMatches += row.FalseMatches
		rep.Pairs += row.Pairs
		if a < 0 {
			rep.Originals = row
		} else {
			rep.Rows = append(rep.Rows, row)
		}
	}
	// Per worker: the workers hash in parallel.
	rep.UploadHashSpeed = uploadSeconds / uploadTime.Seconds()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printVideoRobustness(out, rep, verbose)
	return nil
}

func printVideoRobustness(out io.Writer, rep videoReport, verbose bool) {
	fmt.Fprintf(out, "%d videos, %.0f s of reference footage, %d alterations\n\n", rep.Videos, rep.Seconds, len(rep.Rows))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "alteration\tdetected\tauto\tfalse matches\tframes with insets\tmatch ms (median)\t")
	pct := func(n, d int) string { return fmt.Sprintf("%d/%d (%.0f%%)", n, d, 100*float64(n)/float64(max(d, 1))) }
	o := rep.Originals
	fmt.Fprintf(tw, "%s\t-\t-\t%d / %d\t%d / %d\t%.2f\t\n", o.Alteration, o.FalseMatches, o.Pairs, o.InsetFrames, o.Frames, o.MatchMsMedian)
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d / %d\t%d / %d\t%.2f\t\n", r.Alteration, pct(r.Detected, r.Copies), pct(r.Auto, r.Copies), r.FalseMatches, r.Pairs, r.InsetFrames, r.Frames, r.MatchMsMedian)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nfalse matches: %d of %d pairs of a copy (or original) and another reference\n", rep.FalseMatches, rep.Pairs)
	fmt.Fprintf(out, "bank: %d frame hashes, %.1f per reference second, %.0f heap bytes per reference second; bank hashing %.1fx real time, uploads %.1fx (per worker)\n",
		rep.BankFrameHashes, rep.BankHashesPerSecond, rep.BankBytesPerSecond, rep.BankHashSpeed, rep.UploadHashSpeed)
	if !verbose {
		return
	}
	for _, r := range append([]videoRow{rep.Originals}, rep.Rows...) {
		if len(r.Missed) > 0 && r.Alteration != "original" {
			fmt.Fprintf(out, "%s missed: %s\n", r.Alteration, strings.Join(r.Missed, ", "))
		}
		for _, f := range r.False {
			fmt.Fprintf(out, "%s false match: %s\n", r.Alteration, f)
		}
	}
}
