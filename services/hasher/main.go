// Command hasher fetches the media of each ingested upload and publishes its
// hashes as media.hashed. See package hasher.
package main

import (
	"context"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/services/hasher/hasher"
)

func main() {
	var cfg hasher.Config
	service.Main("hasher", func(s *config.Set) *config.Common { cfg.Bind(s); return &cfg.Common },
		func(ctx context.Context, log *slog.Logger) error {
			svc, err := hasher.New(cfg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		})
}
