#!/usr/bin/env bash
# The long differential fuzz of the HTTP stack (packages/http1/test/fuzz/fuzz-main.ts):
# PORTICO_FUZZ_MINUTES (default 10), PORTICO_FUZZ_SEED (default: from the clock, printed).
# What it finds is shrunk and saved to packages/http1/test/fuzz/regression-cases.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export TS_NODE_PROJECT=tsconfig.test.json
exec node -r ts-node/register/transpile-only packages/http1/test/fuzz/fuzz-main.ts
