#!/usr/bin/env bash
# Test/benchmark servers on 127.0.0.1: PostgreSQL, Redis and FerretDB v1 (a
# MongoDB-wire-compatible server on top of the same PostgreSQL); Debian's
# Chromium for the browser test, Prometheus for the metrics test and nginx for
# the proxy test (each test starts its own instance); and a
# Jaeger binary (built once from the Go module proxy) for the tracing test,
# which starts its own instance on loopback.
#
#   scripts/services.sh up      install what is missing, start what is not running
#   scripts/services.sh down    stop them
#   scripts/services.sh status  say what is running
#   scripts/services.sh env     print the environment variables the tests read
#   scripts/services.sh stop  postgres|redis|ferretdb   stop one (the fault-injection tests)
#   scripts/services.sh start postgres|redis|ferretdb   start one again
#
# MS_SERVICES_DIR and MS_PG_PORT/MS_REDIS_PORT/MS_MONGO_PORT select another set
# of servers: the fault-injection suite runs its own, so stopping them cannot
# disturb other tests.
#
# Idempotent: a machine that already has everything installed and running pays
# for a few port checks only. Data lives in $MS_SERVICES_DIR (default
# /var/tmp/message-scheduler-services); nothing listens beyond loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${MS_SERVICES_DIR:-/var/tmp/message-scheduler-services}
PG_PORT=${MS_PG_PORT:-54329}
REDIS_PORT=${MS_REDIS_PORT:-63799}
MONGO_PORT=${MS_MONGO_PORT:-27018}
CACHE_BIN=${XDG_CACHE_HOME:-$HOME/.cache}/message-scheduler/bin

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 i
  for i in $(seq 1 100); do
    port_open "$port" && return 0
    sleep 0.1
  done
  log "$name did not open port $port"; return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

install_packages() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  pg_bin >/dev/null || need+=(postgresql)
  # the browser test (Swagger UI under the CSP) drives Debian's Chromium through playwright-core
  command -v chromium >/dev/null || need+=(chromium)
  # the metrics end-to-end test scrapes the service with Debian's Prometheus (its own instance, on loopback)
  command -v prometheus >/dev/null || need+=(prometheus)
  # the proxy test puts a real nginx (its own instance, on loopback) in front of the service
  command -v nginx >/dev/null || need+=(nginx)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
    # the package may start a server on every interface: the tests run their own on loopback
    if [ -x /etc/init.d/prometheus ] && pgrep -x prometheus >/dev/null; then
      as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/nginx ] && [ -f /run/nginx.pid ]; then
      as_root /etc/init.d/nginx stop >/dev/null 2>&1 || true
    fi
  fi
}

start_postgres() {
  if port_open "$PG_PORT"; then return 0; fi
  local bin; bin=$(pg_bin)
  mkdir -p "$DIR"
  if [ ! -s "$DIR/pg/PG_VERSION" ]; then
    log "initialising PostgreSQL in $DIR/pg"
    mkdir -p "$DIR/pg"
    chown postgres:postgres "$DIR/pg" 2>/dev/null || true
    as_pg "$bin/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  # a server killed without a shutdown leaves postmaster.pid behind
  if [ -f "$DIR/pg/postmaster.pid" ]; then
    local pid; pid=$(head -n 1 "$DIR/pg/postmaster.pid")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null || rm -f "$DIR/pg/postmaster.pid"
  fi
  mkdir -p "$DIR/pg-sock"
  chown postgres:postgres "$DIR/pg-sock" 2>/dev/null || true
  # fast and not crash-safe for the unit tests; MS_PG_DURABLE=1 (the fault-injection suite's server
  # and the benchmarks') keeps PostgreSQL's defaults, so a killed server loses no acknowledged commit,
  # and loads pg_stat_statements, whose counts `bench --pg-costs` reads
  local speed="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${MS_PG_DURABLE:-0}" = 1 ] && speed="-c shared_preload_libraries=pg_stat_statements"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/server.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR/pg-sock -c max_connections=300 $speed" >/dev/null
  wait_port "$PG_PORT" PostgreSQL
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_redis() {
  if port_open "$REDIS_PORT"; then return 0; fi
  mkdir -p "$DIR/redis"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --dir "$DIR/redis" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
  wait_port "$REDIS_PORT" Redis
}

ferretdb_bin() {
  local sum
  sum=$(cat "$ROOT/tools/ferretdb/main.go" "$ROOT/tools/ferretdb/go.mod" "$ROOT/tools/ferretdb/go.sum" | sha256sum | cut -c1-12)
  echo "$CACHE_BIN/ferretdb-$sum"
}

build_ferretdb() {
  local bin; bin=$(ferretdb_bin)
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { log "Go is needed to build FerretDB (apt-get install golang or see go.dev)"; return 1; }
    log "building FerretDB v1 (first time only) into $bin"
    mkdir -p "$CACHE_BIN"
    (cd "$ROOT/tools/ferretdb" && GOFLAGS="-mod=mod -buildvcs=false" go build -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
  fi
  echo "$bin"
}

# Jaeger v2 (an OpenTelemetry Collector with an in-memory trace store and a
# query API): the tracing end-to-end test's OTLP receiver. `go install` refuses
# the module (it has replace directives), so it is built inside the downloaded
# module, once, into the cache; the test starts it with a loopback-only config.
JAEGER_VERSION=v1.76.0
jaeger_bin() { echo "$CACHE_BIN/jaeger-$JAEGER_VERSION"; }

build_jaeger() {
  local bin dir; bin=$(jaeger_bin)
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { log "Go is needed to build Jaeger (apt-get install golang or see go.dev)"; return 1; }
    log "building Jaeger $JAEGER_VERSION (first time only, a few minutes) into $bin"
    mkdir -p "$CACHE_BIN"
    dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$dir" ] || { log "could not download github.com/jaegertracing/jaeger@$JAEGER_VERSION"; return 1; }
    (cd "$dir" && GOFLAGS="-mod=mod -buildvcs=false" go build -o "$bin.tmp" ./cmd/jaeger && mv "$bin.tmp" "$bin")
  fi
  echo "$bin"
}

start_ferretdb() {
  if port_open "$MONGO_PORT"; then return 0; fi
  local bin; bin=$(build_ferretdb)
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='ferretdb'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE ferretdb" >/dev/null
  log "starting FerretDB on 127.0.0.1:$MONGO_PORT"
  nohup "$bin" -listen "127.0.0.1:$MONGO_PORT" -handler postgresql \
    -postgresql-url "postgres://postgres@127.0.0.1:$PG_PORT/ferretdb?pool_max_conns=200" \
    >"$DIR/ferretdb.log" 2>&1 &
  echo $! >"$DIR/ferretdb.pid"
  wait_port "$MONGO_PORT" FerretDB
}

print_env() {
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export REDIS_URI=redis://127.0.0.1:$REDIS_PORT"
  echo "export MONGODB_URI=mongodb://127.0.0.1:$MONGO_PORT/"
  [ -x "$(jaeger_bin)" ] && echo "export JAEGER_BIN=$(jaeger_bin)"
  return 0
}

stop_all() {
  if [ -f "$DIR/ferretdb.pid" ]; then kill "$(cat "$DIR/ferretdb.pid")" 2>/dev/null || true; rm -f "$DIR/ferretdb.pid"; fi
  if [ -f "$DIR/redis.pid" ]; then kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true; fi
  if [ -s "$DIR/pg/PG_VERSION" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; fi
  log "stopped"
}

stop_one() {
  case "$1" in
    postgres)
      # immediate: as abrupt as a crash (the restart runs recovery)
      as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true ;;
    redis)
      if [ -f "$DIR/redis.pid" ]; then kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true; fi ;;
    ferretdb)
      if [ -f "$DIR/ferretdb.pid" ]; then kill -9 "$(cat "$DIR/ferretdb.pid")" 2>/dev/null || true; rm -f "$DIR/ferretdb.pid"; fi ;;
    *) echo "usage: $0 stop postgres|redis|ferretdb" >&2; exit 2 ;;
  esac
  local port
  case "$1" in postgres) port=$PG_PORT ;; redis) port=$REDIS_PORT ;; ferretdb) port=$MONGO_PORT ;; esac
  for _ in $(seq 1 100); do port_open "$port" || return 0; sleep 0.1; done
  log "$1 still listens on $port"; return 1
}

start_one() {
  case "$1" in
    postgres) start_postgres ;;
    redis) start_redis ;;
    ferretdb) start_ferretdb ;;
    *) echo "usage: $0 start postgres|redis|ferretdb" >&2; exit 2 ;;
  esac
}

status() {
  local name port
  for pair in "PostgreSQL:$PG_PORT" "Redis:$REDIS_PORT" "FerretDB:$MONGO_PORT"; do
    name=${pair%%:*}; port=${pair##*:}
    if port_open "$port"; then echo "$name up on 127.0.0.1:$port"; else echo "$name down (port $port)"; fi
  done
}

case "${1:-up}" in
  up)
    install_packages
    start_postgres
    start_redis
    start_ferretdb
    build_jaeger >/dev/null
    status >&2
    ;;
  down) stop_all ;;
  status) status ;;
  env) print_env ;;
  stop) stop_one "${2:-}" ;;
  start) start_one "${2:-}" ;;
  *) echo "usage: $0 up|down|status|env|stop NAME|start NAME" >&2; exit 2 ;;
esac
