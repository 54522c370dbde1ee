// Command takedownctl operates a takedown pipeline: it hashes media, adds
// entries to hash banks, imports, exports and configures banks, matches hash
// lists offline, submits uploads, and runs the whole pipeline on one machine
// for development (`takedownctl dev`, what `make run` starts), and inspects and
// replays dead-letter topics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

const usage = `takedownctl operates a takedown pipeline.

Usage:
  takedownctl hash FILE...                                   print the hashes of media files as JSON lines
  takedownctl match --against REF[,REF...] QUERY...          print what each query matches and the decision
                                                             (take down / review / no match) the pipeline would take
  takedownctl robustness --images DIR                        measure matching of altered copies (make robustness)
  takedownctl bank add --bank NAME --label LABEL FILE...      hash media and publish them as bank entries
  takedownctl bank import [--bank NAME] [--format csv|tat] [--label L] [--skip-invalid] [--dry-run] FILE
                                                             validate a hash list, then publish its entries
  takedownctl bank export [--bank NAME] [--format csv|tat] [--include-disabled]
                                                             print the banks held on the bank topic
  takedownctl bank list [--json]                             banks with their settings and entry counts
  takedownctl bank disable --bank NAME ENTRY_ID...           disable entries
  takedownctl bank configure --bank NAME [--kind block|allow] [--enabled=true|false] [--label L,...]
                      [--threshold pdq=31,phash=10] [--disable-signal TYPE] [--enable-signal TYPE]
                      [--incident=true|false] [--severity critical|high|medium|low]
                                                             change a bank's settings
  takedownctl match-hashes --bank FILE --queries FILE [--type pdq]
                                                             match hashes against a bank file (JSON lines)
  takedownctl submit [--content-id ID] [--wait [--timeout 2m]] FILE|URL
                                                             send an upload to the pipeline; --wait follows it and
                                                             prints its outcome and how long each stage took
  takedownctl report [--from TIME] [--to TIME] [--json]      transparency report of enforcement.actions
  takedownctl dlq list [--json]                              dead-letter topics (*.dlq) with message counts per partition
  takedownctl dlq show TOPIC [--offset [P:]N,...] [--limit N] [--json]
                                                             print dead-lettered messages: reason, origin, headers, value
  takedownctl dlq replay TOPIC --offset [P:]N,... | --all    republish dead-lettered messages to their original topic
  takedownctl token --sub NAME [--roles reviewer|lead|admin] --secret S [--kid KID] [--ttl 12h]
                                                             print a review service token (HS256)
  takedownctl topics create [--topic-partitions N] [--topic-replication N] [--dlq-topics T,...]
                                                             create every topic of the pipeline that is missing, as the
                                                             services would (for TAKEDOWN_CREATE_TOPICS=false)
  takedownctl dev                                            run the whole pipeline on this machine (make run)
  takedownctl settings                                       every command's settings as JSON (make docs writes
                                                             docs/settings.md from them)
  takedownctl version                                        print the version (also --version)
  takedownctl help                                           this text (also -h)
  takedownctl completion bash|zsh                            print a shell completion script, e.g.
                                                             source <(takedownctl completion bash)

Settings come from flags or TAKEDOWN_* environment variables, the same ones
the services read (e.g. TAKEDOWN_KAFKA_BROKERS); run a command with -h to
list its settings. Flags may come before or after a command's arguments;
-- ends them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "takedownctl: %v\n\n%s", err, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "takedownctl: %v\n", err)
		os.Exit(1)
	}
}

// cmdVersion prints the version the services log at start and report as
// service.version (one source: telemetry.ServiceVersion), with the VCS
// revision and Go version of the build.
func cmdVersion(out io.Writer) error {
	_, revision := telemetry.Build()
	_, err := fmt.Fprintf(out, "takedownctl %s (revision %s, %s)\n", telemetry.ServiceVersion(), revision, runtime.Version())
	return err
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	switch args[0] {
	case "--version":
		return cmdVersion(os.Stdout)
	case "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return dispatch(ctx, commandTable(), "", args, os.Stdout, os.Stderr)
}
