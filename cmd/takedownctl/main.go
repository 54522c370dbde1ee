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
	"os"
	"os/signal"
	"syscall"
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
  takedownctl submit [--content-id ID] FILE|URL              send an upload to the pipeline
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

Settings come from flags or TAKEDOWN_* environment variables, the same ones
the services read (e.g. TAKEDOWN_KAFKA_BROKERS); run a command with -h to
list its settings.
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

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	switch args[0] {
	case "hash":
		return cmdHash(ctx, args[1:], os.Stdout)
	case "bank":
		return cmdBank(ctx, args[1:], os.Stdout, os.Stderr)
	case "match-hashes":
		return cmdMatchHashes(ctx, args[1:], os.Stdout, os.Stderr)
	case "match":
		return cmdMatch(ctx, args[1:], os.Stdout)
	case "robustness":
		return cmdRobustness(ctx, args[1:], os.Stdout)
	case "submit":
		return cmdSubmit(ctx, args[1:], os.Stdout)
	case "report":
		return cmdReport(ctx, args[1:], os.Stdout, os.Stderr)
	case "dlq":
		return cmdDLQ(ctx, args[1:], os.Stdout, os.Stderr)
	case "token":
		return cmdToken(ctx, args[1:], os.Stdout)
	case "topics":
		return cmdTopics(ctx, args[1:], os.Stdout)
	case "dev":
		return cmdDev(ctx, args[1:])
	case "settings":
		return cmdSettings(ctx, args[1:], os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
