package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/hasher/hasher"
	"github.com/takedown-pipeline/takedown/services/review/review"
)

// TestUnhashableReachesReview uploads media over each of the hasher's
// limits (bytes, pixels, video duration; small limits set for the test),
// from a media host that is too slow and from one that is down, through the
// five services on the real broker: each reaches review as unhashable with
// its reason, with an unhashable record on the actions topic, and nothing
// is dead-lettered. A violating decision on one of them takes it down.
func TestUnhashableReachesReview(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("ffmpeg missing: %v", err)
		}
		t.Skipf("ffmpeg missing: %v", err)
	}
	secret := "e2e-secret"
	plat := newPlatform(t, []byte(secret))
	pl := startPipeline(t, plat, secret, func(c *hasher.Config) {
		c.MaxMediaBytes = 1 << 20
		c.MaxPixels = 100_000
		c.VideoMaxDuration = 2 * time.Second
		c.FetchTimeout = 500 * time.Millisecond
		c.FetchAttempts = 2
	})

	video := filepath.Join(t.TempDir(), "long.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=5", "-c:v", "libx264",
		"-preset", "ultrafast", "-pix_fmt", "yuv420p", video)
	long, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("not a picture, and too many bytes of it "), 30_000)
	var wide bytes.Buffer
	if err := png.Encode(&wide, image.NewGray(image.Rect(0, 0, 400, 300))); err != nil {
		t.Fatal(err)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "storage down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)

	cases := []struct {
		name, contentType, url, reason string
	}{
		{"bytes", events.ContentImage, plat.host("big.jpg", big), events.UnhashableTooLarge},
		{"pixels", events.ContentImage, plat.host("wide.png", wide.Bytes()), events.UnhashableTooManyPixels},
		{"duration", events.ContentVideo, plat.host("long.mp4", long), events.UnhashableTooLong},
		{"slow-host", events.ContentImage, slow.URL + "/slow.png", events.UnhashableHostUnavailable},
		{"down-host", events.ContentImage, down.URL + "/down.png", events.UnhashableHostUnavailable},
	}
	ids := map[string]string{}
	for _, c := range cases {
		id := testenv.Name("unhashable-" + c.name)
		ids[c.name] = id
		code, out := postIngest(t, "http://"+pl.ingest.Addr()+"/v1/uploads", map[string]any{
			"content_id": id, "media_url": c.url, "content_type": c.contentType,
			"uploader_id": "u1", "uploaded_at": time.Now().UTC().Format(time.RFC3339Nano),
		})
		if code != http.StatusAccepted {
			t.Fatalf("upload %s: %d %v", c.name, code, out)
		}
	}
	itemURL := func(id string) string {
		return "http://" + pl.review.Addr() + "/v1/items/" + url.PathEscape(events.ScopedID(e2eClient, id))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := ids[c.name]
			var it review.Item
			testenv.WaitFor(t, 60*time.Second, "the review item of "+c.name, func() bool {
				req, _ := http.NewRequest(http.MethodGet, itemURL(id), nil)
				req.Header.Set("Authorization", "Bearer "+reviewToken(t, "rita"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&it) == nil
			})
			if it.Unhashable == nil || it.Unhashable.Reason != c.reason || !strings.Contains(it.Reason, "unhashable ("+c.reason+")") {
				t.Errorf("review item %+v (unhashable %+v), want unhashable %s", it, it.Unhashable, c.reason)
			}
			t.Logf("%s: review reason %q", c.name, it.Reason)
			var unhashable, queued bool
			for _, a := range pl.actions(t, id, 2) {
				unhashable = unhashable || a.Action == events.ActionUnhashable && a.Outcome == events.OutcomeSucceeded &&
					strings.Contains(a.Reason, c.reason)
				queued = queued || a.Action == events.ActionQueueForReview
			}
			if !unhashable || !queued {
				t.Errorf("audit records of %s: want unhashable (%s) and queue_for_review", c.name, c.reason)
			}
		})
	}
	// common names each service's dead-letter topic "<prefix>.<service>.dlq".
	hasherDLQ := strings.TrimSuffix(pl.topics.Ingested, "."+events.TypeMediaIngested) + ".hasher.dlq"
	if n := testenv.EndOffset(t, pl.brokers, hasherDLQ); n != 0 {
		t.Errorf("%d uploads dead-lettered by the hasher, want none", n)
	}

	// A reviewer finds the too-long video violating: it is taken down.
	id := ids["duration"]
	tok := reviewToken(t, "rita")
	if code, out := postJSON(t, itemURL(id)+"/claim", map[string]any{"reviewer": "rita"}, tok); code != http.StatusOK {
		t.Fatalf("claim: %d %v", code, out)
	}
	if code, out := postJSON(t, itemURL(id)+"/decision", map[string]any{"reviewer": "rita", "decision": "violating", "reason": "attack footage, too long to hash"}, tok); code != http.StatusOK {
		t.Fatalf("decision: %d %v", code, out)
	}
	select {
	case td := <-plat.got:
		if td.ContentID != id || td.Action != events.ActionRemove || td.Trigger != events.TriggerReview {
			t.Fatalf("takedown %+v, want remove of %s on review", td, id)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no takedown after the violating decision")
	}
}
