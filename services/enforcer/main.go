// Command enforcer acts on match verdicts and review decisions: it sends
// signed takedown requests to the platform and routes uncertain matches to
// human review. See package enforcer.
package main

import (
	"context"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/services/enforcer/enforcer"
)

func main() {
	var cfg enforcer.Config
	service.Main("enforcer", func(s *config.Set) *config.Common { cfg.Bind(s); return &cfg.Common },
		func(ctx context.Context, log *slog.Logger) error {
			svc, err := enforcer.New(cfg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		})
}
