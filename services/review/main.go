// Command review runs the human review queue; see package review.
package main

import (
	"context"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/services/review/review"
)

func main() {
	var cfg review.Config
	service.Main("review", func(s *config.Set) *config.Common { cfg.Bind(s); return &cfg.Common },
		func(ctx context.Context, log *slog.Logger) error {
			svc, err := review.New(cfg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		})
}
