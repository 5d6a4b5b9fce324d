#!/usr/bin/env bash
# Services of the PostgreSQL + Redis test profile: PostgreSQL 15 and Redis from Debian packages,
# installed when missing, started, given the portal role and database, and waited for.
# Idempotent: on a machine where they already run it only checks them. Needs root (CI runs as root).
#
# What `make test-pg` then uses (the same defaults as the Makefile):
#   DATABASE_URL=postgres://portal:portal@127.0.0.1:5432/portal   (the role may CREATEDB: the suite
#                                                                 creates test_portal_<run> itself)
#   REDIS_URL=redis://127.0.0.1:6379/0
set -euo pipefail

PG_VERSION=15
PG_PORT=5432
PG_ROLE=portal
PG_PASSWORD=portal
PG_DB=portal
REDIS_PORT=6379
WAIT_SECONDS=60

log() { echo "services: $*" >&2; }

as_postgres() { runuser -u postgres -- "$@"; }

install_missing() {
  local packages=()
  [ -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ] || packages+=("postgresql-$PG_VERSION")
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
  [ ${#packages[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${packages[*]}: install them (apt-get, as root) or run as root on Debian"
    exit 1
  fi
  log "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # A container has no init system: forbid the packages' postinst from starting services, this
  # script starts them below (and a failing start would fail the install).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  [ "$created_policy" -eq 1 ] && rm -f "$policy"
  return 0
}

start_postgresql() {
  # postgresql-common creates the "main" cluster on install unless told not to.
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -qx "$PG_VERSION main"; then
    log "creating cluster $PG_VERSION/main"
    pg_createcluster "$PG_VERSION" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster "$PG_VERSION" main start
  fi
  local port
  port=$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {print $3}')
  [ "$port" = "$PG_PORT" ] || { log "PostgreSQL $PG_VERSION/main listens on $port, not $PG_PORT"; exit 1; }
  wait_for "PostgreSQL" pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
  # Role and database only when absent (psql's \gexec runs the generated statement, if any);
  # the password is (re)set each time so a role created by hand still matches DATABASE_URL.
  as_postgres psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1 -v role="$PG_ROLE" -v pw="$PG_PASSWORD" -v db="$PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')\gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
  PGPASSWORD="$PG_PASSWORD" wait_for "PostgreSQL login as $PG_ROLE" \
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" -c "SELECT 1"
}

start_redis() {
  if [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" != PONG ]; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    # Test data only: no snapshots, no append-only file.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" --appendonly no \
      --logfile /tmp/portal-ci-redis.log
  fi
  wait_for "Redis" sh -c "[ \"\$(redis-cli -p $REDIS_PORT ping 2>/dev/null)\" = PONG ]"
}

wait_for() {
  local name=$1 deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name did not answer within ${WAIT_SECONDS}s"
      "$@" || true
      exit 1
    fi
    sleep 1
  done
}

install_missing
start_postgresql
start_redis
log "PostgreSQL $PG_VERSION and Redis are up"
