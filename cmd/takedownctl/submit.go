package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Upload is the body of ingest's POST /v1/uploads.
type Upload struct {
	ContentID   string    `json:"content_id"`
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploaderID  string    `json:"uploader_id"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// ingestKey is a client's key for ingest's API: requests are signed with it
// (see package webhook's SignRequest). The zero key sends unsigned requests,
// which only an ingest with TAKEDOWN_INGEST_ALLOW_ANONYMOUS accepts.
type ingestKey struct {
	ID     string
	Secret string
}

// bindIngestKey registers the key's settings.
func bindIngestKey(s *config.Set, k *ingestKey) {
	s.String(&k.ID, "ingest-key-id", "", "key id of the ingest client key requests are signed with (`takedownctl dev` prints one)")
	s.Secret(&k.Secret, "ingest-key-secret", "secret of the ingest client key")
}

// check says what is wrong with a half-given key.
func (k ingestKey) check() error {
	if (k.ID == "") != (k.Secret == "") {
		return usageError{"give both TAKEDOWN_INGEST_KEY_ID and TAKEDOWN_INGEST_KEY_SECRET (or neither, for an ingest that allows anonymous requests)"}
	}
	return nil
}

// post sends body to ingest's API at url, signed with k.
func (k ingestKey) post(ctx context.Context, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if k.ID != "" {
		webhook.SignRequest(req, k.ID, []byte(k.Secret), body, time.Now())
	}
	return http.DefaultClient.Do(req)
}

// submitUpload posts u to ingest, signed with key, and returns its answer.
func submitUpload(ctx context.Context, ingestURL string, key ingestKey, u Upload) (map[string]any, error) {
	body, _ := json.Marshal(u)
	resp, err := key.post(ctx, strings.TrimRight(ingestURL, "/")+"/v1/uploads", body)
	if err != nil {
		return nil, fmt.Errorf("ingest at %s: %w (is the pipeline running? TAKEDOWN_INGEST_URL)", ingestURL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	// 200 is a repeat of an upload already accepted (the body says
	// "duplicate"), 202 a new one.
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized && key.ID == "" {
			return nil, fmt.Errorf("ingest refused the unsigned upload (%s): set TAKEDOWN_INGEST_KEY_ID and TAKEDOWN_INGEST_KEY_SECRET "+
				"to a client key of ingest's TAKEDOWN_INGEST_CLIENTS (`takedownctl dev` prints one)", resp.Status)
		}
		if msg, ok := out["error"].(string); ok {
			return nil, fmt.Errorf("ingest refused the upload (%s): %s", resp.Status, msg)
		}
		return nil, fmt.Errorf("ingest refused the upload (%s): %s", resp.Status, bytes.TrimSpace(raw))
	}
	return out, nil
}

func cmdSubmit(ctx context.Context, args []string, out io.Writer) error {
	var (
		ingestURL   string
		contentID   string
		uploader    string
		contentType string
		serveAddr   string
		serveFor    time.Duration
		key         ingestKey
		wait        bool
		follow      followSettings
	)
	s := newSet(ctx, "takedownctl submit")
	s.String(&ingestURL, "ingest-url", "http://127.0.0.1:8080", "base URL of the ingest service's HTTP API")
	s.String(&contentID, "content-id", "", "platform content id of the upload (default: a new random id)")
	s.String(&uploader, "uploader", "takedownctl", "uploader id")
	s.String(&contentType, "content-type", "", "image or video (default: guessed from the name)")
	s.String(&serveAddr, "serve-addr", "", "where to serve a local FILE until the hasher fetched it "+
		"(default: a loopback port chosen from the file's content, so that the same file sent again with the same --content-id is a repeat, not a conflict)")
	s.Duration(&serveFor, "serve-timeout", time.Minute, "how long to serve a local FILE waiting for the fetch")
	bindIngestKey(s, &key)
	s.Bool(&wait, "wait", false, "follow the upload through the pipeline and print what happened (removed, queued for review, no match) and how long each stage took")
	follow.bind(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	if err := key.check(); err != nil {
		return err
	}
	if wait {
		// Checked first: an upload sent to a pipeline whose topics cannot
		// be read could not be followed.
		if err := messaging.Check(ctx, follow.kafka); err != nil {
			return fmt.Errorf("--wait reads the pipeline's topics: %w", err)
		}
	}
	if len(s.Args()) != 1 {
		return usageError{"submit needs exactly one FILE or URL"}
	}
	target := s.Args()[0]
	if contentID == "" {
		contentID = "ctl-" + events.NewID()[:16]
	}
	if contentType == "" {
		contentType = contentTypeOf(target)
	}
	u := Upload{ContentID: contentID, ContentType: contentType, UploaderID: uploader, UploadedAt: time.Now().UTC()}
	// then follows an accepted upload through the pipeline with --wait.
	then := func(res map[string]any) error {
		if !wait {
			return nil
		}
		if dup, _ := res["duplicate"].(bool); dup {
			fmt.Fprintf(out, "content %s was already accepted (event %v); it was not queued again, so there is nothing new to follow\n", contentID, res["event_id"])
			return nil
		}
		client, _ := res["client_id"].(string)
		corr, _ := res["correlation_id"].(string)
		scoped := contentID
		if client != "" {
			scoped = events.ScopedID(client, contentID)
		}
		fmt.Fprintf(out, "following content %s (correlation %s) through the pipeline, up to %s:\n", scoped, corr, follow.timeout)
		return followUpload(ctx, follow, scoped, corr, u.UploadedAt, out)
	}
	if pu, err := url.Parse(target); err == nil && (pu.Scheme == "http" || pu.Scheme == "https") {
		u.MediaURL = target
		res, err := submitUpload(ctx, ingestURL, key, u)
		if err != nil {
			return err
		}
		if err := json.NewEncoder(out).Encode(res); err != nil {
			return err
		}
		return then(res)
	}

	// A local file: the pipeline fetches media by URL, so serve the file on
	// loopback until the hasher has fetched it (the embedded default allows
	// loopback addresses; a production policy would not).
	data, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	ln, err := listenForFile(serveAddr, data)
	if err != nil {
		return fmt.Errorf("serve %s: %w", target, err)
	}
	fetched := make(chan struct{}, 1)
	name := "/" + url.PathEscape(filepath.Base(target))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != name {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", http.DetectContentType(data))
		_, _ = w.Write(data)
		select {
		case fetched <- struct{}{}:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	u.MediaURL = "http://" + ln.Addr().String() + name
	res, err := submitUpload(ctx, ingestURL, key, u)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return err
	}
	if dup, _ := res["duplicate"].(bool); dup {
		// Nothing was queued: the hasher will not come for the file.
		return then(res)
	}
	if wait {
		// The file is served until the outcome is in (the deferred Close).
		return then(res)
	}
	fmt.Fprintf(os.Stderr, "serving %s at %s until the hasher fetches it (up to %s)\n", target, u.MediaURL, serveFor)
	select {
	case <-fetched:
		// Give the response a moment to drain before the server closes.
		time.Sleep(200 * time.Millisecond)
		return nil
	case <-time.After(serveFor):
		return fmt.Errorf("the pipeline did not fetch %s within %s (duplicate content id, or hasher not running?)", target, serveFor)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// listenForFile listens at addr, or, when addr is empty, at a loopback port
// chosen from the file's content: ingest takes an upload sent again as a
// repeat only when its media URL is the same, and a new port each run would
// make it another URL. A port in use falls back to any free one.
func listenForFile(addr string, data []byte) (net.Listener, error) {
	if addr != "" {
		return net.Listen("tcp", addr)
	}
	sum := sha256.Sum256(data)
	port := 20000 + int(binary.BigEndian.Uint32(sum[:4])%20000)
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		return ln, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}
