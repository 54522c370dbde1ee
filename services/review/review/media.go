package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

// Reviewer media: reviewers' browsers never load media_url. The service
// fetches the media itself, as the hasher did (the same fetch policy and
// client, so the same User-Agent, no cookies, the same size cap), checks the
// bytes against the sha256 the hasher recorded, and serves them, or a
// derived preview (small, greyscale, blurred) that the item page shows until
// the reviewer reveals the media. So the media host sees the service, never
// a reviewer's address, and a host that shows the reviewer other bytes than
// it showed the hasher (cloaking, to get harmless-looking bytes reviewed
// while the real ones are allow-listed) is caught: 502, and nothing served.
//
// The bytes are kept in memory only (no disk, beyond a video's transient
// copy for ffmpeg, see videoPreview), in a cache bounded in bytes whose
// entries expire after media-cache-ttl, and are dropped when the item is
// decided.

// Headers of the media and preview responses.
const (
	// headerVerified is "true" when the bytes matched the recorded sha256,
	// "false" for an unhashable item served without one.
	headerVerified = "X-Takedown-Media-Verified"
	headerSHA256   = "X-Takedown-Media-Sha256"
	// headerPreview is "derived" or "placeholder" (no preview could be
	// derived: not a picture or video the service can decode).
	headerPreview = "X-Takedown-Preview"
	// mediaCSP keeps served media inert should a browser open it as a
	// document: no scripts, no plugins, no requests.
	mediaCSP = "sandbox; default-src 'none'"
)

// Preview shape: the long side in pixels, and the box blur's passes (radius
// 1 each) on that grid. A 32-pixel greyscale picture blurred twice shows
// layout and tone, not what happens in it.
const (
	previewSide    = 32
	previewBlurs   = 2
	previewQuality = 70
	// previewTimeout bounds deriving one preview (a video's ffmpeg run
	// included); past it the preview is the placeholder.
	previewTimeout = 20 * time.Second
	// maxConcurrentFetches bounds the media fetches and preview
	// derivations in flight at once (each fetch up to max-media-bytes).
	maxConcurrentFetches = 4
)

// errMediaChanged is a host that served other bytes than those hashed.
var errMediaChanged = errors.New("media changed since it was hashed")

// mediaGate fetches, verifies, caches and serves reviewer media.
type mediaGate struct {
	s       *Service
	fetcher *fetch.Client
	cache   *mediaCache
	slots   chan struct{}
	limits  mediahash.Limits
	fetches *prometheus.CounterVec
}

func newMediaGate(s *Service) (*mediaGate, error) {
	allow, err := fetch.ParseAllowlist(s.cfg.URLAllowlist)
	if err != nil {
		return nil, err
	}
	g := &mediaGate{
		s: s,
		// The hasher's client, settings and all: its User-Agent is the
		// hasher's, so a host cannot tell the two apart, and it keeps no
		// cookie jar.
		fetcher: fetch.NewClient(fetch.Config{
			Policy:   fetch.Policy{Allow: allow},
			MaxBytes: s.cfg.MaxMediaBytes,
			Timeout:  s.cfg.FetchTimeout,
		}),
		cache:  newMediaCache(s.cfg.MediaCacheBytes, s.cfg.MediaCacheTTL),
		slots:  make(chan struct{}, maxConcurrentFetches),
		limits: mediahash.Limits{MaxBytes: s.cfg.MaxMediaBytes, Timeout: previewTimeout},
	}
	r := s.metrics.reg
	g.fetches = newCounterVec(r, "takedown_review_media_fetches_total",
		"Media fetched for reviewers, by outcome (verified, unverified: an unhashable item without a recorded sha256, "+
			"changed: other bytes than those hashed, refused, failed).", "outcome")
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "takedown_review_media_cache_bytes",
		Help: "Bytes of reviewer media (and previews) held in memory."}, func() float64 {
		return float64(g.cache.size())
	}))
	return g, nil
}

// mediaEntry is one item's verified media and, once derived, its preview.
type mediaEntry struct {
	data     []byte
	mime     string // sniffed from data
	sha256   string
	verified bool

	mu          sync.Mutex
	preview     []byte
	placeholder bool
}

// recordedSHA256 is the whole file's sha256 the hasher recorded, "" if none.
func recordedSHA256(req *events.ReviewRequested) string {
	for _, sig := range req.Signals {
		if sig.Type == events.SignalSHA256 && sig.Variant == "" {
			return strings.ToLower(sig.Value)
		}
	}
	return ""
}

// unhashableItem reports whether review was requested because the pipeline
// could not hash the media: the only items whose media may be served
// without a recorded sha256.
func unhashableItem(req *events.ReviewRequested) bool { return req.Unhashable != nil }

// mediaError is a refusal with its status.
type mediaError struct {
	code int
	msg  string
}

func (e *mediaError) Error() string { return e.msg }

// load returns the item's media: from the cache, else fetched and checked.
func (g *mediaGate) load(ctx context.Context, id string) (*mediaEntry, error) {
	it, err := g.s.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, &mediaError{http.StatusNotFound, fmt.Sprintf("no review item %q", id)}
	}
	decided := it.State == StateDecided
	if decided {
		// A decided item's media is still shown (to a lead considering an
		// overturn), fetched and checked again, but not kept.
		g.cache.drop(id)
	} else if e := g.cache.get(id); e != nil {
		return e, nil
	}
	want := recordedSHA256(&it.request)
	if want == "" && !unhashableItem(&it.request) {
		g.fetches.WithLabelValues("refused").Inc()
		return nil, &mediaError{http.StatusConflict,
			"no sha256 was recorded for this item's media, so what its host serves now cannot be verified; not served"}
	}
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m, err := g.fetcher.Fetch(ctx, it.MediaURL)
	if err != nil {
		g.s.log.Warn("reviewer media not fetched", "item", id, "err", err)
		switch {
		case errors.Is(err, fetch.ErrForbiddenAddress), errors.Is(err, fetch.ErrScheme), errors.Is(err, fetch.ErrBadURL):
			g.fetches.WithLabelValues("refused").Inc()
			return nil, &mediaError{http.StatusBadGateway, "media URL refused by the fetch policy: " + err.Error()}
		case errors.Is(err, fetch.ErrTimeout):
			g.fetches.WithLabelValues("failed").Inc()
			return nil, &mediaError{http.StatusGatewayTimeout, "media host too slow: " + err.Error()}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		g.fetches.WithLabelValues("failed").Inc()
		return nil, &mediaError{http.StatusBadGateway, "media not fetched: " + err.Error()}
	}
	sum := sha256.Sum256(m.Data)
	got := hex.EncodeToString(sum[:])
	if want != "" && got != want {
		g.fetches.WithLabelValues("changed").Inc()
		g.s.log.Warn("reviewer media differs from the media hashed: not served", "item", id,
			"sha256_hashed", want, "sha256_now", got, "bytes", len(m.Data))
		return nil, &mediaError{http.StatusBadGateway, fmt.Sprintf("%v: the host now serves bytes with sha256 %s, the hasher recorded %s",
			errMediaChanged, got, want)}
	}
	e := &mediaEntry{data: m.Data, mime: sniff(m.Data), sha256: got, verified: want != ""}
	if e.verified {
		g.fetches.WithLabelValues("verified").Inc()
	} else {
		g.fetches.WithLabelValues("unverified").Inc()
	}
	if !decided {
		g.cache.put(id, e)
	}
	return e, nil
}

// sniff is the media type of data from its bytes alone (never the host's
// word), without parameters.
func sniff(data []byte) string {
	mt, _, _ := strings.Cut(http.DetectContentType(data), ";")
	return strings.TrimSpace(mt)
}

func inlineType(mt string) bool {
	return strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "video/")
}

// fail answers a load failure.
func (g *mediaGate) fail(w http.ResponseWriter, r *http.Request, err error) {
	var me *mediaError
	switch {
	case errors.As(err, &me):
		writeError(w, me.code, "%s", me.msg)
	case r.Context().Err() != nil:
		// The reviewer went away; nobody reads the answer.
	default:
		g.s.unavailable(w, r, err)
	}
}

// mediaHeaders are those of every media and preview answer.
func mediaHeaders(w http.ResponseWriter, e *mediaEntry, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", mediaCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if inlineType(contentType) {
		h.Set("Content-Disposition", "inline")
	} else {
		h.Set("Content-Disposition", `attachment; filename="media.bin"`)
	}
	h.Set(headerVerified, fmt.Sprint(e.verified))
	h.Set(headerSHA256, e.sha256)
}

// serveMedia answers GET …/items/{id}/media with the verified bytes. Only
// pictures and videos are labelled as such; anything else (HTML, SVG,
// scripts) goes out as an opaque download, never rendered from the
// service's origin.
func (g *mediaGate) serveMedia(w http.ResponseWriter, r *http.Request) {
	e, err := g.load(r.Context(), r.PathValue("id"))
	if err != nil {
		g.fail(w, r, err)
		return
	}
	ct := e.mime
	if !inlineType(ct) {
		ct = "application/octet-stream"
	}
	mediaHeaders(w, e, ct)
	// ServeContent answers the range requests a video element makes.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(e.data))
}

// servePreview answers GET …/items/{id}/preview with the derived preview
// (image/jpeg), or a placeholder when none can be derived. The media is
// fetched and verified first: a preview of unverified bytes is refused as
// the media is.
func (g *mediaGate) servePreview(w http.ResponseWriter, r *http.Request) {
	e, err := g.load(r.Context(), r.PathValue("id"))
	if err != nil {
		g.fail(w, r, err)
		return
	}
	e.mu.Lock()
	derived := e.preview == nil
	if derived {
		// Decoding takes memory too (a 50-megapixel picture, a frame):
		// it shares the fetches' slots.
		select {
		case g.slots <- struct{}{}:
		case <-r.Context().Done():
			e.mu.Unlock()
			return
		}
		e.preview, e.placeholder = g.derivePreview(r.Context(), e)
		<-g.slots
		if r.Context().Err() != nil {
			// Cut short by the reviewer leaving: not a placeholder to keep.
			e.preview = nil
			e.mu.Unlock()
			return
		}
	}
	data, placeholder := e.preview, e.placeholder
	e.mu.Unlock()
	if derived && !placeholder {
		g.cache.addPreview(r.PathValue("id"), e, int64(len(data)))
	}
	mediaHeaders(w, e, "image/jpeg")
	if placeholder {
		w.Header().Set(headerPreview, "placeholder")
	} else {
		w.Header().Set(headerPreview, "derived")
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// derivePreview makes the preview of e, or the placeholder.
func (g *mediaGate) derivePreview(ctx context.Context, e *mediaEntry) (jpegData []byte, placeholder bool) {
	var grid *image.Gray
	var err error
	switch {
	case strings.HasPrefix(e.mime, "image/"):
		var img image.Image
		if img, _, err = mediahash.DecodeImage(ctx, e.data, g.limits); err == nil {
			grid = shrinkGrey(img)
		}
	case strings.HasPrefix(e.mime, "video/") || e.mime == "application/ogg":
		grid, err = videoPreview(ctx, e.data)
	default:
		err = fmt.Errorf("no preview of %s", e.mime)
	}
	if err == nil {
		for range previewBlurs {
			grid = boxBlur(grid)
		}
		var buf bytes.Buffer
		if err = jpeg.Encode(&buf, grid, &jpeg.Options{Quality: previewQuality}); err == nil {
			return buf.Bytes(), false
		}
	}
	g.s.log.Info("no preview derived; serving the placeholder", "mime", e.mime, "err", err)
	return placeholderJPEG, true
}

// shrinkGrey reduces img to at most previewSide pixels on its long side, in
// greyscale, each pixel the mean of up to 8x8 samples of its box (a 50
// megapixel picture is not read whole).
func shrinkGrey(img image.Image) *image.Gray {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := previewSide, previewSide
	if sw >= sh {
		h = max(1, sh*previewSide/max(sw, 1))
	} else {
		w = max(1, sw*previewSide/max(sh, 1))
	}
	w, h = min(w, max(sw, 1)), min(h, max(sh, 1))
	out := image.NewGray(image.Rect(0, 0, w, h))
	const samples = 8
	for y := range h {
		for x := range w {
			var sum, n uint64
			for j := range samples {
				sy := b.Min.Y + min((y*samples+j)*sh/(h*samples), sh-1)
				for i := range samples {
					sx := b.Min.X + min((x*samples+i)*sw/(w*samples), sw-1)
					sum += uint64(color.GrayModel.Convert(img.At(sx, sy)).(color.Gray).Y)
					n++
				}
			}
			out.SetGray(x, y, color.Gray{Y: uint8(sum / n)})
		}
	}
	return out
}

// boxBlur is one 3x3 mean pass, edges clamped.
func boxBlur(src *image.Gray) *image.Gray {
	b := src.Bounds()
	out := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var sum, n int
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					p := image.Pt(x+dx, y+dy)
					if p.In(b) {
						sum += int(src.GrayAt(p.X, p.Y).Y)
						n++
					}
				}
			}
			out.SetGray(x, y, color.Gray{Y: uint8(sum / n)})
		}
	}
	return out
}

// errEnoughFrames stops a preview's decoding.
var errEnoughFrames = errors.New("preview frame taken")

// videoPreview shrinks a frame about a second in (the very first is often
// black), or the first if the video is shorter. ffmpeg needs a seekable file:
// the bytes go to a private temporary file in memory-backed /dev/shm where
// there is one, removed before returning.
func videoPreview(ctx context.Context, data []byte) (*image.Gray, error) {
	dir := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir = "/dev/shm"
	}
	f, err := os.CreateTemp(dir, "takedown-review-*")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	defer os.Remove(name)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, werr
	}
	var grid *image.Gray
	_, err = video.Frames(ctx, name, video.Options{
		FPS: 1, Timeout: previewTimeout,
		// Long media is still reviewed (an unhashable item may be over
		// the hasher's limit); only the first seconds are decoded.
		MaxDuration: 1000 * time.Hour,
	}, func(f video.Frame) error {
		grid = shrinkGrey(f.Image)
		if f.Timestamp >= time.Second {
			return errEnoughFrames
		}
		return nil
	})
	if grid == nil {
		if err == nil {
			err = errors.New("the video has no frames")
		}
		return nil, err
	}
	return grid, nil
}

// placeholderJPEG stands in for a preview that cannot be derived: plain
// grey with a darker cross, unmistakably not the media.
var placeholderJPEG = func() []byte {
	const w, h = 64, 36
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := uint8(150)
			if x*h/w == y || (w-1-x)*h/w == y {
				c = 90
			}
			img.SetGray(x, y, color.Gray{Y: c})
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: previewQuality})
	return buf.Bytes()
}()

// mediaCache holds media for the review in memory: at most max bytes,
// each entry for at most ttl. When full, the entries closest to expiry go
// first; one larger than the whole cache is served but not kept.
type mediaCache struct {
	max int64
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]*cached
	bytes   int64
}

type cached struct {
	e *mediaEntry
	// size counts the media and, once derived, the preview.
	size    int64
	expires time.Time
}

func newMediaCache(maxBytes int64, ttl time.Duration) *mediaCache {
	return &mediaCache{max: maxBytes, ttl: ttl, entries: map[string]*cached{}}
}

func (c *mediaCache) get(id string) *mediaEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	ce := c.entries[id]
	if ce == nil {
		return nil
	}
	if time.Now().After(ce.expires) {
		c.remove(id)
		return nil
	}
	return ce.e
}

func (c *mediaCache) put(id string, e *mediaEntry) {
	size := int64(len(e.data))
	if c.max <= 0 || c.ttl <= 0 || size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(id)
	c.sweepLocked(time.Now())
	for c.bytes+size > c.max {
		var first string
		var at time.Time
		for k, ce := range c.entries {
			if first == "" || ce.expires.Before(at) {
				first, at = k, ce.expires
			}
		}
		c.remove(first)
	}
	c.entries[id] = &cached{e: e, size: size, expires: time.Now().Add(c.ttl)}
	c.bytes += size
}

// addPreview counts the preview derived for e, if e is still id's entry.
// It may overshoot max by the previews' few kilobytes until the next put.
func (c *mediaCache) addPreview(id string, e *mediaEntry, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ce := c.entries[id]; ce != nil && ce.e == e {
		ce.size += n
		c.bytes += n
	}
}

func (c *mediaCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(id)
}

func (c *mediaCache) remove(id string) {
	if ce := c.entries[id]; ce != nil {
		delete(c.entries, id)
		c.bytes -= ce.size
	}
}

func (c *mediaCache) sweepLocked(now time.Time) {
	for k, ce := range c.entries {
		if now.After(ce.expires) {
			c.remove(k)
		}
	}
}

func (c *mediaCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// sweep drops expired entries every interval until ctx ends, so that media
// nobody asks for again does not wait for the next put to go.
func (c *mediaCache) sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for k := range c.entries {
				c.remove(k)
			}
			c.mu.Unlock()
			return
		case <-t.C:
			c.mu.Lock()
			c.sweepLocked(time.Now())
			c.mu.Unlock()
		}
	}
}

// forgetMedia wraps a decision handler: once an item is decided its media
// leaves the cache (whatever the answer; dropping is harmless).
func (s *Service) forgetMedia(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
		s.media.cache.drop(r.PathValue("id"))
	}
}

// uiMedia wraps a media handler for the web UI: the session cookie (scoped
// to /ui/, so the API's paths never see it) or a bearer token.
func (s *Service) uiMedia(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, true)
		if err == nil && !p.allowed(accessReviewer) {
			err = &authError{code: http.StatusForbidden, reason: "role", msg: p.Subject + " may not see review media"}
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if s.rebuilding.Load() {
			writeError(w, http.StatusServiceUnavailable, "the queue is being rebuilt from Kafka; try again shortly")
			return
		}
		h(w, r.WithContext(withPrincipal(r.Context(), p)))
	}
}
