// Command distinctpictures picks, from candidate image files, a set of
// distinct pictures for the robustness evaluation's negative set
// (scripts/robustness-corpus.sh --negatives). The evaluation counts any
// match between two of its pictures as false, so the set must not hold two
// editions of one picture: the same picture at several sizes, recoloured,
// mirrored or rotated, or renders of one template.
//
// The test of "same picture" is deliberately independent of the matcher (no
// PDQ, no region hashes, no threshold of the matcher's): were the set
// de-duplicated with the matcher's own rule, "0 false matches" on it would
// hold by construction. Each picture is reduced, aspect ratio ignored (so
// that sizes and slight crops of one picture agree), to greyscale
// thumbnails: 16 x 16 of its broad layout, and 32 x 32 less their local mean
// (a 5 x 5 box) for its detail; each normalised to zero mean and unit
// variance. A candidate is dropped when, for one of its 8 mirrors and
// rotations, both its layout and its detail correlate above their
// thresholds with a picture already kept, or with one of the --against sets
// (so that the negatives hold no picture of the positive corpus). The
// layout alone confuses pictures with the same composition (a landscape and
// a gradient wallpaper, both light above and dark below); their detail does
// not agree.
//
// Candidates are taken in the order given; the files kept are printed, one
// per line.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

const (
	layoutSide = 16
	detailSide = 32
)

// form is one dihedral form of a picture's thumbnails.
type form struct {
	layout [layoutSide * layoutSide]float64
	detail [detailSide * detailSide]float64
}

func main() {
	var (
		minSide   = flag.Int("min-side", 256, "drop pictures whose shorter side is below this many pixels (icons, sprites)")
		layoutMax = flag.Float64("layout", 0.8, "layout correlation above which (with the detail's) two pictures are one")
		detailMax = flag.Float64("detail", 0.35, "detail correlation above which (with the layout's) two pictures are one")
		minStd    = flag.Float64("min-std", 4, "drop pictures whose thumbnail's grey levels vary less than this (flat pictures)")
		against   = flag.String("against", "", "comma-separated directories of pictures the kept ones must also differ from (not printed)")
		verbose   = flag.Bool("v", false, "say on stderr why each dropped picture was dropped, and the closest kept picture of each kept one")
	)
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: distinctpictures [flags] FILE... (or - to read file names from stdin)")
		flag.PrintDefaults()
	}
	flag.Parse()
	files := flag.Args()
	if len(files) == 1 && files[0] == "-" {
		files = nil
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				files = append(files, l)
			}
		}
	}
	var refs []string
	for _, d := range strings.Split(*against, ",") {
		if d == "" {
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "distinctpictures:", err)
			os.Exit(1)
		}
		for _, e := range ents {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				refs = append(refs, filepath.Join(d, e.Name()))
			}
		}
	}
	all := append(slices.Clone(refs), files...)
	forms := make([][]form, len(all)) // nil: not used
	why := make([]string, len(all))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				forms[i], why[i] = load(all[i], *minSide, *minStd, i < len(refs))
			}
		}()
	}
	for i := range all {
		next <- i
	}
	close(next)
	wg.Wait()

	var (
		kept     []*form
		keptName []string
	)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i, fs := range forms {
		isRef := i < len(refs)
		if fs == nil {
			if *verbose && !isRef {
				fmt.Fprintf(os.Stderr, "drop %s: %s\n", all[i], why[i])
			}
			continue
		}
		// The kept picture most alike: highest layout correlation among
		// those whose detail also agrees, else highest layout alone.
		dup, bestL, bestD, bestJ := false, -2.0, -2.0, -1
		for j, k := range kept {
			for f := range fs {
				l := corr(fs[f].layout[:], k.layout[:])
				if l <= *layoutMax && l <= bestL {
					continue
				}
				d := corr(fs[f].detail[:], k.detail[:])
				if l > *layoutMax && d > *detailMax {
					if !dup || l > bestL {
						dup, bestL, bestD, bestJ = true, l, d, j
					}
				} else if !dup && l > bestL {
					bestL, bestD, bestJ = l, d, j
				}
			}
		}
		if dup {
			if *verbose && !isRef {
				fmt.Fprintf(os.Stderr, "drop %s: layout %.3f detail %.3f with %s\n", all[i], bestL, bestD, keptName[bestJ])
			}
			continue
		}
		if *verbose && !isRef && bestJ >= 0 {
			fmt.Fprintf(os.Stderr, "keep %s: closest layout %.3f detail %.3f %s\n", all[i], bestL, bestD, keptName[bestJ])
		}
		kept = append(kept, &fs[0])
		keptName = append(keptName, all[i])
		if !isRef {
			fmt.Fprintln(out, all[i])
		}
	}
}

// load returns the dihedral forms of the picture's thumbnails, or nil and
// why it is not used.
func load(path string, minSide int, minStd float64, isRef bool) ([]form, string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err.Error()
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, "undecodable: " + err.Error()
	}
	b := img.Bounds()
	if !isRef && min(b.Dx(), b.Dy()) < minSide {
		return nil, fmt.Sprintf("%dx%d is smaller than %d", b.Dx(), b.Dy(), minSide)
	}
	// Over black, as a transparent sprite is shown on a dark page: its
	// shape is what tells it from another. Uniform borders (a transparent
	// or plain margin) are cut first: two packages ship one drawing with
	// different margins, and whole-frame thumbnails of the two differ.
	long := max(b.Dx(), b.Dy())
	small := image.NewRGBA(image.Rect(0, 0, max(1, b.Dx()*trimSide/long), max(1, b.Dy()*trimSide/long)))
	draw.ApproxBiLinear.Scale(small, small.Rect, img, b, draw.Over, nil)
	content := trimBorders(small)
	if content.Empty() {
		return nil, "flat (no content inside its borders)"
	}
	const mid = 4 * detailSide
	m := image.NewRGBA(image.Rect(0, 0, mid, mid))
	draw.ApproxBiLinear.Scale(m, m.Rect, small, content, draw.Src, nil)
	grey := boxed(mid, detailSide, func(x, y int) float64 {
		p := m.Pix[y*m.Stride+4*x:]
		return 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	})
	layout := boxed(detailSide, layoutSide, func(x, y int) float64 { return grey[y*detailSide+x] })
	if std := normalise(layout); std < minStd {
		return nil, fmt.Sprintf("flat (grey levels vary by %.1f)", std)
	}
	detail := make([]float64, len(grey))
	for y := range detailSide {
		for x := range detailSide {
			var s float64
			n := 0
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					if xx, yy := x+dx, y+dy; xx >= 0 && yy >= 0 && xx < detailSide && yy < detailSide {
						s += grey[yy*detailSide+xx]
						n++
					}
				}
			}
			detail[y*detailSide+x] = grey[y*detailSide+x] - s/float64(n)
		}
	}
	if normalise(detail) == 0 {
		return nil, "no detail"
	}
	out := make([]form, 8)
	for k := range out {
		dihedral(out[k].layout[:], layout, layoutSide, k)
		dihedral(out[k].detail[:], detail, detailSide, k)
	}
	return out, ""
}

// trimSide is the longer side of the copy whose borders are trimmed.
const trimSide = 256

// trimBorders returns the part of img inside its uniform borders: rows and
// columns at the edges whose pixels all lie within a few levels of the
// top-left pixel's colour.
func trimBorders(img *image.RGBA) image.Rectangle {
	r := img.Rect
	c := img.Pix[0:4]
	near := func(x, y int) bool {
		p := img.Pix[y*img.Stride+4*x:]
		for k := range 3 {
			if d := int(p[k]) - int(c[k]); d > 8 || d < -8 {
				return false
			}
		}
		return true
	}
	row := func(y int) bool {
		for x := r.Min.X; x < r.Max.X; x++ {
			if !near(x, y) {
				return false
			}
		}
		return true
	}
	col := func(x, y0, y1 int) bool {
		for y := y0; y < y1; y++ {
			if !near(x, y) {
				return false
			}
		}
		return true
	}
	for r.Min.Y < r.Max.Y && row(r.Min.Y) {
		r.Min.Y++
	}
	for r.Max.Y > r.Min.Y && row(r.Max.Y-1) {
		r.Max.Y--
	}
	for r.Min.X < r.Max.X && col(r.Min.X, r.Min.Y, r.Max.Y) {
		r.Min.X++
	}
	for r.Max.X > r.Min.X && col(r.Max.X-1, r.Min.Y, r.Max.Y) {
		r.Max.X--
	}
	return r
}

// boxed averages a from x from square of side from into one of side to.
func boxed(from, to int, at func(x, y int) float64) []float64 {
	out := make([]float64, to*to)
	r := from / to
	for y := range from {
		for x := range from {
			out[(y/r)*to+x/r] += at(x, y)
		}
	}
	for i := range out {
		out[i] /= float64(r * r)
	}
	return out
}

// normalise brings v to zero mean and unit variance and returns its
// standard deviation before; v is left centred only when that is 0.
func normalise(v []float64) float64 {
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	var ss float64
	for i := range v {
		v[i] -= mean
		ss += v[i] * v[i]
	}
	std := math.Sqrt(ss / float64(len(v)))
	if std > 0 {
		for i := range v {
			v[i] /= std
		}
	}
	return std
}

// dihedral writes into dst the k-th mirror or rotation (k in 0..7, 0 the
// identity) of the square src of side n.
func dihedral(dst, src []float64, n, k int) {
	for y := range n {
		for x := range n {
			sx, sy := x, y
			if k&1 != 0 {
				sx = n - 1 - sx
			}
			if k&2 != 0 {
				sy = n - 1 - sy
			}
			if k&4 != 0 {
				sx, sy = sy, sx
			}
			dst[y*n+x] = src[sy*n+sx]
		}
	}
}

// corr is the correlation of two normalised vectors.
func corr(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s / float64(len(a))
}
