#!/usr/bin/env bash
# API fuzzing with schemathesis against the service's own OpenAPI document:
# no 5xx, every response matches its schema, status codes and headers as documented.
# Runs the built service on a throw-away SQLite file, paused, with the webhook on a
# closed loopback port, so nothing leaves the machine.
#
# Excluded checks, on purpose:
#   positive_data_acceptance  opaque cursors and reused Idempotency-Keys are schema-valid yet rightly refused
#   use_after_free            DELETE cancels a message; it stays readable as `cancelled` by design
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${FUZZ_EXAMPLES:-100}
PORT=${FUZZ_PORT:-38111}

# schemathesis in a virtual environment of its own: Debian's Python is "externally managed" and
# refuses `pip install` into the system (PEP 668), as root too. Idempotent: an existing venv with
# the pinned version is used as it is.
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/message-scheduler/venv
ST=$VENV/bin/st
if ! "$ST" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

dir=$(mktemp -d)
# an API key with every scope: operations are fuzzed as a client with credentials, and
# schemathesis' ignored_auth check sends them without, expecting 401
key=$(SQLITE_PATH="$dir/messages.db" MONGODB_URI= DATABASE_URL= LOG_LEVEL=error \
  node dist/src/cli/main.js keys create --name fuzz --scopes messages:read,messages:write,pool:control,metrics:read,admin | head -1)
SQLITE_PATH="$dir/messages.db" PORT=$PORT API_RATE_LIMITER_ENABLED=false HOST=127.0.0.1 WEBHOOK_URL=http://127.0.0.1:9/fuzz \
  POOL_INITIAL_JOB_FETCH=false LOG_LEVEL=error MONGODB_URI= DATABASE_URL= REDIS_URI= \
  node dist/src/cli/main.js serve >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
"$ST" run "http://127.0.0.1:$PORT/swagger/json" -H "Authorization: Bearer $key" --max-examples "$EXAMPLES" --checks all \
  --exclude-checks positive_data_acceptance,use_after_free --generation-deterministic
