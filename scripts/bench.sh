#!/usr/bin/env bash
# Runs every benchmark (bench/*.bench.ts, or the ones named as arguments) against the built
# packages. Benchmarks print their figures and ratios against a baseline measured in the same
# run, and write results under bench/results/. Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export PORTICO_LOG_LEVEL="${PORTICO_LOG_LEVEL:-warn}"
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(bench/*.bench.ts)
for f in "${files[@]}"; do
  echo "== $f"
  node --expose-gc -r ts-node/register/transpile-only "$f"
done
