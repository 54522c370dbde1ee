package hasher

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// The pdq the hasher publishes is the hash other platforms receive (hash
// lists, industry databases): it must meet the reference's own rule, within
// 10 bits of the C++ reference's published hash of every decoded file (the
// `cpp` rows of ../shared/testdata/pdq/expected.csv), on the hasher's path:
// fetched over HTTP, hashed as an upload is, read back from media.hashed.
// The Python reference's rows keep the distance their own test allows.
func TestPublishedPDQMeetsTheReference(t *testing.T) {
	refs := testenv.PDQReferences(t, "")
	brokers := testenv.KafkaBrokers(t)
	mux := http.NewServeMux()
	for i, ref := range refs {
		data, err := os.ReadFile(ref.Path)
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc("/"+strconv.Itoa(i), func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(data) })
	}
	media := httptest.NewServer(mux)
	t.Cleanup(media.Close)

	cfg := testConfig(t, brokers, nil)
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "hasher", svc.Run, svc.Ready)
	coll := startCollector(t, brokers, cfg.Topics.Hashed)
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()

	ids := make([]string, len(refs))
	for i := range refs {
		ev := events.MediaIngested{
			Meta:     events.NewMeta(events.TypeMediaIngested, testenv.Name("ref"), ""),
			MediaURL: media.URL + "/" + strconv.Itoa(i), ContentType: events.ContentImage, UploaderID: "u",
			UploadedAt: time.Now().UTC(), IngestedAt: time.Now().UTC(),
		}
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.Ingested, &ev); err != nil {
			t.Fatal(err)
		}
		ids[i] = ev.ContentID
	}
	for i, ref := range refs {
		var out events.MediaHashed
		if err := events.Decode(coll.find(t, cfg.Topics.Hashed, ids[i], 1)[0].Value, events.TypeMediaHashed, &out); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, s := range out.Signals {
			if s.Type == events.SignalPDQ && s.Variant == "" {
				got = s.Value
			}
		}
		g, err := pdq.ParseHex(got)
		if err != nil {
			t.Fatalf("%s: pdq %q: %v (unhashable: %+v)", ref.Path, got, err, out.Unhashable)
		}
		w, err := pdq.ParseHex(ref.Hex)
		if err != nil {
			t.Fatal(err)
		}
		d := pdq.Distance(g, w)
		t.Logf("%s %s: distance %d (allowed %d)", ref.Source, ref.Path, d, ref.MaxDistance)
		if d > ref.MaxDistance {
			t.Errorf("%s: published pdq %s is %d bits from the %s reference %s; allowed %d", ref.Path, got, d, ref.Source, ref.Hex, ref.MaxDistance)
		}
	}
}
