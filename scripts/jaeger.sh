#!/usr/bin/env bash
# A real Jaeger v2 (the OTel-Collector-based cmd/jaeger) for the tests of
# tracing, built from the Go module proxy (no release tarball or image is
# reachable here) and cached under ~/.cache/takedown/jaeger-$VERSION.
# It runs all-in-one style: OTLP gRPC and HTTP receivers, memory storage and
# the query API, all on loopback test ports so it clashes with no real Jaeger.
# Usage: scripts/jaeger.sh build|start|stop|status|env
#   build  builds the binary once (several CPU-minutes cold, instant after)
#   start  builds if needed, starts Jaeger and waits until its API answers
#   env    prints the export lines of the OTLP endpoints and the query URL
set -euo pipefail

# v1.75.0 (Jaeger 2.12): the version ../shared/notes/KUBERNETES-OFFLINE.md
# found to resolve through a tools module. TAKEDOWN_JAEGER_VERSION pins
# another, but newer ones are not all approved releases: try before taking.
VERSION="${TAKEDOWN_JAEGER_VERSION:-v1.75.0}"
CACHE_ROOT="${TAKEDOWN_CACHE:-${HOME:-/root}/.cache/takedown}"
CACHE="$CACHE_ROOT/jaeger-$VERSION"
BIN="$CACHE/bin/jaeger"
GRPC_PORT="${TAKEDOWN_TEST_JAEGER_OTLP_GRPC_PORT:-14317}"
HTTP_PORT="${TAKEDOWN_TEST_JAEGER_OTLP_HTTP_PORT:-14318}"
QUERY_PORT="${TAKEDOWN_TEST_JAEGER_QUERY_PORT:-16696}"
# The query service's gRPC API (api_v2/api_v3) needs a port of its own.
QUERY_GRPC_PORT="${TAKEDOWN_TEST_JAEGER_QUERY_GRPC_PORT:-16695}"
# The collector's own telemetry (default 8888) must not clash either.
METRICS_PORT="${TAKEDOWN_TEST_JAEGER_METRICS_PORT:-18888}"
HEALTH_PORT="${TAKEDOWN_TEST_JAEGER_HEALTH_PORT:-16697}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/jaeger"
PIDFILE="$DIR/jaeger.pid"
LOG="$DIR/jaeger.log"

say() { echo "jaeger: $*" >&2; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
our_pid() { # pid from the pid file, only if it is still our Jaeger
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  grep -qa "$BIN" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# Serialises concurrent build/start/stop calls (parallel test packages).
lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

build() {
  [[ -x "$BIN" && -f "$CACHE/.complete" ]] && return 0
  command -v go >/dev/null || { say "Go is needed to build Jaeger"; return 1; }
  # The builds of parallel callers would race for the same cache directory.
  mkdir -p "$CACHE_ROOT"
  exec 8>"$CACHE_ROOT/.jaeger-build.lock"
  flock 8
  [[ -x "$BIN" && -f "$CACHE/.complete" ]] && { exec 8>&-; return 0; }
  say "building Jaeger $VERSION from the Go module proxy into $BIN (several CPU-minutes, once)"
  local tmp start=$SECONDS
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'; trap - RETURN" RETURN
  # `go install ...@version` refuses a module with replace directives, and
  # Jaeger's go.mod has one: a tools module that repeats it resolves.
  # Called as a condition, so set -e is off: every step is chained.
  if ! (
    cd "$tmp" &&
      printf 'module jaegertool\n\ngo 1.26.8\n' >go.mod &&
      go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0 &&
      GOFLAGS=-mod=mod go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$VERSION" >&2 &&
      mkdir -p "$tmp/bin" &&
      CGO_ENABLED=0 go build -trimpath -o "$tmp/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger >&2
  ); then
    say "building Jaeger $VERSION failed"
    exec 8>&-
    return 1
  fi
  mkdir -p "$CACHE" && rm -rf "$CACHE/bin" && mv "$tmp/bin" "$CACHE/bin" && touch "$CACHE/.complete"
  say "built Jaeger $VERSION in $((SECONDS - start)) s"
  exec 8>&-
}

# The all-in-one configuration of cmd/jaeger/internal/all-in-one.yaml, on
# our ports. Extensions and pipelines as there: memory storage, the query
# API over it, OTLP in, traces out to the storage.
config_text() {
  cat <<EOF
# jaeger $VERSION, written by scripts/jaeger.sh
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $METRICS_PORT
    logs:
      level: info

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$HEALTH_PORT
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$QUERY_GRPC_PORT
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC_PORT
      http:
        endpoint: 127.0.0.1:$HTTP_PORT

processors:
  batch:
    # Tests look traces up right after the export: do not hold spans back.
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
}

# api_up: the query API answers (the service list, empty or not).
api_up() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$QUERY_PORT/api/services" 2>/dev/null
}

wait_ready() {
  local pid=$1
  for _ in $(seq 60); do
    if api_up && port_open "$HTTP_PORT" && port_open "$GRPC_PORT"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  say "Jaeger did not come up; last lines of $LOG:"
  tail -n 40 "$LOG" >&2 2>/dev/null || true
  return 1
}

stop_pid() {
  local pid=$1
  say "stopping Jaeger (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 20); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

start() {
  build
  lock
  local pid
  if pid=$(our_pid); then
    if [[ "$(config_text)" == "$(cat "$DIR/config.yaml" 2>/dev/null)" ]]; then
      wait_ready "$pid"
      return
    fi
    say "the running Jaeger's configuration is not this script's; restarting it"
    stop_pid "$pid"
  fi
  local p
  for p in "$GRPC_PORT" "$HTTP_PORT" "$QUERY_PORT" "$QUERY_GRPC_PORT" "$METRICS_PORT" "$HEALTH_PORT"; do
    if port_open "$p"; then
      say "something else listens on 127.0.0.1:$p; set TAKEDOWN_TEST_JAEGER_*_PORT to free ports"
      return 1
    fi
  done
  config_text >"$DIR/config.yaml"
  say "starting Jaeger $VERSION: OTLP gRPC 127.0.0.1:$GRPC_PORT, HTTP 127.0.0.1:$HTTP_PORT, query http://127.0.0.1:$QUERY_PORT (logs: $LOG)"
  # setsid: Jaeger must outlive this shell and its process group;
  # 9>&-: it must not inherit (and so hold) our lock.
  setsid nohup "$BIN" --config "file:$DIR/config.yaml" >"$LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "$!"
}

stop() {
  lock
  local pid
  if ! pid=$(our_pid); then
    say "not running"; rm -f "$PIDFILE"; return 0
  fi
  stop_pid "$pid"
}

env_lines() {
  echo "export TAKEDOWN_TEST_JAEGER_OTLP_GRPC=127.0.0.1:$GRPC_PORT"
  echo "export TAKEDOWN_TEST_JAEGER_OTLP_HTTP=http://127.0.0.1:$HTTP_PORT"
  echo "export TAKEDOWN_TEST_JAEGER_QUERY=http://127.0.0.1:$QUERY_PORT"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status)
    if pid=$(our_pid) && api_up; then say "up (pid $pid), query http://127.0.0.1:$QUERY_PORT"
    else say "down"; exit 1; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 build|start|stop|status|env" >&2; exit 2 ;;
esac
