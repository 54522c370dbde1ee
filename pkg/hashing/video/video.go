// Package video holds frame extraction from video files and vPDQ, Meta's
// video hash: the PDQ hash (package pdq) of each sampled frame, with its
// quality, frame number and timestamp.
//
// # Extraction
//
// Frames are decoded by ffmpeg run as a subprocess (Debian package ffmpeg),
// never linked in: a decoder crash or hang takes down only the child, which
// runs in its own process group and is killed as a whole when the context
// ends or Options.Timeout passes. Before anything is decoded, ffprobe reads
// the container's header, and media longer than Options.MaxDuration or with
// frames larger than Options.MaxWidth x Options.MaxHeight (in either
// orientation) is refused. ffmpeg's decoder is also told to refuse larger
// frames, and ffmpeg to stop reading a second past the duration cap; a
// decoded frame past the cap (a header that understated the duration, or
// gave none) ends the extraction with ErrTooLong.
//
// Uploaded media is hostile. Both tools are started with -nostdin, an empty
// environment, -protocol_whitelist file,pipe and a -format_whitelist of
// common video containers (Demuxers): playlists and scripts that name other
// resources (HLS, DASH, concat, image sequences) are not demuxers ffmpeg may
// pick, and no protocol but reading a local file is allowed, so a crafted
// upload cannot make ffmpeg fetch a URL or read another local file. The path
// is given as a file: URL, so a name cannot be taken for an option or another
// protocol. ffmpeg's stderr is read as it comes; the last of its warnings and
// errors (bounded) go into error messages.
//
// Pixels: swscale converts each delivered frame from the codec's YUV to RGB
// (-pix_fmt rgb24) with its Lanczos filter and accurate rounding, the
// settings that reproduce the reference's published hashes (the reference
// has used SWS_LANCZOS and later SWS_AREA; the fast path without accurate
// rounding is 1.2 bits from the published hashes on average and 20 on dark
// frames of low quality). ffmpeg then pads the RGB to opaque RGBA, the
// layout of an *image.RGBA, so that the frames read from its stdout pipe
// into one reused buffer go to PDQ without a pass in Go. ffmpeg's autorotate
// is kept: a phone video whose container says to turn it is hashed upright
// (the reference hashes the stored orientation; no sample video is rotated).
//
// # Frame numbers, timestamps and sampling
//
// Frame.Index is the frame's number in decoding order, from 0, as the
// reference numbers its frames. Timestamps come from ffmpeg: a showinfo
// filter after the sampling logs each delivered frame's presentation
// timestamp, its size and its link's time base, which make Frame.Timestamp
// exactly (pts x time base, from the start of the file, as ffmpeg shifts the
// first timestamp to 0). When sampling, a second showinfo before the select
// filter logs every decoded frame, and a delivered frame's index is that of
// the decoded frame with the same timestamp.
//
// Sampling (Options.FPS > 0) is by time, not by frame count: the first frame
// of each 1/FPS-second interval of presentation time is kept. Where the
// frame rate is a whole multiple of FPS those are the reference's frames
// (every rate/FPS-th: 0, 30, 60 ... at 30 fps and 1 per second); elsewhere
// the reference takes every int(rate/FPS)-th frame and drifts (every 29th at
// 29.97 fps), and in variable-frame-rate video (phones, screen recordings,
// GIFs) counting frames would not give one frame a second at all.
//
// # vPDQ
//
// HashFile and HashBytes hash every delivered frame with PDQ at the size
// ffmpeg delivers it, as the reference vPDQ does (pdq.Hasher.ImageFullSize:
// no shrink to 512 pixels). The conformance test hashes every frame of the
// reference's sample videos and compares with its published output.
//
// Memory: a frame takes 4 bytes a pixel and PDQ's buffers 8 more, about
// 11 MB at 1280x720 and 100 MB at the default 3840x2160 cap; HashFile keeps
// its PDQ buffers in a pool for the next video.
package video

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// Defaults of Options.
const (
	DefaultFPS         = 1.0
	DefaultMaxDuration = 2 * time.Hour
	DefaultMaxWidth    = 3840
	DefaultMaxHeight   = 2160
	DefaultTimeout     = 10 * time.Minute
	// DefaultCPULimit and DefaultMemoryLimit bound each run of ffmpeg and
	// ffprobe (RLIMIT_CPU, RLIMIT_AS). Measured on 2 cores (ffmpeg 5.1,
	// every frame decoded): the reference sample videos (SD and HD, up to
	// 30 s) took at most 3.7 s of CPU, 110 MB resident and 770 MB of
	// address space; 4 s of synthetic 3840x2160 HEVC took 19 s of CPU,
	// 370 MB resident and 1 GB of address space. Address space grows with
	// the decoder's threads (each reserves a stack and a malloc arena, about
	// 72 MB, and ffmpeg starts up to 16 on a large host), hence 4 GiB. The
	// CPU limit lets a video of the full 2 hours decode on 3 cores for the
	// whole DefaultTimeout, and stops a decoder spinning on crafted input
	// on a host with more.
	DefaultCPULimit    = 30 * time.Minute
	DefaultMemoryLimit = 4 << 30
	// MinMemoryLimit is the smallest MemoryLimit taken: below about 150 MB
	// ffmpeg 5.1 cannot map its shared libraries.
	MinMemoryLimit = 256 << 20
)

// Demuxers is the -format_whitelist given to ffmpeg and ffprobe: the common
// video containers (ffmpeg's demuxer names) and animated GIF. Left out on
// purpose: playlists and scripts that refer to other resources (hls, dash,
// concat, image2 sequences, ffmetadata), raw elementary streams, and the rest
// of ffmpeg's few hundred demuxers, each one more parser open to crafted
// input.
const Demuxers = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,ogg,gif,asf,ivf"

// protocols is the -protocol_whitelist: local files (and pipes), no network.
const protocols = "file,pipe"

// Options bound and shape an extraction. The zero value is the defaults.
type Options struct {
	// FPS is how many frames are sampled per second of video; 0 means
	// DefaultFPS and a negative value means every frame (conformance).
	FPS float64
	// MaxDuration refuses longer media (read by ffprobe before decoding);
	// 0 means DefaultMaxDuration.
	MaxDuration time.Duration
	// MaxWidth and MaxHeight refuse larger frames, in either orientation;
	// 0 means DefaultMaxWidth x DefaultMaxHeight.
	MaxWidth, MaxHeight int
	// Timeout bounds the whole extraction, probe included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// FFmpeg and FFprobe are the binaries, by path or name in PATH;
	// "" means "ffmpeg" and "ffprobe".
	FFmpeg, FFprobe string

	// ResizeWidth and ResizeHeight, when both are set, resize every frame
	// to that size (area filter) before it is delivered, as the reference
	// vPDQ's downsampling option does (its -128x128 hash files). Zero keeps
	// the video's own size.
	ResizeWidth, ResizeHeight int
	// Crop, when not empty, keeps only this part of every frame, in the
	// frame's own pixels as Info gives its size (display orientation), before
	// any resizing: a letterboxed upload decoded again without its bars,
	// so that its picture is scaled as the bank video's was. It must lie
	// inside the frame.
	Crop image.Rectangle
	// TempDir is where HashBytes writes its private temporary file;
	// "" means os.TempDir().
	TempDir string
	// Nice is the scheduling niceness ffmpeg's decoding runs at, through
	// nice(1) where it is installed (0 means DefaultNice, a negative value
	// runs it at this process's own). A decode runs outside the CPU slots of package cpu, so a long
	// video would otherwise take cores from the pictures hashed beside it;
	// niced, it gets what they leave.
	Nice int
	// CPULimit is the CPU time (all threads) one run of ffmpeg or ffprobe
	// may use, MemoryLimit its address space in bytes: RLIMIT_CPU and
	// RLIMIT_AS set through prlimit(1). 0 means DefaultCPULimit and
	// DefaultMemoryLimit, a negative value no limit. A tool that runs into
	// one fails with ErrResourceLimit.
	CPULimit    time.Duration
	MemoryLimit int64
}

// DefaultNice is ffmpeg's niceness unless Options.Nice says otherwise.
const DefaultNice = 10

// Info describes the video stream that is decoded.
type Info struct {
	// Width and Height are the size of the frames as delivered: the
	// display orientation (after the container's rotation), before any
	// ResizeWidth/ResizeHeight.
	Width, Height int
	// Duration is the container's (else the stream's) duration; 0 when
	// the file does not say.
	Duration time.Duration
	// FrameRate is the stream's average frame rate (else its base rate),
	// frames per second; 0 when unknown.
	FrameRate float64
	// Codec is ffmpeg's name of the video codec ("h264"), Format its name
	// of the container ("mov,mp4,m4a,3gp,3g2,mj2").
	Codec, Format string
	// Rotation is the container's display rotation in degrees (0, 90,
	// 180 or 270), already applied to the frames.
	Rotation int
}

// Frame is one sampled frame.
type Frame struct {
	// Index is the frame's number in decoding order, from 0.
	Index int
	// Timestamp is the frame's presentation time from the start.
	Timestamp time.Duration
	// Image holds the frame's pixels, an *image.RGBA. Its buffer is reused
	// for the next frame: copy it to keep it after the callback returns.
	Image image.Image
}

// FrameHash is the PDQ hash of one frame: an element of a vPDQ hash.
type FrameHash struct {
	Index     int
	Timestamp time.Duration
	Hash      pdq.Hash
	Quality   int
}

// Errors of extraction; they are wrapped with details, test with errors.Is.
// A cancelled context gives an error that wraps the context's error.
var (
	// ErrTooLong: the media is longer than Options.MaxDuration.
	ErrTooLong = errors.New("video too long")
	// ErrTooLarge: the frames are larger than Options.MaxWidth x
	// Options.MaxHeight.
	ErrTooLarge = errors.New("video resolution too large")
	// ErrNotVideo: the data is not a video in an accepted container (or
	// has no video stream).
	ErrNotVideo = errors.New("not a supported video")
	// ErrCorrupt: the data is an accepted container but its video does
	// not decode.
	ErrCorrupt = errors.New("corrupt video")
	// ErrNoFFmpeg: the ffmpeg or ffprobe binary cannot be run.
	ErrNoFFmpeg = errors.New("ffmpeg not available")
	// ErrTimeout: the extraction took longer than Options.Timeout; the
	// error also wraps context.DeadlineExceeded.
	ErrTimeout = errors.New("video extraction timed out")
	// ErrResourceLimit: ffmpeg or ffprobe ran into Options.CPULimit or
	// Options.MemoryLimit (a *ResourceLimitError says which).
	ErrResourceLimit = errors.New("video decoder hit its resource limit")
	// ErrCrashed: ffmpeg or ffprobe died of a signal this package did not
	// send (a segfault, an abort).
	ErrCrashed = errors.New("video decoder crashed")
	// ErrInvalidOptions: an Options field is out of range.
	ErrInvalidOptions = errors.New("invalid video options")
)

// ToolError is ffmpeg or ffprobe refusing or failing on the media. It wraps
// Kind (ErrNotVideo or ErrCorrupt) and keeps the tool's last warnings and
// errors.
type ToolError struct {
	Tool   string // "ffmpeg" or "ffprobe"
	Kind   error  // ErrNotVideo or ErrCorrupt
	Exit   int    // exit status; -1 if it did not exit normally
	Stderr string // the tool's last warnings and errors, at most maxTail bytes
}

func (e *ToolError) Error() string {
	msg := fmt.Sprintf("%v: %s exited with status %d", e.Kind, e.Tool, e.Exit)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *ToolError) Unwrap() error { return e.Kind }

// ResourceLimitError is a tool stopped by one of its resource limits. It
// wraps ErrResourceLimit.
type ResourceLimitError struct {
	Tool     string // "ffmpeg" or "ffprobe"
	Resource string // "cpu" or "memory"
	Limit    string // the limit, as set
	Detail   string // what was seen: the CPU time used, the failed allocation
	Stderr   string // the tool's last warnings and errors
}

func (e *ResourceLimitError) Error() string {
	msg := fmt.Sprintf("%v: %s over its %s limit of %s: %s", ErrResourceLimit, e.Tool, e.Resource, e.Limit, e.Detail)
	if e.Stderr != "" {
		msg += "; it said: " + e.Stderr
	}
	return msg
}

func (e *ResourceLimitError) Unwrap() error { return ErrResourceLimit }

// withDefaults fills in the defaults and checks the ranges.
func (o Options) withDefaults() (Options, error) {
	switch {
	case math.IsNaN(o.FPS) || math.IsInf(o.FPS, 0):
		return o, fmt.Errorf("%w: FPS %v", ErrInvalidOptions, o.FPS)
	case o.FPS > 1000:
		return o, fmt.Errorf("%w: FPS %v is above 1000", ErrInvalidOptions, o.FPS)
	case o.FPS == 0:
		o.FPS = DefaultFPS
	}
	if o.MaxDuration < 0 || o.MaxWidth < 0 || o.MaxHeight < 0 || o.Timeout < 0 {
		return o, fmt.Errorf("%w: negative limit (MaxDuration %v, MaxWidth %d, MaxHeight %d, Timeout %v)",
			ErrInvalidOptions, o.MaxDuration, o.MaxWidth, o.MaxHeight, o.Timeout)
	}
	if (o.ResizeWidth == 0) != (o.ResizeHeight == 0) || o.ResizeWidth < 0 || o.ResizeHeight < 0 ||
		o.ResizeWidth > 8192 || o.ResizeHeight > 8192 {
		return o, fmt.Errorf("%w: resize to %dx%d; set both, each 1..8192, or neither",
			ErrInvalidOptions, o.ResizeWidth, o.ResizeHeight)
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.MaxWidth == 0 {
		o.MaxWidth = DefaultMaxWidth
	}
	if o.MaxHeight == 0 {
		o.MaxHeight = DefaultMaxHeight
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	switch {
	case o.CPULimit == 0:
		o.CPULimit = DefaultCPULimit
	case o.CPULimit > 0 && o.CPULimit < time.Second:
		return o, fmt.Errorf("%w: CPULimit %v is under a second (RLIMIT_CPU counts whole seconds)", ErrInvalidOptions, o.CPULimit)
	}
	switch {
	case o.MemoryLimit == 0:
		o.MemoryLimit = DefaultMemoryLimit
	case o.MemoryLimit > 0 && o.MemoryLimit < MinMemoryLimit:
		return o, fmt.Errorf("%w: MemoryLimit %d is under %d: ffmpeg cannot even load its libraries", ErrInvalidOptions, o.MemoryLimit, MinMemoryLimit)
	}
	switch {
	case o.Nice == 0:
		o.Nice = DefaultNice
	case o.Nice > 19:
		return o, fmt.Errorf("%w: Nice %d is above 19", ErrInvalidOptions, o.Nice)
	}
	return o, nil
}

// fits reports whether a w x h frame is within the caps in either
// orientation.
func (o Options) fits(w, h int) bool {
	return (w <= o.MaxWidth && h <= o.MaxHeight) || (w <= o.MaxHeight && h <= o.MaxWidth)
}
