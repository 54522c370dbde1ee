#!/usr/bin/env bash
# Single-node Kafka (KRaft) for the test suite, run from Maven Central jars
# (only package registries are reachable, so no release tarball).
# Usage: scripts/kafka.sh fetch|start|stop|status
set -euo pipefail

# 4.3.1 rather than 4.4.0: Central listed kafka_2.13 4.4.0 but not kafka-tools
# 4.4.0 (TopicCommand, console clients). The others are fallbacks for a day the
# registry refuses one of 4.3.1's artifacts: the tests need a broker, not a
# particular patch release. TAKEDOWN_KAFKA_VERSION pins one version.
KAFKA_VERSIONS="${TAKEDOWN_KAFKA_VERSION:-4.3.1 4.3.2 4.3.0}"
CACHE_ROOT="${TAKEDOWN_CACHE:-${HOME:-/root}/.cache/takedown}"
KAFKA_VERSION="" LIBS=""  # set by fetch
PORT="${TAKEDOWN_TEST_KAFKA_PORT:-19092}"
CPORT="${TAKEDOWN_TEST_KAFKA_CONTROLLER_PORT:-19093}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/kafka"
PIDFILE="$DIR/kafka.pid"
LOG="$DIR/server.log"
# Pinned so a fresh ~/.m2 doesn't get Maven 3.8's ancient default (2.8).
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

say() { echo "kafka: $*" >&2; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }
our_pid() { # pid from the pid file, only if it is still our broker
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  grep -qa kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

use_version() { KAFKA_VERSION=$1; LIBS="$CACHE_ROOT/kafka-$1/libs"; }

# mvn, tried again after a pause: a registry's refusal or timeout is often
# transient, and a failed fetch fails the whole test run.
mvn_retry() {
  local i
  for i in 1 2 3; do
    mvn -q -B "$@" >&2 && return 0
    [[ $i == 3 ]] || { say "mvn failed (try $i of 3); again in $((i * 10)) s"; sleep $((i * 10)); }
  done
  return 1
}

fetch() {
  local v
  for v in $KAFKA_VERSIONS; do
    if [[ -f "$CACHE_ROOT/kafka-$v/.complete" ]]; then use_version "$v"; return 0; fi
  done
  for v in $KAFKA_VERSIONS; do
    if fetch_version "$v"; then use_version "$v"; return 0; fi
    say "could not fetch Kafka $v from the Maven registry"
  done
  say "no Kafka version of [$KAFKA_VERSIONS] could be fetched; is Maven Central reachable (mvn -v, ~/.m2/settings.xml)?"
  return 1
}

fetch_version() {
  local version=$1 cache="$CACHE_ROOT/kafka-$1" tmp
  say "fetching Kafka $version jars with mvn into $cache/libs"
  tmp=$(mktemp -d)
  # Expanded now ($tmp is local) and cleared when it runs, so it fires for
  # this function's return only.
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'; trap - RETURN" RETURN
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>takedown</groupId><artifactId>kafka-libs</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <!-- the admin/console tools are not a dependency of the broker -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
EOF
  mvn_retry -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" || return 1
  # Kafka brings slf4j-api and log4j-core but no binding between them; pick the
  # one matching both versions, or slf4j drops every log line.
  local core log4j binding=log4j-slf4j-impl
  core=$(ls "$tmp"/libs/log4j-core-*.jar) || return 1
  log4j=${core##*/log4j-core-}; log4j=${log4j%.jar}
  ls "$tmp"/libs/slf4j-api-2.*.jar >/dev/null 2>&1 && binding=log4j-slf4j2-impl
  mvn_retry -f "$tmp/pom.xml" "$DEP_PLUGIN:copy" \
    -Dartifact="org.apache.logging.log4j:$binding:$log4j" -DoutputDirectory="$tmp/libs" || return 1
  # Called as a condition, so set -e is off here: each step must succeed
  # before the cache is marked complete.
  mkdir -p "$cache" && rm -rf "$cache/libs" && mv "$tmp/libs" "$cache/libs" &&
    touch "$cache/.complete"
}

write_config() {
  mkdir -p "$DIR/data"
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
# one node: every internal topic must live with replication factor 1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# 1 instead of 50 partitions: the first consumer group comes up much faster
offsets.topic.num.partitions=1
# tests use short sessions and must not wait for the rebalance delay
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
  # append=false: the log holds only the current run, so "started" means now.
  cat >"$DIR/log4j2.properties" <<EOF
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG
appender.file.append = false
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
EOF
}

wait_ready() {
  local pid=$1
  # 180 s: a cold JVM on a loaded two-core machine has taken over a minute.
  for _ in $(seq 180); do
    if port_open && grep -q 'Kafka Server started' "$LOG" 2>/dev/null; then
      echo "127.0.0.1:$PORT"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  say "broker did not come up; last lines of $LOG and $DIR/stdout.log:"
  tail -n 50 "$LOG" "$DIR/stdout.log" >&2 2>/dev/null || true
  return 1
}

# Serialises concurrent start/stop calls (e.g. parallel test packages).
lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

format_storage() {
  say "formatting storage in $DIR/data"
  local id cp="$LIBS/*"
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid | tail -n 1)
  java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" >&2
}

launch() {
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (logs: $LOG)"
  # setsid: the broker must outlive this shell and its process group;
  # 9>&-: it must not inherit (and so hold) our lock.
  setsid nohup java -Xms256m -Xmx512m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "$!"
}

start() {
  lock
  local pid
  if pid=$(our_pid); then
    wait_ready "$pid"; return  # running, or still starting from another call
  fi
  if port_open; then
    say "something already listens on 127.0.0.1:$PORT; using it"
    echo "127.0.0.1:$PORT"; return 0
  fi
  fetch
  write_config
  [[ -f "$DIR/data/meta.properties" ]] || format_storage
  launch && return 0
  # The data is throwaway: storage left by a killed broker, or formatted by
  # another Kafka version, must not fail the run. Start once more from empty.
  if pid=$(our_pid); then kill -KILL "$pid" 2>/dev/null || true; fi
  say "starting again with empty storage"
  rm -rf "$DIR/data"
  format_storage
  launch
}

stop() {
  lock
  local pid
  if ! pid=$(our_pid); then
    say "not running"; rm -f "$PIDFILE"; return 0
  fi
  say "stopping broker (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
    sleep 1
  done
  say "still alive after 30 s, killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if port_open; then say "up on 127.0.0.1:$PORT"; else say "down"; exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
