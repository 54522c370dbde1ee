#!/usr/bin/env bash
# Starts/stops the real services the test suite needs (and installs or
# builds, once, the Prometheus and Jaeger the observability tests start).
#   eval "$(scripts/test-env.sh up)"    # starts Kafka + Redis, exports their addresses
#                                         (and Kafka's SASL_SSL listener, Redis's TLS port, CAs and users)
#   scripts/test-env.sh down
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  up)
    # Their own stdout (the addresses) goes to stderr: ours is only for eval.
    # A broker that is not running yet starts from empty storage: the
    # tests' topics are throwaway (TAKEDOWN_TEST_KAFKA_FRESH=0 keeps them).
    TAKEDOWN_TEST_KAFKA_FRESH="${TAKEDOWN_TEST_KAFKA_FRESH:-1}" "$HERE/kafka.sh" start >&2
    "$HERE/redis.sh" start >&2
    # The observability tests' tools: Debian's prometheus (with promtool),
    # installed once, and a Jaeger v2 built from the Go module proxy once
    # per machine (minutes the first time, cached in ~/.cache/takedown).
    # The tests start them as they need them.
    "$HERE/prometheus.sh" install >&2
    "$HERE/jaeger.sh" build >&2
    # The plaintext and SASL_SSL listeners, the CA, the SCRAM user.
    "$HERE/kafka.sh" env
    # The plaintext and TLS addresses, the test CA and the ACL user.
    "$HERE/redis.sh" env
    ;;
  down)
    "$HERE/kafka.sh" stop
    "$HERE/redis.sh" stop
    # Started by the tests that need it (tests/observability).
    "$HERE/jaeger.sh" stop
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
