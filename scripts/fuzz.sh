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

if ! command -v st >/dev/null || ! st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
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
st run "http://127.0.0.1:$PORT/swagger/json" -H "Authorization: Bearer $key" --max-examples "$EXAMPLES" --checks all \
  --exclude-checks positive_data_acceptance,use_after_free --generation-deterministic
