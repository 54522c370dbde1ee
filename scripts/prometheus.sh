#!/usr/bin/env bash
# A real Prometheus (Debian's package: 2.42, with promtool) for the tests of
# the metrics, the rules and the dashboards' queries.
# Usage: scripts/prometheus.sh install|start [job=]host:port[/path]...|stop|status|env
#   install  apt-get installs prometheus when prometheus or promtool is missing
#   start    writes a configuration scraping the targets (job "takedown" when
#            a target names none, /metrics when it names no path) every $TAKEDOWN_TEST_PROMETHEUS_SCRAPE_INTERVAL,
#            loads the rule files of $TAKEDOWN_TEST_PROMETHEUS_RULES (a glob,
#            deployments/helm/takedown/rules/*.rules.yaml by default),
#            starts Prometheus and waits until it is ready
# One instance per $TAKEDOWN_TEST_PROMETHEUS_DIR and port: tests start their
# own, each with its targets, in a directory of their own.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${TAKEDOWN_TEST_PROMETHEUS_PORT:-19090}"
DIR="${TAKEDOWN_TEST_PROMETHEUS_DIR:-${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/prometheus}"
INTERVAL="${TAKEDOWN_TEST_PROMETHEUS_SCRAPE_INTERVAL:-1s}"
RULES="${TAKEDOWN_TEST_PROMETHEUS_RULES:-$HERE/../deployments/helm/takedown/rules/*.rules.yaml}"
PIDFILE="$DIR/prometheus.pid"
LOG="$DIR/prometheus.log"

say() { echo "prometheus: $*" >&2; }
our_pid() { # pid from the pid file, only if it is still our Prometheus
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  grep -qa "$DIR/prometheus.yml" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}
ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/-/ready" 2>/dev/null; }

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return 0; fi
  say "installing prometheus (and promtool) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # No recommends: the node exporter and friends are not needed.
  apt-get install -y -qq --no-install-recommends prometheus >&2
}

lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

config_text() {
  local t job addr
  cat <<EOF
# written by scripts/prometheus.sh
global:
  scrape_interval: $INTERVAL
  evaluation_interval: $INTERVAL
EOF
  # The glob is expanded here, so a configuration names existing files only.
  local files=() f
  # shellcheck disable=SC2206
  for f in $RULES; do [[ -f $f ]] && files+=("$(realpath "$f")"); done
  if ((${#files[@]})); then
    echo "rule_files:"
    for f in "${files[@]}"; do echo "  - '$f'"; done
  fi
  echo "scrape_configs:"
  # One job per name, in the order first named; a target's own path (after
  # host:port) becomes its __metrics_path__ label.
  local -A seen=()
  local order=()
  for t in "$@"; do
    if [[ $t == *=* ]]; then job=${t%%=*} addr=${t#*=}; else job=takedown addr=$t; fi
    [[ -n ${seen[$job]+x} ]] || order+=("$job")
    seen[$job]+=" $addr"
  done
  for job in "${order[@]}"; do
    echo "  - job_name: '$job'"
    echo "    static_configs:"
    for addr in ${seen[$job]}; do
      echo "      - targets: ['${addr%%/*}']"
      [[ $addr == */* ]] && echo "        labels: {__metrics_path__: '/${addr#*/}'}"
    done
  done
  return 0
}

wait_ready() {
  local pid=$1
  for _ in $(seq 60); do
    ready && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  say "Prometheus did not come up; last lines of $LOG:"
  tail -n 30 "$LOG" >&2 2>/dev/null || true
  return 1
}

stop_pid() {
  local pid=$1
  kill -TERM "$pid"
  for _ in $(seq 20); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

start() {
  install
  lock
  local pid
  if pid=$(our_pid); then
    say "restarting the Prometheus of $DIR with the targets given now"
    stop_pid "$pid"
  fi
  if ready; then
    say "something else answers on 127.0.0.1:$PORT; set TAKEDOWN_TEST_PROMETHEUS_PORT"
    return 1
  fi
  mkdir -p "$DIR/data"
  config_text "$@" >"$DIR/prometheus.yml"
  promtool check config "$DIR/prometheus.yml" >&2
  say "starting Prometheus on http://127.0.0.1:$PORT scraping: ${*:-nothing} (logs: $LOG)"
  # setsid: it must outlive this shell; 9>&-: it must not hold our lock.
  setsid nohup prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/data" \
    --web.listen-address="127.0.0.1:$PORT" >"$LOG" 2>&1 </dev/null 9>&- &
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

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status)
    if pid=$(our_pid) && ready; then say "up (pid $pid) on http://127.0.0.1:$PORT"
    else say "down"; exit 1; fi ;;
  env) echo "export TAKEDOWN_TEST_PROMETHEUS_URL=http://127.0.0.1:$PORT" ;;
  *) echo "usage: $0 install|start [job=]host:port[/path]...|stop|status|env" >&2; exit 2 ;;
esac
