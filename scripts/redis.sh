#!/usr/bin/env bash
# Private Redis for the test suite (not the system service).
# Usage: scripts/redis.sh start|stop|status|env
#
# One redis-server, two loopback ports:
#   - plaintext on $TAKEDOWN_TEST_REDIS_PORT (16379), default user, no password;
#   - TLS on $TAKEDOWN_TEST_REDIS_TLS_PORT (16380), certificates made here with
#     openssl (a test CA, a server certificate for IP:127.0.0.1 and
#     DNS:localhost, and a client certificate), client certificates optional.
# Both ports also know the ACL user $TAKEDOWN_TEST_REDIS_USERNAME (takedown)
# whose password is generated once into $DIR/tls/password.
# A server started by an older version of this script (no TLS port, no ACL
# user, other certificates) is restarted with the current configuration.
set -euo pipefail

PORT="${TAKEDOWN_TEST_REDIS_PORT:-16379}"
TLS_PORT="${TAKEDOWN_TEST_REDIS_TLS_PORT:-16380}"
USERNAME="${TAKEDOWN_TEST_REDIS_USERNAME:-takedown}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/redis"
TLS="$DIR/tls"

say() { echo "redis: $*" >&2; }
up() { command -v redis-cli >/dev/null && [[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

install() {
  if ! { command -v redis-server && command -v redis-cli && command -v openssl; } >/dev/null; then
    say "installing redis-server and openssl with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends redis-server redis-tools openssl >&2
  fi
}

# tls_support: the build speaks TLS (Debian's is linked with OpenSSL; a
# build without BUILD_TLS has no OpenSSL symbol at all).
tls_support() { grep -q SSL_CTX_new "$(command -v redis-server)"; }

password() { cat "$TLS/password"; }

# certs makes the test CA, server and client certificates once, and again
# when they expire within a day. It prints "new" when it made them.
certs() {
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  if [[ ! -s "$TLS/password" ]]; then
    (umask 077; openssl rand -hex 24 >"$TLS/password")
  fi
  if [[ -s "$TLS/ca.crt" && -s "$TLS/server.crt" && -s "$TLS/client.crt" ]] &&
    openssl x509 -checkend 86400 -noout -in "$TLS/server.crt" >/dev/null 2>&1 &&
    openssl x509 -checkend 86400 -noout -in "$TLS/ca.crt" >/dev/null 2>&1; then
    return 0
  fi
  say "making test certificates in $TLS"
  (
    set -e
    cd "$TLS"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
      -keyout ca.key -out ca.crt -subj "/CN=takedown test Redis CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    for who in server client; do
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$who.key" -out "$who.csr" \
        -subj "/CN=takedown test Redis $who" 2>/dev/null
    done
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    for who in server client; do
      openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 3650 -sha256 -extfile "$who.ext" -out "$who.crt" 2>/dev/null
    done
    rm -f ./*.csr ./*.ext ca.srl
    # Public halves readable by the test user, whoever it is.
    chmod 644 ca.crt server.crt client.crt
    chmod 600 ca.key server.key client.key
  )
  echo new
}

# current: the running server has the TLS port, the ACL user with today's
# password, and trusts today's CA (a TLS PING with it succeeds).
current() {
  [[ "$(redis-cli -p "$PORT" --user "$USERNAME" --pass "$(password)" --no-auth-warning ping 2>/dev/null)" == PONG ]] &&
    [[ "$(redis-cli -p "$TLS_PORT" --tls --cacert "$TLS/ca.crt" ping 2>/dev/null)" == PONG ]]
}

# Serialises concurrent start/stop calls (e.g. parallel test packages).
lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

shutdown_server() {
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 50); do up || return 0; sleep 0.1; done
}

start() {
  lock
  install
  if ! tls_support; then
    say "this redis-server ($(redis-server --version)) is built without TLS; install Debian's redis-server package"
    return 1
  fi
  local made
  made="$(certs)"
  if up; then
    if [[ -z "$made" ]] && current; then
      say "already up on 127.0.0.1:$PORT (TLS on 127.0.0.1:$TLS_PORT)"
      echo "127.0.0.1:$PORT"
      return 0
    fi
    # Started before the TLS port and the ACL user existed, or with other
    # certificates: one quick restart. Tests using the plaintext port retry.
    say "restarting 127.0.0.1:$PORT with the TLS port and the ACL user"
    shutdown_server
  fi
  mkdir -p "$DIR"
  # The configuration file holds the test password: readable by us only.
  (
    umask 077
    cat >"$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $PORT
tls-port $TLS_PORT
tls-cert-file $TLS/server.crt
tls-key-file $TLS/server.key
tls-ca-cert-file $TLS/ca.crt
tls-auth-clients optional
daemonize yes
dir $DIR
pidfile $DIR/redis.pid
logfile $DIR/redis.log
save ""
appendonly no
user default on nopass ~* &* +@all
user $USERNAME on >$(password) ~* &* +@all
EOF
  )
  say "starting on 127.0.0.1:$PORT, TLS on 127.0.0.1:$TLS_PORT (logs: $DIR/redis.log)"
  # Throwaway data: no RDB snapshots, no AOF. 9>&-: keep our lock out of the daemon.
  redis-server "$DIR/redis.conf" 9>&-
  for _ in $(seq 50); do
    if up && current; then echo "127.0.0.1:$PORT"; return 0; fi
    sleep 0.2
  done
  say "redis did not answer PING on both ports; last lines of $DIR/redis.log:"
  tail -n 50 "$DIR/redis.log" >&2 || true
  return 1
}

stop() {
  lock
  if up; then
    say "stopping 127.0.0.1:$PORT"
    shutdown_server
  else
    say "not running"
  fi
  rm -f "$DIR/redis.pid"
}

# env prints the exports of the running server for eval.
env_exports() {
  echo "export TAKEDOWN_TEST_REDIS_ADDR=127.0.0.1:$PORT"
  echo "export TAKEDOWN_TEST_REDIS_TLS_ADDR=127.0.0.1:$TLS_PORT"
  echo "export TAKEDOWN_TEST_REDIS_CA=$TLS/ca.crt"
  echo "export TAKEDOWN_TEST_REDIS_CLIENT_CERT=$TLS/client.crt"
  echo "export TAKEDOWN_TEST_REDIS_CLIENT_KEY=$TLS/client.key"
  echo "export TAKEDOWN_TEST_REDIS_USERNAME=$USERNAME"
  echo "export TAKEDOWN_TEST_REDIS_PASSWORD=$(password)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if up; then say "up on 127.0.0.1:$PORT"; else say "down"; exit 1; fi ;;
  env) env_exports ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
