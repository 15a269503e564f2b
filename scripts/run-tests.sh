#!/usr/bin/env bash
# Runs the jest tests and prints, as its last line, `tests: N passed, M failed`, summed over
# every run below. Exits non-zero when M > 0, N = 0, or jest could not run a suite.
#   scripts/run-tests.sh               every suite on the node on PATH (make test: Node.js 24),
#                                      then the proxy and cli suites again on Node.js 22 and on
#                                      each fallback of the HTTP stack (runs named below)
#   scripts/run-tests.sh [jest args]   one run of jest with those arguments (e.g. one suite)
# PORTICO_TEST_RUNS picks runs by name instead, e.g. PORTICO_TEST_RUNS="main undici-client".
set -uo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export PORTICO_LOG_LEVEL="${PORTICO_LOG_LEVEL:-warn}"

# The suites that go through the proxy's server and upstream client, and the CLI's end-to-end
# suites (separate Portico processes): what the runtime and the HTTP fallbacks can change.
AGAIN_SUITES=(packages/gateway/test/proxy.test.ts packages/gateway/test/upstream-tls.test.ts
  packages/gateway/test/websocket.test.ts packages/cli/test)
# CLI suites that neither the runtime's HTTP stack nor a fallback changes, and that wait on
# wall-clock quiet (idle GC): run once, in the main run, not four times.
AGAIN_SKIP='idle-gc-process|ipc-link|v8-flags'
# Each run: name, then `node` (the one on PATH) or a Node.js major to run on, then
# VAR=value settings (or -). Test files read the fallback settings to skip the few cases
# where a fallback deliberately behaves differently (see docs/http.md, "Fallbacks").
RUN_DEFS=(
  "node22 22 -"                                       # Node.js 22, the previous LTS
  "node-http-server node PORTICO_HTTP_SERVER=node"    # node:http's server instead of the own one
  "undici-client node PORTICO_UPSTREAM_CLIENT=undici" # undici instead of the own upstream client
)
if [ -n "${PORTICO_TEST_RUNS:-}" ]; then runs=($PORTICO_TEST_RUNS)
elif [ $# -gt 0 ]; then runs=(main)
else runs=(main node22 node-http-server undici-client); fi

rm -f .jest-results*.json
# --forceExit: a leaked handle must not keep CI waiting after the last test; the outer timeout
# bounds a run that hangs anyway (it then reports what jest wrote, or 0 passed).
# Every log line of every run is captured (jest's output here, workers' and child processes'
# logs by the jest hooks in packages/testkit/src/log-capture*.ts) into one directory, scanned
# afterwards for every secret value the tests registered; a leak counts as a failure.
# PORTICO_KEEP_LOG_CAPTURE=1 keeps it.
capture="$(mktemp -d "${TMPDIR:-/tmp}/portico-log-capture.XXXXXX")"
export PORTICO_LOG_CAPTURE_DIR="$capture"

# The node binary for a run: the one on PATH, or .tools/node<major> (scripts/install-deps.sh
# --test), or the one on PATH if it is that major.
node_for() {
  if [ "$1" = node ]; then command -v node; return; fi
  if [ -x ".tools/node$1/bin/node" ]; then echo "$PWD/.tools/node$1/bin/node"; return; fi
  if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$1" ]; then command -v node; return; fi
  return 1
}

# run_jest NAME NODE REPORT [VAR=value ...] -- [jest args]
run_jest() {
  local name=$1 node=$2 report=$3; shift 3
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  { { env "${envs[@]}" PATH="$(dirname "$node"):$PATH" timeout --kill-after=30 1200 \
        "$node" node_modules/jest/bin/jest.js --forceExit --json --outputFile="$report" "$@"
      echo $? >"$capture/jest-$name.rc"; } \
      2>&1 1>&3 3>&- | tee "$capture/jest-$name-stderr.log" >&2; } 3>&1 | tee "$capture/jest-$name-stdout.log"
}

reports=()
for name in "${runs[@]}"; do
  if [ "$name" = main ]; then
    report=.jest-results.json
    echo "== run main: $(node --version), all suites${*:+ ($*)}"
    run_jest main "$(command -v node)" "$report" -- "$@"
    reports+=("main=$PWD/$report")
    continue
  fi
  def=""
  for d in "${RUN_DEFS[@]}"; do [ "${d%% *}" = "$name" ] && def=$d; done
  if [ -z "$def" ]; then echo "run-tests: unknown run '$name'" >&2; reports+=("$name=missing"); continue; fi
  read -r _ major setting _ <<<"$def"
  envs=()
  [ "$setting" != - ] && envs+=("$setting")
  if ! node=$(node_for "$major"); then
    echo "run-tests: run $name needs Node.js $major: scripts/install-deps.sh --test installs it into .tools/node$major" >&2
    reports+=("$name=missing")
    continue
  fi
  report=".jest-results-$name.json"
  echo "== run $name: $("$node" --version)${envs[*]:+, ${envs[*]}}, ${AGAIN_SUITES[*]}"
  run_jest "$name" "$node" "$report" "${envs[@]}" -- --testPathIgnorePatterns "$AGAIN_SKIP" -- "${AGAIN_SUITES[@]}"
  reports+=("$name=$PWD/$report")
done

leaks=0
TS_NODE_PROJECT=tsconfig.test.json node -r ts-node/register/transpile-only packages/testkit/src/log-scan.ts "$capture"
if ! leaks=$(node -e 'console.log(require(process.argv[1]).leaks)' "$capture/scan.json" 2>/dev/null); then
  echo "log scan: could not run; counted as a failure" >&2
  leaks=1
fi
jest_rc=0
for f in "$capture"/jest-*.rc; do [ -f "$f" ] && [ "$(cat "$f")" != 0 ] && jest_rc=$(cat "$f"); done
if [ "$leaks" = 0 ] && [ -z "${PORTICO_KEEP_LOG_CAPTURE:-}" ]; then rm -rf "$capture"; else echo "log captures kept in $capture" >&2; fi
node -e '
const fs = require("node:fs");
let passed = 0;
// A secret value found in the logs of any run (log scan above) counts as a failure.
let failed = Number(process.argv[1]);
for (const arg of process.argv.slice(2)) {
  const [name, file] = arg.split("=");
  if (file === "missing" || !fs.existsSync(file)) {
    // A run that could not start, or a jest that wrote no report, cannot pass silently.
    console.log(`run ${name}: no report, counted as 1 failed`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  // A suite that fails to load has no failed tests of its own; count it too.
  const f = r.numFailedTests + r.numRuntimeErrorTestSuites;
  console.log(`run ${name}: ${r.numPassedTests} passed, ${f} failed, ${r.numPendingTests} skipped`);
  passed += r.numPassedTests;
  failed += f;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
' "$leaks" "${reports[@]}"
rc=$?
[ $rc -eq 0 ] && [ "$jest_rc" -ne 0 ] && rc=$jest_rc
exit $rc
