// Command ingest is the pipeline's front door: it takes uploads over HTTP or
// from media.uploaded, validates and deduplicates them and publishes
// media.ingested. See package ingest.
package main

import (
	"context"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/services/ingest/ingest"
)

func main() {
	var cfg ingest.Config
	service.Main("ingest", func(s *config.Set) *config.Common { cfg.Bind(s); return &cfg.Common },
		func(ctx context.Context, log *slog.Logger) error {
			svc, err := ingest.New(cfg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		})
}
