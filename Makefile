# Portico. `make run` and `make test` install what is missing first (see scripts/install-deps.sh).
.PHONY: run test build typecheck lint cycles format format-check deps test-deps clean bench fuzz cluster cluster-down deploy-check

CONFIG ?= config.yaml

# Node.js 24, which scripts/install-deps.sh puts in .tools/node24 when the machine's node is
# older, comes first on PATH for every recipe and the scripts they run.
export PATH := $(CURDIR)/.tools/node24/bin:$(PATH)

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	npx tsc -b
	npm run build --workspace packages/ui --silent

# Tests are transpiled by ts-jest without type checks; check them here instead.
typecheck: build
	npx tsc -p tsconfig.test.json

run: build
	node --max-semi-space-size=32 packages/cli/dist/main.js start -c $(CONFIG)

# ESLint with typescript-eslint (eslint.config.mjs) over every TypeScript file; errors fail.
lint: deps
	npx eslint .

# No runtime import cycles between modules (madge on the sources; type-only imports are left
# out by .madgerc, since they vanish at run time).
cycles: deps
	npx madge --circular --no-spinner packages/*/src

# Prettier (.prettierrc.json) over the TypeScript sources: format rewrites, format-check lists
# the files that differ.
format: deps
	npx prettier --write '**/*.ts'

format-check: deps
	npx prettier --check '**/*.ts'

# Every suite on Node.js 24, then the proxy and cli suites on Node.js 22 and on each HTTP
# fallback (scripts/run-tests.sh); the last line counts all of them.
test: test-deps typecheck lint cycles deploy-check
	@scripts/run-tests.sh

# Benchmarks (long; never part of make test). BENCH=bench/router.bench.ts runs one.
bench: build
	@scripts/bench.sh $(BENCH)

# The long differential fuzz of the HTTP server and upstream client against node:http and undici
# (PORTICO_FUZZ_MINUTES, default 10; seed printed). Finds are saved as regression cases.
fuzz: test-deps
	@scripts/fuzz.sh

clean:
	npx tsc -b --clean; rm -rf .jest-results*.json packages/ui/dist test-artifacts

# A local cluster on loopback: 3 etcd members, 1 control plane, 3 data planes, an echo
# upstream (the topology of deploy/docker-compose.yml). State and pid files: $TMPDIR/portico-cluster (default /tmp).
cluster: test-deps build
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

# Offline validation of deploy/ (compose config, kustomize render, Kubernetes schemas); part of make test.
deploy-check: build
	@scripts/deploy-check.sh
