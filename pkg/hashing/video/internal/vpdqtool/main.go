// Command vpdqtool is the Go side of `make vpdq-compare`, which checks
// package video against Meta's reference vPDQ (PyPI vpdq): it prints the
// vPDQ hash of each video file, one line per frame.
//
//	vpdqtool [-fps F] [-resize WxH] FILE...
//
// Each line is path,frame_number,quality,pdq_hex,timestamp_seconds, the
// reference's hash-file columns after the path. -fps is frames per second
// (negative: every frame, the default); -resize is the reference's
// downsampling.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("vpdqtool", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vpdqtool", flag.ContinueOnError)
	fps := fs.Float64("fps", -1, "frames per second to hash; negative: every frame")
	resize := fs.String("resize", "", "resize frames to WxH before hashing (the reference's downsampling)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: vpdqtool [-fps F] [-resize WxH] FILE [FILE ...]")
	}
	opts := video.Options{FPS: *fps}
	if *resize != "" {
		w, h, ok := strings.Cut(*resize, "x")
		var err1, err2 error
		opts.ResizeWidth, err1 = strconv.Atoi(w)
		opts.ResizeHeight, err2 = strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("-resize %q: want WxH", *resize)
		}
	}
	for _, path := range fs.Args() {
		hashes, _, err := video.HashFile(context.Background(), path, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, h := range hashes {
			fmt.Printf("%s,%d,%d,%s,%.6f\n", path, h.Index, h.Quality, h.Hash, h.Timestamp.Seconds())
		}
	}
	return nil
}
