// Command matcher matches hashed media against the hash banks and publishes a
// verdict for every upload.
package main

import (
	"context"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

func main() {
	var cfg matcher.Config
	service.Main("matcher", func(s *config.Set) *config.Common { cfg.Bind(s); return &cfg.Common },
		func(ctx context.Context, log *slog.Logger) error {
			svc, err := matcher.New(cfg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		})
}
