#!/usr/bin/env bash
# Private Redis for the test suite (not the system service).
# Usage: scripts/redis.sh start|stop|status
set -euo pipefail

PORT="${TAKEDOWN_TEST_REDIS_PORT:-16379}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/redis"

say() { echo "redis: $*" >&2; }
up() { command -v redis-cli >/dev/null && [[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  say "installing redis-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
}

# Serialises concurrent start/stop calls (e.g. parallel test packages).
lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

start() {
  lock
  if up; then say "already up on 127.0.0.1:$PORT"; return 0; fi
  install
  mkdir -p "$DIR"
  say "starting on 127.0.0.1:$PORT (logs: $DIR/redis.log)"
  # Throwaway data: no RDB snapshots, no AOF. 9>&-: keep our lock out of the daemon.
  redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes \
    --dir "$DIR" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
    --save "" --appendonly no 9>&-
  for _ in $(seq 50); do
    if up; then echo "127.0.0.1:$PORT"; return 0; fi
    sleep 0.2
  done
  say "redis did not answer PING; last lines of $DIR/redis.log:"
  tail -n 50 "$DIR/redis.log" >&2 || true
  return 1
}

stop() {
  lock
  if up; then
    say "stopping 127.0.0.1:$PORT"
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  else
    say "not running"
  fi
  rm -f "$DIR/redis.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if up; then say "up on 127.0.0.1:$PORT"; else say "down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
