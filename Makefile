# The original's targets, mapped onto this project.
.PHONY: install build run run-with-seed sink test tests lint services services-down openapi bench-smoke fuzz chaos

# V8 flags the service runs with (as the bin's shebang and the Dockerfile): docs/decisions.md, "Memory"
NODE_FLAGS = --max-semi-space-size=16

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

# built once per change: the stamp is newer than every TypeScript file the build compiles (tsc
# type-checks the tests and scripts too), its config and the installed packages
TS_SOURCES := $(shell find src bench test scripts -name '*.ts' -not -path '*/node_modules/*' 2>/dev/null)
# the dashboard (ui/): its TypeScript, styles and page, bundled into dist/ui by the same build
UI_SOURCES := $(shell find ui -type f 2>/dev/null)
dist/.built: $(TS_SOURCES) $(UI_SOURCES) tsconfig.json ui/tsconfig.json node_modules/.installed
	npm run build
	@touch $@

build: dist/.built

## run: install, build and start the service on the embedded SQLite store (./data/messages.db)
run: build
	node $(NODE_FLAGS) dist/src/cli/main.js serve

## run-with-seed: the same, seeding sample/seed.json first
run-with-seed: build
	node $(NODE_FLAGS) dist/src/cli/main.js serve --seed

## sink: a local webhook receiver on :4000 (point WEBHOOK_URL at http://127.0.0.1:4000/hook)
sink: build
	node dist/src/cli/main.js sink --port 4000

## services: install and start PostgreSQL, Redis and FerretDB on 127.0.0.1 (idempotent)
services:
	scripts/services.sh up

services-down:
	scripts/services.sh down

## test: everything CI runs: type-check, lint, OpenAPI drift and lint (redocly), and the whole suite on every backend
# every step runs even when one before it failed (a red chaos suite still shows what npm test says);
# the target fails at the end, naming the steps that failed
TEST_STEPS = "npm run lint" "npm run docs:check" "npm run lint:openapi" "$(MAKE) bench-smoke" \
	"$(MAKE) fuzz" "$(MAKE) chaos" 'eval "$$(scripts/services.sh env)" && REQUIRE_SERVICES=1 npm test'
test: build services
	@failed=""; for step in $(TEST_STEPS); do \
	  echo "=== $$step"; sh -c "$$step" || failed="$$failed\n  $$step"; \
	done; \
	if [ -n "$$failed" ]; then printf "make test: these steps failed:$$failed\n"; exit 1; fi; \
	echo "make test: every step passed"

## chaos: the fault-injection suite (kills, outages, a bad receiver, a full disk) on its own servers
chaos: install
	npm run test:chaos

## fuzz: schemathesis against /swagger/json (no 5xx, responses match their schemas)
fuzz: build
	scripts/fuzz.sh

## bench-smoke: the benchmark end to end on a small n, so it keeps working (figures: npm run bench)
bench-smoke: build
	node dist/src/cli/main.js bench --n 500 --stores sqlite --no-redis --no-accuracy --no-growth --no-api

tests: test

openapi: install
	npm run openapi
