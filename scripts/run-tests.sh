#!/usr/bin/env bash
# Runs every jest test and prints, as its last line, `tests: N passed, M failed` taken from
# jest's JSON report. Exits non-zero when M > 0, N = 0, or jest could not run a suite.
set -uo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export PORTICO_LOG_LEVEL="${PORTICO_LOG_LEVEL:-warn}"
report=.jest-results.json
rm -f "$report"
# --forceExit: a leaked handle must not keep CI waiting after the last test; the outer timeout
# bounds a run that hangs anyway (it then reports what jest wrote, or 0 passed).
# Every log line of the run is captured (jest's output here, workers' and child processes' logs
# by the jest hooks in packages/testkit/src/log-capture*.ts) and scanned afterwards for every
# secret value the tests registered; a leak counts as a failure. PORTICO_KEEP_LOG_CAPTURE=1 keeps it.
capture="$(mktemp -d "${TMPDIR:-/tmp}/portico-log-capture.XXXXXX")"
export PORTICO_LOG_CAPTURE_DIR="$capture"
{ { timeout --kill-after=30 1200 npx jest --forceExit --json --outputFile="$report" "$@"; echo $? >"$capture/jest.rc"; } \
    2>&1 1>&3 3>&- | tee "$capture/jest-stderr.log" >&2; } 3>&1 | tee "$capture/jest-stdout.log"
jest_rc=$(cat "$capture/jest.rc" 2>/dev/null || echo 1)
leaks=0
TS_NODE_PROJECT=tsconfig.test.json node -r ts-node/register/transpile-only packages/testkit/src/log-scan.ts "$capture"
if ! leaks=$(node -e 'console.log(require(process.argv[1]).leaks)' "$capture/scan.json" 2>/dev/null); then
  echo "log scan: could not run; counted as a failure" >&2
  leaks=1
fi
if [ "$leaks" = 0 ] && [ -z "${PORTICO_KEEP_LOG_CAPTURE:-}" ]; then rm -rf "$capture"; else echo "log captures kept in $capture" >&2; fi
if [ ! -f "$report" ]; then
  echo "tests: 0 passed, 0 failed"
  echo "jest wrote no report (exit $jest_rc)" >&2
  exit 1
fi
node -e '
const r = require(process.argv[1]);
const passed = r.numPassedTests;
// A suite that fails to load has no failed tests of its own; count it so it cannot pass silently.
// A secret value found in the logs of the run (log scan above) counts as a failure too.
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites + Number(process.argv[2]);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
' "$PWD/$report" "$leaks"
rc=$?
[ $rc -eq 0 ] && [ $jest_rc -ne 0 ] && rc=$jest_rc
exit $rc
