#!/usr/bin/env bash
# Single-node Kafka (KRaft) for the test suite, run from Maven Central jars
# (only package registries are reachable, so no release tarball).
# Two client listeners: PLAINTEXT on $PORT, and SASL_SSL on $SPORT (SCRAM-SHA-256
# and SCRAM-SHA-512, with a certificate from a test CA this script makes with
# openssl), for the tests of Kafka's transport security.
# Usage: scripts/kafka.sh fetch|start|stop|status|env
#   env prints the export lines of the test settings (scripts/test-env.sh).
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
SPORT="${TAKEDOWN_TEST_KAFKA_SASL_PORT:-19094}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/kafka"
TLS="$DIR/tls"
# A throwaway broker on loopback: its password protects nothing worth a secret.
SASL_USER="${TAKEDOWN_TEST_KAFKA_SASL_USERNAME:-takedown-test}"
SASL_PASSWORD="${TAKEDOWN_TEST_KAFKA_SASL_PASSWORD:-takedown-test-secret}"
PIDFILE="$DIR/kafka.pid"
LOG="$DIR/server.log"
# Pinned so a fresh ~/.m2 doesn't get Maven 3.8's ancient default (2.8).
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

say() { echo "kafka: $*" >&2; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${1:-$PORT}" 2>/dev/null; }
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

# The test CA and the broker's certificate (SAN IP:127.0.0.1 and
# DNS:localhost), made once, and again only when missing, near expiry or not
# signed by the CA. Kafka reads PEM as it is: key and chain in one file.
ensure_certs() {
  if [[ -f "$TLS/broker.pem" && -f "$TLS/ca.pem" ]] &&
    openssl x509 -in "$TLS/ca.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
    openssl x509 -in "$TLS/broker.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
    openssl verify -CAfile "$TLS/ca.pem" "$TLS/broker.pem" >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null || { say "openssl is needed for the test broker's certificates (apt-get install openssl)"; return 1; }
  say "making a test CA and the broker's certificate with openssl in $TLS"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'; trap - RETURN" RETURN
  # Called as a condition below, so set -e is off: every step is chained.
  # genpkey writes PKCS#8, the unencrypted key form Kafka's PEM store reads.
  if ! {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" &&
      openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 -subj "/CN=takedown test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$tmp/ca.pem" &&
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/broker.key" &&
      openssl req -new -key "$tmp/broker.key" -subj "/CN=localhost" -out "$tmp/broker.csr" &&
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$tmp/ext" &&
      openssl x509 -req -in "$tmp/broker.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
        -sha256 -days 3650 -extfile "$tmp/ext" -out "$tmp/broker.crt" &&
      cat "$tmp/broker.key" "$tmp/broker.crt" >"$tmp/broker.pem" &&
      chmod 600 "$tmp/ca.key" "$tmp/broker.pem"
  } >&2 2>"$tmp/err"; then
    cat "$tmp/err" >&2
    say "openssl could not make the certificates"
    return 1
  fi
  mkdir -p "$TLS"
  # broker.pem last: with it in place, the set is complete.
  rm -f "$TLS/broker.pem"
  mv "$tmp/ca.key" "$tmp/ca.pem" "$TLS/" && mv "$tmp/broker.pem" "$TLS/"
}

# The broker's configuration. It names the certificate's fingerprint, so a
# new certificate, like any other change here, differs from the file a
# running broker was started with, and start restarts it.
config_text() {
  local fp
  fp=$(openssl x509 -in "$TLS/broker.pem" -noout -fingerprint -sha256 2>/dev/null) || fp=none
  cat <<EOF
# broker certificate: $fp
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SPORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
# SCRAM users live in the cluster metadata (start adds ours); the login
# module has nothing to say but must be named for each mechanism.
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
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
}

write_config() {
  mkdir -p "$DIR/data"
  config_text >"$DIR/server.properties"
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

# The SCRAM user of the SASL_SSL listener, with both mechanisms. Fresh storage
# gets it when formatted; storage from before the listener existed, or with
# another password, gets it over the plaintext listener. The marker lives in
# the storage directory, so storage formatted anew gets the user anew.
scram_marker() { echo "$SASL_USER $(printf '%s' "$SASL_PASSWORD" | sha256sum | cut -c1-64)"; }

ensure_user() {
  [[ "$(cat "$DIR/data/.scram-user" 2>/dev/null)" == "$(scram_marker)" ]] && return 0
  say "adding SCRAM user $SASL_USER"
  local m i ok
  for m in SCRAM-SHA-256 SCRAM-SHA-512; do # one per request, or Kafka refuses both
    ok=
    for i in 1 2 3; do
      if java -cp "$LIBS/*" -Dlog4j2.configurationFile="$DIR/log4j2-tools.properties" kafka.admin.ConfigCommand \
        --bootstrap-server "127.0.0.1:$PORT" --alter --entity-type users --entity-name "$SASL_USER" \
        --add-config "$m=[password=$SASL_PASSWORD]" >&2; then
        ok=1; break
      fi
      [[ $i == 3 ]] || sleep 2
    done
    [[ -n $ok ]] || { say "could not add SCRAM user $SASL_USER ($m)"; return 1; }
  done
  scram_marker >"$DIR/data/.scram-user"
}

# Serialises concurrent start/stop calls (e.g. parallel test packages).
lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

format_storage() {
  say "formatting storage in $DIR/data"
  local id cp="$LIBS/*"
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid | tail -n 1)
  java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" >&2
  scram_marker >"$DIR/data/.scram-user"
}

launch() {
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT, SASL_SSL on 127.0.0.1:$SPORT (logs: $LOG)"
  # setsid: the broker must outlive this shell and its process group;
  # 9>&-: it must not inherit (and so hold) our lock.
  setsid nohup java -Xms256m -Xmx512m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "$!"
}

# Ends our broker, gracefully if it will.
stop_pid() {
  local pid=$1
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

start() {
  lock
  ensure_certs
  # The command-line tools log warnings to stderr, not into the broker's log.
  mkdir -p "$DIR"
  printf '%s\n' "appender.err.type = Console" "appender.err.name = err" "appender.err.target = SYSTEM_ERR" \
    "appender.err.layout.type = PatternLayout" "appender.err.layout.pattern = %p %m%n" \
    "rootLogger.level = WARN" "rootLogger.appenderRef.err.ref = err" >"$DIR/log4j2-tools.properties"
  local pid
  if pid=$(our_pid); then
    if [[ "$(config_text)" == "$(cat "$DIR/server.properties" 2>/dev/null)" ]]; then
      # Running, or still starting from another call.
      wait_ready "$pid" && fetch && ensure_user
      return
    fi
    # A broker from before a change here (e.g. one without the SASL_SSL
    # listener) would fail the tests of what changed: restart it.
    say "the running broker's configuration is not this script's; restarting it"
    stop_pid "$pid"
  fi
  if port_open; then
    say "something already listens on 127.0.0.1:$PORT; using it"
    port_open "$SPORT" ||
      say "WARNING: nothing listens on 127.0.0.1:$SPORT: the SASL_SSL tests will fail; stop that broker or set TAKEDOWN_TEST_KAFKA_PORT"
    echo "127.0.0.1:$PORT"; return 0
  fi
  fetch
  write_config
  if [[ "${TAKEDOWN_TEST_KAFKA_FRESH:-0}" == 1 && -d "$DIR/data" ]]; then
    # Every test run makes topics of its own and never deletes them: a broker
    # that kept them all would hold thousands of partitions after a few runs,
    # and its metadata answers would slow to the tests' timeouts.
    say "starting from empty storage (TAKEDOWN_TEST_KAFKA_FRESH=1)"
    rm -rf "$DIR/data"
  fi
  [[ -f "$DIR/data/meta.properties" ]] || format_storage
  if ! launch; then
    # The data is throwaway: storage left by a killed broker, or formatted by
    # another Kafka version, must not fail the run. Start once more from empty.
    if pid=$(our_pid); then kill -KILL "$pid" 2>/dev/null || true; fi
    say "starting again with empty storage"
    rm -rf "$DIR/data"
    format_storage
    launch
  fi
  ensure_user
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
  echo "export TAKEDOWN_TEST_KAFKA_BROKERS=127.0.0.1:$PORT"
  echo "export TAKEDOWN_TEST_KAFKA_SASL_BROKERS=127.0.0.1:$SPORT"
  printf 'export TAKEDOWN_TEST_KAFKA_CA=%q\n' "$TLS/ca.pem"
  printf 'export TAKEDOWN_TEST_KAFKA_SASL_USERNAME=%q\n' "$SASL_USER"
  printf 'export TAKEDOWN_TEST_KAFKA_SASL_PASSWORD=%q\n' "$SASL_PASSWORD"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status)
    if ! port_open; then say "down"; exit 1; fi
    if port_open "$SPORT"; then say "up on 127.0.0.1:$PORT, SASL_SSL on 127.0.0.1:$SPORT"
    else say "up on 127.0.0.1:$PORT, but no SASL_SSL listener on 127.0.0.1:$SPORT (scripts/kafka.sh start restarts it)"; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 fetch|start|stop|status|env" >&2; exit 2 ;;
esac
